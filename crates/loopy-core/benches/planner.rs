//! `cargo bench -p loopy-core`: plans 1 000 000 transitions over 1 000 clips in
//! similarity mode (the target: ≤ 1 s on a 2-core machine) and reports where
//! the time goes. A plain timing harness: criterion would add a large dependency tree
//! for a measurement that takes one run.

use loopy_core::planner::{plan, Length, PlanOptions};
use loopy_core::weights::{ModeSpec, SeamMatrix};
use loopy_core::{Catalog, ClipInfo, Rational};
use std::time::Instant;

fn main() {
    let fps = Rational::new(30, 1).unwrap_or_else(|| unreachable!());
    // Deterministic pseudo-random head/tail levels so clips differ.
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let catalog = Catalog {
        root: "/bench".into(),
        clips: (0..1000)
            .map(|i| {
                ClipInfo::synthetic(
                    &format!("clip_{i:04}.mp4"),
                    90 + next() % 210,
                    fps,
                    next() as u8,
                    next() as u8,
                )
            })
            .collect(),
        skipped: vec![],
    };
    let start = Instant::now();
    let seams = SeamMatrix::from_clips(&catalog.clips);
    let seam_time = start.elapsed();
    std::hint::black_box(seams.median_off_diagonal());

    for (label, mode) in [
        ("similarity", ModeSpec::Similarity { sigma_scale: 1.0 }),
        ("uniform", ModeSpec::Uniform),
    ] {
        let opts = PlanOptions {
            mode,
            seed: 42,
            length: Length::Entries(1_000_001),
            // As `loopy plan` does by default.
            avoid_ngrams: Some(loopy_core::planner::DEFAULT_AVOID_NGRAMS),
            ..PlanOptions::default()
        };
        let best = (0..3)
            .map(|_| {
                let t = Instant::now();
                let planned = plan(&catalog, &opts).unwrap_or_else(|e| panic!("{e}"));
                std::hint::black_box(planned.plan.stats.total_frames);
                t.elapsed()
            })
            .min()
            .unwrap_or_default();
        println!(
            "plan {label:<10} 1000 clips, 1 000 000 transitions: best of 3 = {:.3} s",
            best.as_secs_f64()
        );
    }
    // Small libraries get the deepest foresight (six picks): look-alike clips (levels
    // 100–131, as avatar loops that all start and end in one pose) are its worst case.
    for (clips, spread) in [(10u64, 256u64), (30, 32), (60, 32)] {
        let small = Catalog {
            root: "/bench".into(),
            clips: (0..clips)
                .map(|i| {
                    ClipInfo::synthetic(
                        &format!("small_{i:03}.mp4"),
                        150,
                        fps,
                        (100 + next() % spread) as u8,
                        (100 + next() % spread) as u8,
                    )
                })
                .collect(),
            skipped: vec![],
        };
        let opts = PlanOptions {
            mode: ModeSpec::Similarity { sigma_scale: 1.0 },
            seed: 42,
            length: Length::Entries(10_001),
            avoid_ngrams: Some(loopy_core::planner::DEFAULT_AVOID_NGRAMS),
            ..PlanOptions::default()
        };
        let t = Instant::now();
        let planned = plan(&small, &opts).unwrap_or_else(|e| panic!("{e}"));
        std::hint::black_box(planned.plan.stats.total_frames);
        println!(
            "plan similarity {clips:>4} clips (levels spread over {spread}), 10 000 transitions: {:.3} s",
            t.elapsed().as_secs_f64()
        );
    }
    let model = loopy_core::weights::WeightModel::new(&ModeSpec::Uniform, &seams, vec![1.0; 1000])
        .unwrap_or_else(|e| panic!("{e}"));
    let t = Instant::now();
    let mut chain = loopy_core::chain::Chain::new(std::rc::Rc::new(model), 1, 5, None);
    let mut sum = 0;
    for _ in 0..1_000_001 {
        sum += chain.next_clip();
    }
    std::hint::black_box(sum);
    println!(
        "  of which the chain alone: {:.3} s",
        t.elapsed().as_secs_f64()
    );
    let t = Instant::now();
    let mut timeline = loopy_core::timeline::Timeline::new(fps, 0);
    for i in 0..1_000_001u64 {
        timeline.push(90 + i % 200, fps);
    }
    println!(
        "  of which the timeline alone: {:.3} s",
        t.elapsed().as_secs_f64()
    );
    let sequence: Vec<usize> = (0..1_000_001).map(|_| (next() % 1000) as usize).collect();
    let t = Instant::now();
    std::hint::black_box(loopy_core::stats::compute(
        &sequence,
        1000,
        Some(&seams),
        0,
        fps,
    ));
    println!(
        "  of which the statistics of 1 000 001 picks: {:.3} s",
        t.elapsed().as_secs_f64()
    );
    println!(
        "  of which the 1000×1000 seam matrix: {:.3} s",
        seam_time.as_secs_f64()
    );
    cut_matrix(&catalog, &mut next);
}

/// Issue 15's other target: the best cut of every ordered pair of 1 000 clips with
/// 30-sample head and tail windows (1 s at 30 fps) in ≤ 10 s.
fn cut_matrix(catalog: &Catalog, next: &mut impl FnMut() -> u64) {
    use loopy_core::window::{FrameWindow, SAMPLE_BYTES};
    let mut window = |first: u64| FrameWindow {
        first,
        step: 1,
        luma: (0..30 * SAMPLE_BYTES).map(|_| next() as u8).collect(),
    };
    let mut clips = catalog.clips.clone();
    for clip in &mut clips {
        clip.head_window = Some(window(0));
        clip.tail_window = Some(window(clip.frames - 30));
    }
    let t = Instant::now();
    let cuts = loopy_core::cuts::CutMatrix::from_clips(&clips);
    std::hint::black_box(cuts.map(|c| c.get(1, 2).cost));
    println!(
        "cut points of 1000×1000 pairs, 30-sample windows (target ≤ 10 s): {:.3} s",
        t.elapsed().as_secs_f64()
    );
}
