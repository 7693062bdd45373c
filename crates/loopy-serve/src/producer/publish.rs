//! Publishing: a finished segment goes into the HLS window, the recording, the
//! restart state and the counters; clip changes inside it become its
//! `EXT-X-DATERANGE`s.

use super::Live;
use crate::hls::{ClipChange, HlsSegment};
use crate::resume::Resume;
use crate::state::Counters;
use loopy_media::live::Segment;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

impl Live {
    /// Puts `segment` in the window (made as its start fell due: the producer runs
    /// one segment ahead), the recording and the restart state.
    pub(super) fn publish(&mut self, segment: Segment) {
        let fps = self.profile.fps;
        let start =
            Duration::from_secs_f64((segment.first_frame - self.first_frame) as f64 / fps.as_f64());
        let end = segment.first_frame + segment.frames;
        let (segment_frames, segment_bytes) = (segment.frames, segment.ts.len());
        let (inside, later): (Vec<ClipChange>, Vec<ClipChange>) =
            self.changes.drain(..).partition(|c| c.frame < end);
        self.changes = later;
        let shared = &self.shared;
        let hls = HlsSegment {
            sequence: self.sequence,
            first_frame: segment.first_frame,
            frames: segment.frames,
            ts: segment.ts.into(),
            mp4: segment.mp4.into(),
            date: shared.started_wall + start,
            changes: inside,
            discontinuity: self.runs > 0 && segment.first_frame == self.first_frame,
        };
        self.sequence += 1;
        if let Some(recorder) = self.recorder.as_mut() {
            if let Err(e) = recorder.add(&hls) {
                Counters::add(&shared.counters.errors, 1);
                tracing::error!("--record: {e}");
            }
        }
        if let Ok(mut window) = shared.window.write() {
            window.push(hls);
        }
        let state = Resume {
            next_sequence: self.sequence,
            next_time_s: end as f64 / fps.as_f64(),
            runs: self.runs + 1,
        };
        if let Err(e) = crate::resume::save(&self.root, &state) {
            tracing::warn!("cannot save the stream's state for a restart: {e}");
        }
        if self
            .stop_after_frames
            .is_some_and(|limit| end - self.first_frame >= limit)
        {
            self.stop.store(true, Ordering::SeqCst);
        }
        let counters = &shared.counters;
        Counters::add(&counters.segments, 1);
        let seconds = (segment_frames as f64 / fps.as_f64()).max(1e-3);
        counters.bitrate.store(
            (segment_bytes as f64 * 8.0 / seconds) as u64,
            Ordering::Relaxed,
        );
        counters.media_frames.store(end, Ordering::Relaxed);
        if let Ok(mut last) = shared.last_segment.lock() {
            *last = Some(Instant::now());
        }
    }
}
