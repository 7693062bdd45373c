//! The planner's distributions, tested statistically on fixed seeds: uniform mode is
//! uniform, similarity mode prefers the nearest successor, signals steer by tag.

use loopy_core::planner::{plan, Length, PlanOptions};
use loopy_core::spec::Signal;
use loopy_core::weights::ModeSpec;
use loopy_core::{Catalog, ClipInfo, Rational};

fn fps30() -> Rational {
    Rational::new(30, 1).unwrap()
}

fn catalog(clips: Vec<ClipInfo>) -> Catalog {
    Catalog {
        root: "/synthetic".into(),
        clips,
        skipped: vec![],
    }
}

fn sequence(catalog: &Catalog, opts: PlanOptions) -> Vec<usize> {
    plan(catalog, &opts).unwrap().plan.sequence
}

/// Pearson's statistic against equal expected counts.
fn chi_square(counts: &[u64]) -> f64 {
    let total: u64 = counts.iter().sum();
    let expected = total as f64 / counts.len() as f64;
    counts
        .iter()
        .map(|&c| (c as f64 - expected).powi(2) / expected)
        .sum()
}

// Upper 0.1 % points of the chi-square distribution (p = 0.001).
const CHI2_999_DF19: f64 = 43.820;
const CHI2_999_DF18: f64 = 42.312;

#[test]
fn uniform_mode_is_uniform() {
    let lib = catalog(
        (0..20)
            .map(|i| ClipInfo::synthetic(&format!("c{i:02}.mp4"), 90, fps30(), 0, 0))
            .collect(),
    );
    for history in [0, 5] {
        let seq = sequence(
            &lib,
            PlanOptions {
                seed: 7,
                history,
                length: Length::Entries(100_000),
                ..PlanOptions::default()
            },
        );
        let mut counts = vec![0u64; 20];
        seq.iter().for_each(|&c| counts[c] += 1);
        let stat = chi_square(&counts);
        assert!(
            stat < CHI2_999_DF19,
            "history {history}: clip frequencies fail chi-square: {stat}"
        );
        if history == 0 {
            // Successors of a clip are uniform over the 19 others.
            let mut offsets = vec![0u64; 19];
            seq.windows(2)
                .for_each(|w| offsets[(w[1] + 20 - w[0]) % 20 - 1] += 1);
            let stat = chi_square(&offsets);
            assert!(
                stat < CHI2_999_DF18,
                "successor offsets fail chi-square: {stat}"
            );
        }
    }
}

#[test]
fn a_biased_sampler_would_fail_the_chi_square() {
    // Guards the guard: the same test on visibly skewed counts must fail.
    let mut counts = vec![5000u64; 20];
    counts[3] = 5600;
    assert!(chi_square(&counts) > CHI2_999_DF19);
}

#[test]
fn similarity_prefers_the_nearest_successor() {
    // Clip i ends at level 20i+10 and starts at 20i: its nearest other successor is i+1.
    let lib = catalog(
        (0..10u8)
            .map(|i| ClipInfo::synthetic(&format!("c{i}.mp4"), 90, fps30(), 20 * i, 20 * i + 10))
            .collect(),
    );
    let nearest_share = |mode: ModeSpec| {
        let seq = sequence(
            &lib,
            PlanOptions {
                mode,
                seed: 11,
                history: 0,
                length: Length::Entries(50_000),
                ..PlanOptions::default()
            },
        );
        let pairs = seq.windows(2).filter(|w| w[0] < 9);
        let (hits, total) = pairs.fold((0u64, 0u64), |(h, t), w| {
            (h + u64::from(w[1] == w[0] + 1), t + 1)
        });
        hits as f64 / total as f64
    };
    let uniform = nearest_share(ModeSpec::Uniform);
    let similar = nearest_share(ModeSpec::Similarity { sigma_scale: 1.0 });
    let sharp = nearest_share(ModeSpec::Similarity { sigma_scale: 0.3 });
    assert!(
        (uniform - 1.0 / 9.0).abs() < 0.01,
        "uniform share {uniform}"
    );
    assert!(
        similar > 1.5 * uniform,
        "similarity {similar} vs uniform {uniform}"
    );
    assert!(
        sharp > similar,
        "a smaller sigma should sharpen the preference: {sharp} vs {similar}"
    );
}

#[test]
fn signals_steer_by_tag() {
    let lib = catalog(
        (0..10)
            .map(|i| {
                let name = if i % 2 == 0 {
                    format!("talk_{i}.mp4")
                } else {
                    format!("idle_{i}.mp4")
                };
                ClipInfo::synthetic(&name, 90, fps30(), 0, 0)
            })
            .collect(),
    );
    let talk_share = |signals: Vec<Signal>| {
        let seq = sequence(
            &lib,
            PlanOptions {
                signals,
                seed: 3,
                history: 0,
                length: Length::Entries(20_000),
                ..PlanOptions::default()
            },
        );
        seq.iter().filter(|&&c| c % 2 == 0).count() as f64 / seq.len() as f64
    };
    let neutral = talk_share(vec![]);
    let up = talk_share(vec![Signal::parse("talk=1").unwrap()]);
    let down = talk_share(vec![Signal::parse("talk=-1").unwrap()]);
    assert!((neutral - 0.5).abs() < 0.02, "neutral {neutral}");
    assert!(
        up > neutral + 0.05,
        "talk=+1 should raise the share: {up} vs {neutral}"
    );
    assert!(
        down < neutral - 0.05,
        "talk=-1 should lower the share: {down} vs {neutral}"
    );
}

#[test]
fn avoid_ngrams_prevents_repeated_runs() {
    let lib = catalog(
        (0..10)
            .map(|i| ClipInfo::synthetic(&format!("c{i}.mp4"), 90, fps30(), 0, 0))
            .collect(),
    );
    let base = PlanOptions {
        seed: 5,
        history: 0,
        length: Length::Entries(300),
        ..PlanOptions::default()
    };
    let free = plan(&lib, &base).unwrap().plan;
    let guarded = plan(
        &lib,
        &PlanOptions {
            avoid_ngrams: Some(3),
            ..base
        },
    )
    .unwrap()
    .plan;
    assert!(
        free.stats.longest_repeat >= 3,
        "without the rule 300 picks over 10 clips repeat a 3-run"
    );
    assert!(
        guarded.stats.longest_repeat < 3,
        "longest repeat {}",
        guarded.stats.longest_repeat
    );
}
