//! The Markov chain that picks clip after clip, enforcing the hard rules on top of
//! the base weights: never the same clip twice in a row, nothing from the recent
//! history window while something else is allowed, and (optionally) no n-gram twice.
//!
//! Picks are drawn from the base row by rejection (cheap: one lookup in the row's
//! alias table per try) and fall back to an exact draw over the allowed set after a
//! few rejections. Both paths yield the base weights renormalised over the allowed clips.

use crate::weights::WeightModel;
use rand_chacha::rand_core::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::collections::{HashSet, VecDeque};
use std::rc::Rc;

/// Rejection tries before the exact draw.
const MAX_TRIES: usize = 24;
const NEVER: u64 = u64::MAX;

/// Remembers every n-gram of picks so that none is played twice.
struct NgramGuard {
    n: usize,
    seen: HashSet<Vec<u32>>,
    recent: VecDeque<u32>,
    scratch: Vec<u32>,
}

impl NgramGuard {
    fn would_repeat(&mut self, b: usize) -> bool {
        if self.recent.len() + 1 < self.n {
            return false;
        }
        self.scratch.clear();
        self.scratch.extend(self.recent.iter().copied());
        self.scratch.push(b as u32);
        self.seen.contains(&self.scratch)
    }

    fn record(&mut self, b: usize) {
        if self.recent.len() + 1 == self.n {
            let mut gram: Vec<u32> = self.recent.iter().copied().collect();
            gram.push(b as u32);
            self.seen.insert(gram);
        }
        self.recent.push_back(b as u32);
        if self.recent.len() >= self.n {
            self.recent.pop_front();
        }
    }
}

/// A seeded walk over the clips.
pub struct Chain {
    model: Rc<WeightModel>,
    /// Base weights per predecessor, built on first use.
    rows: Vec<Option<Rc<AliasTable>>>,
    initial: Rc<AliasTable>,
    /// Position of each clip's latest pick, or [`NEVER`].
    last_used: Vec<u64>,
    pos: u64,
    history: u64,
    ngrams: Option<NgramGuard>,
    rng: ChaCha8Rng,
    prev: Option<usize>,
    scratch: Vec<(usize, f64)>,
}

/// Walker's alias table for one row of weights: a draw costs one random number and
/// at most two memory reads, whatever the number of clips. (A binary search over
/// cumulative weights touches ten cache lines per draw at 1 000 clips, which
/// dominated planning time.) Keeps the weights for the exact fallback draw.
struct AliasTable {
    weights: Box<[f64]>,
    prob: Box<[f64]>,
    alias: Box<[u32]>,
}

impl AliasTable {
    /// Vose's construction; deterministic because the work lists are plain stacks.
    fn new(weights: Box<[f64]>) -> Self {
        let n = weights.len();
        let total: f64 = weights.iter().sum();
        let mut prob: Box<[f64]> = weights.iter().map(|w| w * n as f64 / total).collect();
        let mut alias: Box<[u32]> = vec![0; n].into_boxed_slice();
        let (mut small, mut large): (Vec<usize>, Vec<usize>) = (0..n).partition(|&i| prob[i] < 1.0);
        while let (Some(&s), Some(&l)) = (small.last(), large.last()) {
            small.pop();
            alias[s] = l as u32;
            prob[l] -= 1.0 - prob[s];
            if prob[l] < 1.0 {
                large.pop();
                small.push(l);
            }
        }
        // Leftovers are 1 up to rounding; a zero weight must never become drawable.
        let fallback = weights.iter().position(|&w| w > 0.0).unwrap_or(0) as u32;
        for i in small.into_iter().chain(large) {
            if weights[i] > 0.0 {
                prob[i] = 1.0;
            } else {
                prob[i] = 0.0;
                alias[i] = fallback;
            }
        }
        AliasTable {
            weights,
            prob,
            alias,
        }
    }

    fn draw(&self, u: f64) -> usize {
        let n = self.prob.len();
        let scaled = u * n as f64;
        let i = (scaled as usize).min(n - 1);
        if scaled - (i as f64) < self.prob[i] {
            i
        } else {
            self.alias[i] as usize
        }
    }
}

fn table(weights: impl Iterator<Item = f64>) -> Rc<AliasTable> {
    Rc::new(AliasTable::new(weights.collect()))
}

