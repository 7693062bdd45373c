//! Reading a piece (conformed clip or transition) as closed GOPs: the unit the live
//! stream is built from, since every GOP starts on an IDR frame and can be joined to
//! any other GOP of the same profile by packet copy.

use crate::error::RenderError;
use crate::smart::pieces::for_packets;
use ffmpeg_next::Packet;
use std::path::Path;

/// One closed GOP: its packets in order (no B-frames: one packet per frame), and the
/// frame index in its piece where it starts.
pub struct Gop {
    pub start: u64,
    pub packets: Vec<Packet>,
}

impl Gop {
    pub fn frames(&self) -> u64 {
        self.packets.len() as u64
    }
}

/// Calls `each` for every GOP of frames `from..to` of the piece at `path` (`from`
/// must be an IDR frame), in order; a GOP is handed over when the next one starts or
/// the range ends, so one GOP is in memory at a time. Returns the frames read.
pub fn read_gops(
    path: &Path,
    from: u64,
    to: u64,
    mut each: impl FnMut(Gop) -> Result<(), RenderError>,
) -> Result<u64, RenderError> {
    let mut current: Option<Gop> = None;
    let read = for_packets(path, from, to, |i, packet| {
        if packet.is_key() {
            if let Some(done) = current.take() {
                each(done)?;
            }
        }
        current
            .get_or_insert_with(|| Gop {
                start: i,
                packets: Vec::new(),
            })
            .packets
            .push(packet);
        Ok(())
    })?;
    if let Some(done) = current {
        each(done)?;
    }
    Ok(read)
}
