//! Small frame operations the safe wrapper lacks: copy-on-write, and a pool that
//! recycles output-sized frames so the steady state allocates nothing.

use ff::format::Pixel;
use ff::frame::Video;
use ffmpeg_next as ff;
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};

/// Frames the pool keeps for reuse; returns beyond this are freed, so a stage that
/// never takes from the pool (no scaling needed) cannot make it grow.
const POOL_CAPACITY: usize = 4;

/// Makes `frame`'s buffers exclusively ours (copying them only if someone else, such
/// as a decoder keeping a reference picture or an encoder, still holds them), so that
/// writing into it cannot corrupt another frame.
pub fn make_writable(frame: &mut Video) -> Result<(), ff::Error> {
    // SAFETY: the pointer is a valid AVFrame owned by `frame`.
    let ret = unsafe { ff::ffi::av_frame_make_writable(frame.as_mut_ptr()) };
    if ret < 0 {
        Err(ff::Error::from(ret))
    } else {
        Ok(())
    }
}

/// Copies picture data between frames of the same format and size.
pub fn copy_picture(dst: &mut Video, src: &Video) -> Result<(), ff::Error> {
    // SAFETY: both are valid AVFrames; av_frame_copy checks format and size.
    let ret = unsafe { ff::ffi::av_frame_copy(dst.as_mut_ptr(), src.as_ptr()) };
    if ret < 0 {
        Err(ff::Error::from(ret))
    } else {
        Ok(())
    }
}

/// Frames of one format and size, handed back by later stages once encoded.
pub struct FramePool {
    format: Pixel,
    width: u32,
    height: u32,
    returned: Receiver<Video>,
    allocated: usize,
}

impl FramePool {
    /// Returns the pool and the handle later stages give frames back through.
    pub fn new(format: Pixel, width: u32, height: u32) -> (Self, PoolReturn) {
        let (tx, rx) = sync_channel(POOL_CAPACITY);
        (
            FramePool {
                format,
                width,
                height,
                returned: rx,
                allocated: 0,
            },
            PoolReturn(tx),
        )
    }

    /// A writable frame: a recycled one when any came back, else a new one.
    pub fn take(&mut self) -> Result<Video, ff::Error> {
        while let Ok(mut frame) = self.returned.try_recv() {
            if frame.format() == self.format
                && frame.width() == self.width
                && frame.height() == self.height
            {
                make_writable(&mut frame)?;
                return Ok(frame);
            }
        }
        self.allocated += 1;
        Ok(Video::new(self.format, self.width, self.height))
    }

    /// How many frames were ever allocated: stays flat in steady state.
    pub fn allocated(&self) -> usize {
        self.allocated
    }
}

/// Hands frames back to a [`FramePool`]; never blocks, frees what the pool cannot hold.
#[derive(Clone)]
pub struct PoolReturn(SyncSender<Video>);

impl PoolReturn {
    pub fn give(&self, frame: Video) {
        let _ = self.0.try_send(frame);
    }
}