impl Chain {
    /// `history` is the hard window (already fitted to the library); `avoid_ngrams`
    /// of 2 or more turns the n-gram rule on.
    pub fn new(
        model: Rc<WeightModel>,
        seed: u64,
        history: usize,
        avoid_ngrams: Option<usize>,
    ) -> Self {
        let n = model.len();
        Chain {
            rows: vec![None; n],
            initial: table((0..n).map(|b| model.initial(b))),
            model,
            last_used: vec![NEVER; n],
            pos: 0,
            history: history as u64,
            ngrams: avoid_ngrams.filter(|&k| k >= 2).map(|k| NgramGuard {
                n: k,
                seen: HashSet::new(),
                recent: VecDeque::with_capacity(k),
                scratch: Vec::with_capacity(k),
            }),
            rng: ChaCha8Rng::seed_from_u64(seed),
            prev: None,
            scratch: Vec::with_capacity(n),
        }
    }

    /// A uniform number in [0, 1) from the top 53 bits: the same on every machine.
    fn uniform(&mut self) -> f64 {
        (self.rng.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// How many picks ago `b` was used (1 = the previous pick), or `None` if never.
    fn age(&self, b: usize) -> Option<u64> {
        let used = self.last_used[b];
        (used != NEVER).then(|| self.pos - used)
    }

    fn in_history(&self, b: usize) -> bool {
        self.age(b).is_some_and(|age| age <= self.history)
    }

    fn allowed(&mut self, b: usize, check_ngrams: bool) -> bool {
        if self.prev == Some(b) && self.model.len() > 1 {
            return false;
        }
        if self.in_history(b) {
            return false;
        }
        !(check_ngrams && self.ngrams.as_mut().is_some_and(|g| g.would_repeat(b)))
    }

    /// Goes on with other weights (a live signal change): the history, n-grams,
    /// previous pick and random stream carry on, so the walk stays deterministic.
    pub fn set_model(&mut self, model: Rc<WeightModel>) {
        let n = model.len();
        self.rows = vec![None; n];
        self.initial = table((0..n).map(|b| model.initial(b)));
        self.model = model;
    }

    /// The next clip of the sequence.
    pub fn next_clip(&mut self) -> usize {
        let pick = self.draw();
        self.record(pick);
        pick
    }

    /// Takes `pick` as the next clip without drawing (a clip queued by hand): it
    /// enters the history like any other.
    pub fn force_next(&mut self, pick: usize) {
        self.record(pick);
    }

    fn record(&mut self, pick: usize) {
        self.last_used[pick] = self.pos;
        self.pos += 1;
        if let Some(g) = self.ngrams.as_mut() {
            g.record(pick);
        }
        self.prev = Some(pick);
    }

    fn draw(&mut self) -> usize {
        let row = match self.prev {
            None => Rc::clone(&self.initial),
            Some(a) => {
                let model = &self.model;
                Rc::clone(
                    self.rows[a]
                        .get_or_insert_with(|| table((0..model.len()).map(|b| model.weight(a, b)))),
                )
            }
        };
        for _ in 0..MAX_TRIES {
            let b = row.draw(self.uniform());
            if self.allowed(b, true) {
                return b;
            }
        }
        self.draw_exact(&row.weights)
    }

    /// Draws over the allowed set, relaxing rules in order when nothing is allowed:
    /// first the n-gram rule, then the history window (recent clips then count with
    /// a weight that grows with their age).
    fn draw_exact(&mut self, row: &[f64]) -> usize {
        let weight = |b: usize| row[b];
        for check_ngrams in [true, false] {
            self.scratch.clear();
            for b in 0..row.len() {
                let w = weight(b);
                if w > 0.0 && self.allowed(b, check_ngrams) {
                    self.scratch.push((b, w));
                }
            }
            if !self.scratch.is_empty() {
                return self.pick_from_scratch();
            }
        }
        self.scratch.clear();
        for b in 0..row.len() {
            let w = weight(b);
            if w > 0.0 && !(self.prev == Some(b) && row.len() > 1) {
                let recency = match self.age(b) {
                    Some(age) if age <= self.history => age as f64 / (self.history + 1) as f64,
                    _ => 1.0,
                };
                self.scratch.push((b, w * recency));
            }
        }
        if self.scratch.is_empty() {
            // The model was checked for successors up front; stay put rather than panic.
            return self.prev.unwrap_or(0);
        }
        self.pick_from_scratch()
    }

    fn pick_from_scratch(&mut self) -> usize {
        let total: f64 = self.scratch.iter().map(|&(_, w)| w).sum();
        let mut u = self.uniform() * total;
        for &(b, w) in &self.scratch {
            if u < w {
                return b;
            }
            u -= w;
        }
        self.scratch.last().map(|&(b, _)| b).unwrap_or(0)
    }
}
