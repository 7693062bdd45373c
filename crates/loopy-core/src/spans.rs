//! The render timeline as explicit spans: each output frame range either shows one
//! clip alone or blends two clips in a cross-fade. Executors walk this list rather
//! than deciding per frame, so a later "smart render" can copy clip spans and encode
//! only blend spans.

use crate::timeline::Placement;
use serde::{Deserialize, Serialize};

/// What fills a span of output frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum SpanSource {
    /// One entry of the sequence, alone.
    Clip { entry: usize },
    /// The tail of entry `from` fading into the head of entry `to`.
    Blend { from: usize, to: usize },
}

/// How an executor produces a span.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SpanMode {
    /// Packets copied from the clip, timestamps rewritten.
    Copy,
    /// Decoded, scaled, re-timed or blended, and encoded.
    Render,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Span {
    #[serde(flatten)]
    pub source: SpanSource,
    pub start_frame: u64,
    pub frames: u64,
    pub mode: SpanMode,
}

/// Splits placed entries into clip spans and blend spans, in output order. Every
/// span starts rendered; an executor that can copy marks clip spans as copied.
pub fn spans(placements: &[Placement], crossfade: u64) -> Vec<Span> {
    let mut out = Vec::with_capacity(placements.len() * 2);
    let last = placements.len().saturating_sub(1);
    for (i, p) in placements.iter().enumerate() {
        let head = if i > 0 { crossfade } else { 0 };
        let tail = if i < last { crossfade } else { 0 };
        let solo = p.frames.saturating_sub(head + tail);
        if solo > 0 {
            out.push(Span {
                source: SpanSource::Clip { entry: i },
                start_frame: p.start_frame + head,
                frames: solo,
                mode: SpanMode::Render,
            });
        }
        if tail > 0 {
            out.push(Span {
                source: SpanSource::Blend { from: i, to: i + 1 },
                start_frame: p.start_frame + p.frames - tail,
                frames: tail,
                mode: SpanMode::Render,
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rational::Rational;
    use crate::timeline::Timeline;

    #[test]
    fn spans_tile_the_output_and_blends_last_the_crossfade() {
        let fps = Rational::new(30, 1).unwrap();
        for crossfade in [0, 1, 9] {
            let mut t = Timeline::new(fps, crossfade);
            let placements: Vec<Placement> =
                [90, 60, 120, 45].iter().map(|&f| t.push(f, fps)).collect();
            let spans = spans(&placements, crossfade);
            let mut next = 0;
            for s in &spans {
                assert_eq!(s.start_frame, next, "{spans:?}");
                next += s.frames;
                if let SpanSource::Blend { from, to } = s.source {
                    assert_eq!(to, from + 1);
                    assert_eq!(s.frames, crossfade);
                }
            }
            assert_eq!(next, t.total_frames());
            let blends = spans
                .iter()
                .filter(|s| matches!(s.source, SpanSource::Blend { .. }))
                .count();
            assert_eq!(blends, if crossfade > 0 { 3 } else { 0 });
        }
    }
}
