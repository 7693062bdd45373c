//! The HLS window: the segments a player can fetch, and the media playlist over them.
//!
//! Rules kept here (RFC 8216 and what players expect of a live stream): a constant
//! `EXT-X-TARGETDURATION` that no `EXTINF` exceeds, `EXTINF` from the real frame count
//! with three decimals, a sliding window of at least six segments and three target
//! durations, segments that left the playlist still fetchable for one more window, a
//! media sequence that only grows, `EXT-X-PROGRAM-DATE-TIME` on every segment, and
//! each clip change as an `EXT-X-DATERANGE`.

use loopy_core::Rational;
use std::collections::VecDeque;
use std::fmt::Write;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// A clip that starts inside a segment (at its cross-fade), for `EXT-X-DATERANGE`.
#[derive(Debug, Clone, PartialEq)]
pub struct ClipChange {
    pub frame: u64,
    pub clip: String,
}

#[derive(Debug)]
pub struct HlsSegment {
    pub sequence: u64,
    pub first_frame: u64,
    pub frames: u64,
    /// The segment as MPEG-TS.
    pub ts: axum::body::Bytes,
    /// The segment as an fMP4 fragment (after the init segment).
    pub mp4: axum::body::Bytes,
    /// Wall-clock time of the segment's first frame.
    pub date: SystemTime,
    pub changes: Vec<ClipChange>,
    /// The first segment after a restart: timestamps and counters start anew there.
    pub discontinuity: bool,
}

/// Which container a playlist lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Variant<'a> {
    MpegTs,
    /// Fragmented MP4 after the init segment at `map`.
    Fmp4 {
        map: &'a str,
    },
}

impl Variant<'_> {
    fn version(self) -> u32 {
        match self {
            Variant::MpegTs => 3,
            // EXT-X-MAP with media segments that are not I-frame-only needs version 6+.
            Variant::Fmp4 { .. } => 7,
        }
    }

    fn extension(self) -> &'static str {
        match self {
            Variant::MpegTs => "ts",
            Variant::Fmp4 { .. } => "m4s",
        }
    }
}

pub struct Window {
    segments: VecDeque<Arc<HlsSegment>>,
    /// Segments listed in the playlist.
    listed: usize,
    /// Longest segment allowed, in whole seconds.
    target_duration: u64,
    fps: Rational,
    /// Discontinuity tags of segments no longer in memory (earlier runs included).
    discontinuities_gone: u64,
}

impl Window {
    /// `discontinuities_gone`: discontinuity tags of earlier runs of the stream (one
    /// per restart before this one), so `EXT-X-DISCONTINUITY-SEQUENCE` stays right.
    pub fn new(
        listed: usize,
        target_duration: u64,
        fps: Rational,
        discontinuities_gone: u64,
    ) -> Self {
        Window {
            segments: VecDeque::new(),
            listed: listed.max(1),
            target_duration: target_duration.max(1),
            fps,
            discontinuities_gone,
        }
    }

    pub fn push(&mut self, segment: HlsSegment) {
        self.segments.push_back(Arc::new(segment));
        // Listed ones plus one more window of those that left the playlist.
        while self.segments.len() > 2 * self.listed {
            if self.segments.pop_front().is_some_and(|s| s.discontinuity) {
                self.discontinuities_gone += 1;
            }
        }
    }

    pub fn get(&self, sequence: u64) -> Option<Arc<HlsSegment>> {
        self.segments
            .iter()
            .find(|s| s.sequence == sequence)
            .cloned()
    }

    pub fn latest(&self) -> Option<&Arc<HlsSegment>> {
        self.segments.back()
    }

    pub fn seconds(&self, frames: u64) -> f64 {
        frames as f64 * self.fps.den() as f64 / self.fps.num() as f64
    }

