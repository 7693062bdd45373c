//! The endless plan of `loopy serve`: the same chain and rules as `plan` (no
//! immediate repeat, history window, n-grams, signals, seed), walked one clip at a
//! time for as long as the stream runs, while signals change and clips are queued.
//!
//! Deterministic: the same catalog, options and seed, with the same signal changes
//! and queued clips at the same positions, give the same sequence.

use crate::catalog::Catalog;
use crate::chain::Chain;
use crate::error::PlanError;
use crate::planner::{model_for_signals, prepare, PlanOptions, Prepared};
use crate::rational::Rational;
use crate::spec::Signal;
use crate::weights::SeamMatrix;
use std::collections::VecDeque;
use std::rc::Rc;

pub struct LiveChain {
    catalog: Catalog,
    opts: PlanOptions,
    fps: Rational,
    crossfade: u64,
    seams: SeamMatrix,
    chain: Chain,
    signals: Vec<Signal>,
    queued: VecDeque<usize>,
    picks: u64,
}

impl LiveChain {
    /// A chain over `catalog` with `opts` (their length is ignored); also the warnings
    /// planning gives for these options.
    pub fn new(catalog: Catalog, opts: PlanOptions) -> Result<(Self, Vec<String>), PlanError> {
        let Prepared {
            fps,
            crossfade,
            seams,
            model,
            history,
            warnings,
            // The live chain plays whole clips (cut points are for plans, for now).
            cuts: _,
        } = prepare(&catalog, &opts)?;
        let chain = Chain::new(Rc::new(model), opts.seed, history, opts.avoid_ngrams);
        let signals = opts.signals.clone();
        Ok((
            LiveChain {
                catalog,
                opts,
                fps,
                crossfade,
                seams,
                chain,
                signals,
                queued: VecDeque::new(),
                picks: 0,
            },
            warnings,
        ))
    }

    /// The next clip (an index into the catalog): a queued clip if any, else a draw.
    pub fn next_clip(&mut self) -> usize {
        self.picks += 1;
        match self.queued.pop_front() {
            Some(clip) => {
                self.chain.force_next(clip);
                clip
            }
            None => self.chain.next_clip(),
        }
    }

    /// Steers the draws from now on; refused (and nothing changes) when the signals
    /// leave no clip to play.
    pub fn set_signals(&mut self, signals: Vec<Signal>) -> Result<(), PlanError> {
        let model = model_for_signals(
            &self.catalog,
            &self.opts,
            (self.fps, self.crossfade, &self.seams),
            &signals,
        )?;
        self.chain.set_model(Rc::new(model));
        self.signals = signals;
        Ok(())
    }

    /// Plays `clip` after the clips queued before it, ahead of the chain's own draws.
    pub fn queue(&mut self, clip: usize) {
        self.queued.push_back(clip);
    }

    pub fn queued(&self) -> impl Iterator<Item = usize> + '_ {
        self.queued.iter().copied()
    }

    pub fn signals(&self) -> &[Signal] {
        &self.signals
    }

    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    /// Output frame rate and cross-fade length in frames.
    pub fn fps(&self) -> Rational {
        self.fps
    }

    pub fn crossfade(&self) -> u64 {
        self.crossfade
    }

    /// Clips drawn or taken from the queue so far.
    pub fn picks(&self) -> u64 {
        self.picks
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::ClipInfo;
    use crate::signature::Signature;

    fn flat(level: u8) -> Signature {
        let plane = vec![level; 32 * 18];
        Signature::from_yuv444([(&plane, 32), (&plane, 32), (&plane, 32)]).expect("signature")
    }

    fn catalog() -> Catalog {
        let clips = (0..8)
            .map(|i| ClipInfo {
                path: format!("{}_{i}.mp4", if i < 4 { "idle" } else { "talk" }),
                container: "mp4".into(),
                codec: "h264".into(),
                width: 64,
                height: 36,
                orientation: Default::default(),
                sar: Rational::ONE,
                fingerprint: String::new(),
                pix_fmt: "yuv420p".into(),
                fps: Rational::new(30, 1).unwrap_or(Rational::ONE),
                frames: 90,
                stored_frames: None,
                duration_s: 3.0,
                has_audio: false,
                size: 1000,
                mtime_ns: 0,
                tags: vec![if i < 4 { "idle" } else { "talk" }.into()],
                weight: 1.0,
                relevance: 1.0,
                head: flat(16 + 20 * i as u8),
                tail: flat(16 + 20 * i as u8),
                seamless_score: 0.0,
                head_window: None,
                tail_window: None,
                verified: false,
            })
            .collect();
        Catalog {
            root: "/clips".into(),
            clips,
            ..Default::default()
        }
    }

    fn options(seed: u64) -> PlanOptions {
        PlanOptions {
            seed,
            history: 2,
            ..Default::default()
        }
    }

    fn walk(chain: &mut LiveChain, picks: usize) -> Vec<usize> {
        (0..picks).map(|_| chain.next_clip()).collect()
    }

    #[test]
    fn same_seed_and_changes_give_the_same_sequence() {
        let run = |seed| {
            let (mut chain, _) = LiveChain::new(catalog(), options(seed)).expect("chain");
            let mut seq = walk(&mut chain, 50);
            chain
                .set_signals(vec![Signal {
                    tag: "talk".into(),
                    value: 1.0,
                }])
                .expect("signals");
            chain.queue(3);
            seq.extend(walk(&mut chain, 50));
            seq
        };
        assert_eq!(run(7), run(7));
        assert_ne!(run(7), run(8));
    }

    #[test]
    fn rules_hold_forever_and_queued_clips_come_next() {
        let (mut chain, _) = LiveChain::new(catalog(), options(1)).expect("chain");
        let mut seq = walk(&mut chain, 2000);
        chain.queue(5);
        chain.queue(2);
        let next = walk(&mut chain, 2);
        assert_eq!(next, vec![5, 2]);
        seq.extend(next);
        seq.extend(walk(&mut chain, 2000));
        for window in seq.windows(3) {
            // history 2: none of the last two picks again (queued clips excepted).
            assert_ne!(window[0], window[1]);
            assert_ne!(window[1], window[2]);
        }
        assert_eq!(chain.picks(), 4002);
    }

    #[test]
    fn signals_steer_the_draws_from_then_on() {
        let (mut chain, _) = LiveChain::new(catalog(), options(3)).expect("chain");
        let talk = |seq: &[usize]| seq.iter().filter(|&&c| c >= 4).count();
        let before = talk(&walk(&mut chain, 4000));
        let signal = |value| {
            vec![Signal {
                tag: "talk".into(),
                value,
            }]
        };
        chain.set_signals(signal(1.0)).expect("signals");
        let steered = talk(&walk(&mut chain, 4000));
        assert!(
            steered > before + 200,
            "talk clips: {before} before, {steered} with talk=1"
        );
        chain.set_signals(signal(-1.0)).expect("signals");
        let away = talk(&walk(&mut chain, 4000));
        assert!(away + 200 < before, "talk clips: {away} with talk=-1");
        assert_eq!(chain.signals()[0].value, -1.0);
    }
}
