//! Every user mistake the planner can see gets a typed error, and relaxed options a warning.

use loopy_core::planner::{plan, Length, PlanOptions};
use loopy_core::spec::CrossfadeSpec;
use loopy_core::weights::{check_mode_name, parse_example, ModeSpec, NamedMatrix};
use loopy_core::{Catalog, ClipInfo, PlanError, Rational};

fn lib(n: usize) -> Catalog {
    let fps = Rational::new(30, 1).unwrap();
    Catalog {
        root: "/synthetic".into(),
        clips: (0..n)
            .map(|i| ClipInfo::synthetic(&format!("c{i}.mp4"), 60, fps, 0, 0))
            .collect(),
        skipped: vec![],
    }
}

fn custom(catalog: &Catalog, matrix: NamedMatrix) -> Result<ModeSpec, PlanError> {
    let (matrix, _) = matrix.resolve(&catalog.clips, |name| catalog.find(name))?;
    Ok(ModeSpec::Custom { matrix })
}

#[test]
fn unknown_mode() {
    assert_eq!(
        check_mode_name("markov"),
        Err(PlanError::UnknownMode("markov".into()))
    );
    assert!(check_mode_name("similarity").is_ok());
}

#[test]
fn matrix_mistakes() {
    let c = lib(3);
    let csv = |text: &str| NamedMatrix::from_csv(text).and_then(|m| custom(&c, m));
    assert!(csv("c0,c1,c2\n0,1,1\n1,0,1\n1,1,0\n").is_ok());
    assert!(csv(",c0,c1,c2\nc0,0,1,1\nc1,1,0,1\nc2,1,1,0\n").is_ok());
    assert!(
        matches!(
            csv("c0,c1,c2\n0,1\n1,0,1\n1,1,0\n"),
            Err(PlanError::Matrix(_))
        ),
        "short row"
    );
    assert!(
        matches!(csv("c0,c1,c2\n0,1,1\n1,0,1\n"), Err(PlanError::Matrix(_))),
        "missing row"
    );
    assert!(
        matches!(
            csv("c0,c1,c2\n0,-1,1\n1,0,1\n1,1,0\n"),
            Err(PlanError::Matrix(_))
        ),
        "negative"
    );
    assert!(
        matches!(
            csv("c0,c1,c2\n0,NaN,1\n1,0,1\n1,1,0\n"),
            Err(PlanError::Matrix(_))
        ),
        "NaN"
    );
    assert!(
        matches!(
            csv("c0,c1,c2\n0,x,1\n1,0,1\n1,1,0\n"),
            Err(PlanError::Matrix(_))
        ),
        "not a number"
    );
    assert!(
        matches!(
            csv("c0,c1,zz\n0,1,1\n1,0,1\n1,1,0\n"),
            Err(PlanError::UnknownClip { .. })
        ),
        "unknown name"
    );
    assert!(matches!(
        NamedMatrix::from_json("[1,2]"),
        Err(PlanError::Matrix(_))
    ));

    let dead_end = csv("c0,c1,c2\n0,1,1\n0,0,0\n1,1,0\n").unwrap();
    let opts = PlanOptions {
        mode: dead_end,
        ..PlanOptions::default()
    };
    assert_eq!(
        plan(&c, &opts).unwrap_err(),
        PlanError::NoSuccessor("c1.mp4".into())
    );
}

#[test]
fn json_matrix_with_a_clip_left_out_warns_and_never_uses_it() {
    let c = lib(4);
    let m = NamedMatrix::from_json(
        r#"{"c0": {"c1": 1, "c2": 2}, "c1": {"c0": 1, "c2": 1}, "c2": {"c0": 1}}"#,
    )
    .unwrap();
    let opts = PlanOptions {
        mode: custom(&c, m).unwrap(),
        history: 0,
        length: Length::Entries(200),
        ..PlanOptions::default()
    };
    let planned = plan(&c, &opts).unwrap();
    assert!(!planned.plan.sequence.contains(&3));
    assert!(
        planned.warnings.iter().any(|w| w.contains("c3.mp4")),
        "{:?}",
        planned.warnings
    );
}

#[test]
fn example_sequence_mistakes() {
    let c = lib(3);
    let find = |name: &str| c.find(name);
    assert_eq!(
        parse_example("c0\nc1.mp4\nc2\n", find).unwrap(),
        vec![0, 1, 2]
    );
    assert!(matches!(
        parse_example("c0\nnope\n", find),
        Err(PlanError::UnknownClip { .. })
    ));
    assert!(matches!(
        parse_example("c0\n", find),
        Err(PlanError::Example(_))
    ));
    let as_plan = r#"{"clips": [{"path": "c2.mp4"}, {"path": "c0.mp4"}], "sequence": [0, 1, 0]}"#;
    assert_eq!(parse_example(as_plan, find).unwrap(), vec![2, 0, 2]);
}

