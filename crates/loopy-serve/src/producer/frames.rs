//! Sending frames out: each GOP frame by frame, each frame when it falls due (one
//! segment before its media time, handling commands while it waits), into the HLS
//! muxers, then to the preview and the push, with the sound following.

use super::{Cut, Live};
use ffmpeg_next as ff;
use loopy_media::live::Gop;
use loopy_media::RenderError;
use std::sync::atomic::Ordering;
use std::sync::mpsc::RecvTimeoutError;
use std::time::Instant;

impl Live {
    /// Sends `gop` out frame by frame, each when it falls due. With `cuttable`, stops
    /// before the first frame at which a cut is pending (or the stream stops) and
    /// returns that frame's index in the GOP.
    pub(super) fn play_gop(
        &mut self,
        gop: Gop,
        cuttable: bool,
    ) -> Result<Option<u64>, RenderError> {
        let frames = gop.frames();
        for (i, packet) in gop.packets.into_iter().enumerate() {
            self.wait_for(self.segmenter.next_frame());
            if self.stopped() || (cuttable && self.pending_cut != Cut::None) {
                return Ok(Some(i as u64));
            }
            if i == 0 {
                if let Some(segment) = self.segmenter.begin_gop(frames)? {
                    self.publish(segment);
                    // `--stop-after` ends the stream on this segment boundary.
                    if self.stopped() {
                        return Ok(Some(0));
                    }
                }
            }
            let packet = self.segmenter.push_frame(packet)?;
            self.fan_out(&packet, i == 0)?;
        }
        Ok(None)
    }

    /// Waits, handling commands, until `frame` is due to be made (one segment before
    /// its media time); unpaced, only handles what commands are waiting.
    fn wait_for(&mut self, frame: u64) {
        let due = self.clock.due(frame);
        let start = due.checked_sub(self.lead).unwrap_or(due);
        if self.paced {
            while !self.stopped() {
                let now = Instant::now();
                if now >= start {
                    break;
                }
                match self.commands.recv_timeout(start - now) {
                    Ok(request) => self.handle(request),
                    Err(RecvTimeoutError::Timeout) => {}
                    // Nobody can send commands any more: just wait.
                    Err(RecvTimeoutError::Disconnected) => std::thread::sleep(start - now),
                }
            }
        }
        self.poll_commands();
        // How far ahead of its schedule the stream is (about 0 paced, below 0 late).
        let now = Instant::now();
        let ahead = start.saturating_duration_since(now).as_secs_f64()
            - now.saturating_duration_since(start).as_secs_f64();
        self.shared
            .counters
            .drift_micros
            .store((ahead * 1e6) as i64, Ordering::Relaxed);
    }

    /// A frame just muxed into the HLS variants goes to the preview and the push, and
    /// the sound follows it.
    fn fan_out(&mut self, packet: &ff::Packet, key: bool) -> Result<(), RenderError> {
        if let Some(pusher) = &self.pusher {
            pusher.offer(packet);
        }
        let fragment = self.preview.fragment(packet)?;
        self.shared.preview.publish(fragment, key);
        if let Some((audio, time_base)) = self.audio.as_mut() {
            // The sound up to the end of this frame, on the same clock.
            let played = self.segmenter.next_frame() - self.first_frame;
            let fps = self.profile.fps;
            let segmenter = &mut self.segmenter;
            let pusher = self.pusher.as_ref();
            let time_base = *time_base;
            audio.advance_to(played * fps.den(), fps.num(), &mut |packet| {
                if let Some(pusher) = pusher {
                    pusher.offer_audio(packet);
                }
                segmenter.push_audio(packet, time_base)
            })?;
        }
        Ok(())
    }
}