    /// The media playlist of a variant, segments named `{prefix}{sequence}.{extension}`
    /// (`ts`, or `m4s` after the init segment `map`).
    pub fn playlist(&self, prefix: &str, variant: Variant) -> String {
        let skip = self.segments.len().saturating_sub(self.listed);
        let listed: Vec<&Arc<HlsSegment>> = self.segments.iter().skip(skip).collect();
        let mut text = String::with_capacity(160 + listed.len() * 160);
        let first = listed.first().map_or(0, |s| s.sequence);
        let _ = write!(
            text,
            "#EXTM3U\n#EXT-X-VERSION:{}\n#EXT-X-TARGETDURATION:{}\n#EXT-X-MEDIA-SEQUENCE:{first}\n",
            variant.version(),
            self.target_duration
        );
        // Tags before the first listed segment: gone ones, and unlisted ones in memory.
        let discontinuity_sequence = self.discontinuities_gone
            + self
                .segments
                .iter()
                .take(skip)
                .filter(|s| s.discontinuity)
                .count() as u64;
        if discontinuity_sequence > 0 {
            let _ = writeln!(
                text,
                "#EXT-X-DISCONTINUITY-SEQUENCE:{discontinuity_sequence}"
            );
        }
        if let Variant::Fmp4 { map } = variant {
            let _ = writeln!(text, "#EXT-X-MAP:URI=\"{map}\"");
        }
        for segment in listed {
            if segment.discontinuity {
                text.push_str("#EXT-X-DISCONTINUITY\n");
            }
            let _ = writeln!(
                text,
                "#EXT-X-PROGRAM-DATE-TIME:{}",
                humantime::format_rfc3339_millis(segment.date)
            );
            for change in &segment.changes {
                let offset = self.seconds(change.frame.saturating_sub(segment.first_frame));
                let start = segment.date + Duration::from_secs_f64(offset);
                let _ = writeln!(
                    text,
                    "#EXT-X-DATERANGE:ID=\"clip-{}\",CLASS=\"org.loopy.clip\",START-DATE=\"{}\",X-CLIP=\"{}\"",
                    change.frame,
                    humantime::format_rfc3339_millis(start),
                    change.clip.replace('"', "'")
                );
            }
            let _ = write!(
                text,
                "#EXTINF:{:.3},\n{prefix}{}.{}\n",
                self.seconds(segment.frames),
                segment.sequence,
                variant.extension()
            );
        }
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn segment(sequence: u64, frames: u64) -> HlsSegment {
        HlsSegment {
            sequence,
            first_frame: sequence * 60,
            frames,
            ts: axum::body::Bytes::new(),
            mp4: axum::body::Bytes::new(),
            date: SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000 + sequence * 2),
            discontinuity: false,
            changes: if sequence == 3 {
                vec![ClipChange {
                    frame: 3 * 60 + 30,
                    clip: "talk_1.mp4".into(),
                }]
            } else {
                Vec::new()
            },
        }
    }

    #[test]
    fn the_playlist_slides_and_old_segments_stay_fetchable() {
        let fps = Rational::new(30, 1).expect("rate");
        let mut window = Window::new(6, 2, fps, 0);
        for n in 0..14 {
            window.push(segment(n, if n == 9 { 9 } else { 60 }));
        }
        let text = window.playlist("segments/", Variant::MpegTs);
        assert!(text.contains("#EXT-X-MEDIA-SEQUENCE:8\n"), "{text}");
        assert_eq!(text.matches("#EXTINF:").count(), 6);
        assert!(text.contains("#EXTINF:0.300,\nsegments/9.ts"), "{text}");
        assert!(text.contains("#EXT-X-TARGETDURATION:2\n"));
        assert!(!text.contains("DISCONTINUITY"));
        assert_eq!(text.matches("#EXT-X-PROGRAM-DATE-TIME:").count(), 6);
        // Left the playlist, still served; two windows back, gone.
        assert!(window.get(2).is_some());
        assert!(window.get(1).is_none());
        let mut early = Window::new(6, 2, fps, 0);
        for n in 0..5 {
            early.push(segment(n, 60));
        }
        let text = early.playlist("", Variant::Fmp4 { map: "init.mp4" });
        assert!(text.contains("X-CLIP=\"talk_1.mp4\""), "{text}");
        assert!(
            text.contains("#EXT-X-VERSION:7\n#EXT-X-TARGETDURATION:2\n"),
            "{text}"
        );
        assert!(text.contains("#EXT-X-MAP:URI=\"init.mp4\"\n"), "{text}");
        assert!(text.contains("\n4.m4s\n"), "{text}");
        assert!(
            text.contains("START-DATE=\"2027-01-15T08:00:07.000Z\""),
            "{text}"
        );
    }

    #[test]
    fn a_restart_is_one_discontinuity_counted_once_it_leaves() {
        let fps = Rational::new(30, 1).expect("rate");
        // The second restart: the tag of the first one is gone already.
        let mut window = Window::new(6, 2, fps, 1);
        for n in 0..20 {
            let mut s = segment(100 + n, 60);
            s.discontinuity = n == 0;
            window.push(s);
            let text = window.playlist("", Variant::MpegTs);
            let still_listed = n < 6;
            let want = if still_listed { 1 } else { 2 };
            assert!(
                text.contains(&format!("#EXT-X-DISCONTINUITY-SEQUENCE:{want}\n")),
                "after {n}: {text}"
            );
            let tags = text.matches("#EXT-X-DISCONTINUITY\n").count();
            assert_eq!(tags, usize::from(still_listed), "after {n}: {text}");
        }
    }
}