#[test]
fn crossfade_longer_than_half_the_shortest_clip() {
    let c = lib(3); // 60 frames each at 30 fps
    let ok = PlanOptions {
        crossfade: CrossfadeSpec::Frames(30),
        ..PlanOptions::default()
    };
    assert!(plan(&c, &ok).is_ok());
    let too_long = PlanOptions {
        crossfade: CrossfadeSpec::Frames(31),
        ..PlanOptions::default()
    };
    assert!(matches!(
        plan(&c, &too_long),
        Err(PlanError::CrossfadeTooLong { crossfade: 31, .. })
    ));
}

#[test]
fn history_too_large_is_relaxed_with_a_warning() {
    let c = lib(4);
    let planned = plan(
        &c,
        &PlanOptions {
            history: 10,
            history_explicit: true,
            ..PlanOptions::default()
        },
    )
    .unwrap();
    assert_eq!(planned.plan.settings.history_effective, 2);
    assert!(planned.warnings.iter().any(|w| w.contains("--history 10")));
    // The default window shrinks quietly: the user never asked for 5.
    let default = plan(&c, &PlanOptions::default()).unwrap();
    assert_eq!(default.plan.settings.history_effective, 2);
    assert!(default.warnings.is_empty(), "{:?}", default.warnings);
}

#[test]
fn clips_too_short_for_the_crossfade_sit_out() {
    let fps = Rational::new(30, 1).unwrap();
    let mut c = lib(3);
    c.clips
        .push(ClipInfo::synthetic("one_frame.mp4", 1, fps, 0, 0));
    let opts = PlanOptions {
        crossfade: CrossfadeSpec::Frames(9),
        length: Length::Entries(50),
        ..PlanOptions::default()
    };
    let planned = plan(&c, &opts).unwrap();
    assert!(!planned.plan.sequence.contains(&3));
    let about: Vec<_> = planned
        .warnings
        .iter()
        .filter(|w| w.contains("one_frame.mp4"))
        .collect();
    assert_eq!(about.len(), 1, "{:?}", planned.warnings);
}

#[test]
fn a_crossfade_shorter_than_a_frame_is_refused() {
    let opts = PlanOptions {
        crossfade: CrossfadeSpec::Millis(10),
        ..PlanOptions::default()
    };
    assert!(matches!(
        plan(&lib(3), &opts),
        Err(PlanError::InvalidCrossfade(..))
    ));
}

#[test]
fn absurd_lengths_are_refused_before_planning() {
    for length in [
        Length::Millis(100_000_000_000 * 3_600_000),
        Length::Entries(u64::MAX),
    ] {
        let opts = PlanOptions {
            length,
            ..PlanOptions::default()
        };
        match plan(&lib(3), &opts) {
            Err(PlanError::InvalidOption(m)) => assert!(m.contains("limit"), "{m}"),
            other => panic!("{other:?}"),
        }
    }
}

#[test]
fn invalid_numbers() {
    let c = lib(3);
    let bad_strength = PlanOptions {
        signal_strength: f64::NAN,
        ..PlanOptions::default()
    };
    assert!(matches!(
        plan(&c, &bad_strength),
        Err(PlanError::InvalidOption(_))
    ));
    let bad_sigma = PlanOptions {
        mode: ModeSpec::Similarity { sigma_scale: -1.0 },
        ..PlanOptions::default()
    };
    assert!(matches!(
        plan(&c, &bad_sigma),
        Err(PlanError::InvalidOption(_))
    ));
    let bad_ngram = PlanOptions {
        avoid_ngrams: Some(1),
        ..PlanOptions::default()
    };
    assert!(matches!(
        plan(&c, &bad_ngram),
        Err(PlanError::InvalidOption(_))
    ));
    assert_eq!(
        plan(&lib(0), &PlanOptions::default()).unwrap_err(),
        PlanError::EmptyCatalog
    );
}

#[test]
fn a_single_clip_loops_on_itself() {
    let planned = plan(
        &lib(1),
        &PlanOptions {
            length: Length::Millis(10_000),
            ..PlanOptions::default()
        },
    )
    .unwrap();
    assert_eq!(planned.plan.sequence, vec![0; 5]);
    assert!(
        planned.warnings.iter().any(|w| w.contains("only one clip")),
        "{:?}",
        planned.warnings
    );
}

#[test]
fn a_crossfade_that_leaves_one_usable_clip_plays_it_and_names_the_others() {
    let fps = Rational::new(30, 1).unwrap();
    let mut c = lib(0);
    c.clips
        .push(ClipInfo::synthetic("long.mp4", 300, fps, 0, 0));
    for name in ["short_a.mp4", "short_b.mp4"] {
        c.clips.push(ClipInfo::synthetic(name, 60, fps, 0, 0));
    }
    for mode in [ModeSpec::Uniform, ModeSpec::Similarity { sigma_scale: 1.0 }] {
        let planned = plan(
            &c,
            &PlanOptions {
                mode,
                crossfade: CrossfadeSpec::Frames(40),
                length: Length::Millis(30_000),
                ..PlanOptions::default()
            },
        )
        .unwrap();
        assert!(planned.plan.sequence.iter().all(|&i| i == 0));
        for name in ["short_a.mp4", "short_b.mp4", "only one clip"] {
            assert!(
                planned.warnings.iter().any(|w| w.contains(name)),
                "{name}: {:?}",
                planned.warnings
            );
        }
    }
}
