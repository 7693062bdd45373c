//! The default planner on libraries with planted good seams (issue 15): σ calibrated
//! from the library's own distances, n-gram avoidance and foresight together give
//! seams far better than a shuffle without replaying runs, and the hard rules hold
//! over thousands of picks.

use loopy_core::planner::{plan, Length, PlanOptions, DEFAULT_AVOID_NGRAMS};
use loopy_core::weights::{calibrated_sigma, ModeSpec, SeamMatrix, EFFECTIVE_CHOICES};
use loopy_core::{Catalog, ClipInfo, Plan, Rational};

fn fps30() -> Rational {
    Rational::new(30, 1).unwrap()
}

/// A deterministic stream of levels, so that the clips' other seams differ.
fn levels(seed: u64) -> impl FnMut() -> u8 {
    let mut state = seed | 1;
    move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state % 256) as u8
    }
}

/// `n` clips cut from one shot: each clip's last frame is the next one's first (a
/// natural successor), every other seam is a jump to another random picture.
fn consecutive_library(n: usize) -> Catalog {
    let mut next = levels(7);
    let cuts: Vec<u8> = (0..=n).map(|_| next()).collect();
    Catalog {
        root: "/synthetic".into(),
        clips: (0..n)
            .map(|i| {
                ClipInfo::synthetic(
                    &format!("part_{i:02}.mp4"),
                    150,
                    fps30(),
                    cuts[i],
                    cuts[i + 1],
                )
            })
            .collect(),
        skipped: vec![],
    }
}

fn default_options(seed: u64, entries: u64) -> PlanOptions {
    PlanOptions {
        mode: ModeSpec::Similarity { sigma_scale: 1.0 },
        seed,
        length: Length::Entries(entries),
        avoid_ngrams: Some(DEFAULT_AVOID_NGRAMS),
        ..PlanOptions::default()
    }
}

fn make(catalog: &Catalog, opts: &PlanOptions) -> Plan {
    plan(catalog, opts).unwrap().plan
}

#[test]
fn planted_successors_are_found_without_replaying_runs() {
    let lib = consecutive_library(10);
    for seed in 1..=5 {
        let plan = make(&lib, &default_options(seed, 60));
        let uniform = make(
            &lib,
            &PlanOptions {
                mode: ModeSpec::Uniform,
                ..default_options(seed, 60)
            },
        );
        let s = &plan.stats;
        let mean = s.mean_seam_distance.unwrap();
        let shuffle = s.uniform_mean_seam_distance.unwrap();
        assert!(
            mean < 0.5 * shuffle,
            "seed {seed}: mean seam {mean} vs a shuffle's {shuffle}"
        );
        assert!(
            mean < 0.6 * uniform.stats.mean_seam_distance.unwrap(),
            "seed {seed}: the uniform planner's seams are not much worse"
        );
        assert!(
            s.longest_repeat <= 3,
            "seed {seed}: run {}",
            s.longest_repeat
        );
        assert_eq!(s.clips_used, 10, "seed {seed}: every clip is used");
        assert!(
            s.entropy_bits >= 0.9 * s.max_entropy_bits,
            "seed {seed}: entropy {} of {}",
            s.entropy_bits,
            s.max_entropy_bits
        );
        assert!(s.worst_seam_distance.unwrap() <= s.uniform_worst_seam_distance.unwrap());
    }
}

#[test]
fn the_rules_hold_over_thousands_of_picks_and_seeds_repeat() {
    let lib = consecutive_library(40);
    let opts = default_options(11, 5000);
    let plan = make(&lib, &opts);
    let history = plan.settings.history_effective;
    let mut last_seen = vec![None::<usize>; 40];
    for (pos, &clip) in plan.sequence.iter().enumerate() {
        if let Some(prev) = last_seen[clip] {
            assert!(
                pos - prev > history,
                "clip {clip} came back after {} picks (history {history})",
                pos - prev
            );
        }
        last_seen[clip] = Some(pos);
    }
    assert!(
        plan.stats.longest_repeat < DEFAULT_AVOID_NGRAMS as u64,
        "a run of {} was replayed",
        plan.stats.longest_repeat
    );
    assert_eq!(make(&lib, &opts), plan, "same seed, same plan");
    assert_ne!(
        make(&lib, &default_options(12, 5000)).sequence,
        plan.sequence
    );
}

#[test]
fn a_small_library_that_runs_out_of_new_runs_goes_round_them() {
    // Five clips, history 2: new 4-runs run out within a few hundred picks; the walk
    // must then spread its repeats (it avoids replaying 5-runs, then takes the least
    // played ones) rather than replay the natural order at length (runs of 35 clips
    // when it fell back on the seam weights alone).
    let lib = consecutive_library(5);
    let plan = make(&lib, &default_options(3, 2000));
    assert!(
        plan.stats.longest_repeat <= 20,
        "longest repeated run {}",
        plan.stats.longest_repeat
    );
    assert_eq!(plan.stats.clips_used, 5);
}

/// 2 to the power of the entropy of a's row of similarity weights.
fn row_perplexity(seams: &SeamMatrix, n: usize, a: usize, sigma: f64) -> f64 {
    let w: Vec<f64> = (0..n)
        .filter(|&b| b != a)
        .map(|b| (-seams.get(a, b) / sigma).exp())
        .collect();
    let total: f64 = w.iter().sum();
    let h: f64 = w
        .iter()
        .filter(|&&x| x > 0.0)
        .map(|&x| -(x / total) * (x / total).log2())
        .sum();
    h.exp2()
}

#[test]
fn sigma_is_calibrated_to_the_set_number_of_choices() {
    for n in [10, 37, 200] {
        let lib = consecutive_library(n);
        let seams = SeamMatrix::from_clips(&lib.clips);
        let sigma = calibrated_sigma(&seams).unwrap();
        // The calibration measures at most 64 rows, evenly spaced.
        let median_at = |sigma: f64| {
            let mut perplexities: Vec<f64> = (0..n)
                .step_by(n.div_ceil(64))
                .map(|a| row_perplexity(&seams, n, a, sigma))
                .collect();
            perplexities.sort_by(f64::total_cmp);
            perplexities[(perplexities.len() - 1) / 2]
        };
        let median = median_at(sigma);
        // Rows with two equally good successors never get below two choices: then σ
        // is as sharp as it gets (halving it changes nothing).
        let at_floor = (median_at(sigma / 2.0) - median).abs() < 1e-3;
        assert!(
            (median - EFFECTIVE_CHOICES).abs() < 0.05 || at_floor,
            "{n} clips: median effective choices {median}"
        );
    }
    // Clips that all look alike leave nothing to prefer.
    let same = Catalog {
        root: "/same".into(),
        clips: (0..4)
            .map(|i| ClipInfo::synthetic(&format!("s{i}.mp4"), 90, fps30(), 50, 50))
            .collect(),
        skipped: vec![],
    };
    assert_eq!(calibrated_sigma(&SeamMatrix::from_clips(&same.clips)), None);
}

#[test]
fn a_sharp_sigma_leaves_every_clip_a_successor() {
    // σ a millionth of the calibrated one: exp(−d/σ) of every seam underflows, yet
    // planning works and the rules still hold.
    let lib = consecutive_library(12);
    let opts = PlanOptions {
        mode: ModeSpec::Similarity { sigma_scale: 1e-6 },
        ..default_options(4, 500)
    };
    let plan = make(&lib, &opts);
    assert_eq!(plan.stats.immediate_repeats, 0);
    assert_eq!(plan.stats.clips_used, 12);
}
