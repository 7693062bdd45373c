//! The Markov chain that picks clip after clip, enforcing the hard rules on top of
//! the base weights: never the same clip twice in a row, nothing from the recent
//! history window while something else is allowed, and (optionally) no n-gram twice.
//!
//! Picks are drawn from the base row by rejection (cheap: one lookup in the row's
//! alias table per try) and fall back to an exact draw over the allowed set after a
//! few rejections. Both paths yield the base weights renormalised over the allowed clips.

use crate::recency::Recency;
use crate::weights::WeightModel;
use rand_chacha::rand_core::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasherDefault, Hasher};
use std::rc::Rc;

/// Rejection tries before the exact draw.
const MAX_TRIES: usize = 24;
const NEVER: u64 = u64::MAX;

/// How many of the latest picks the n-gram rule remembers: more than a day of 5-second
/// clips. A plan or stream longer than this may replay a run last played more than
/// this many picks ago; the memory of an endless stream stays bounded (about 50 bytes
/// per remembered n-gram), and a small map stays in cache (100 000 made planning a
/// million picks 40 % slower).
pub const NGRAM_MEMORY: usize = 20_000;

/// Remembers the n-grams of the latest [`NGRAM_MEMORY`] picks so that none is played
/// twice. An n-gram is remembered by a 64-bit hash of its clips: two different
/// n-grams sharing one (odds about 10⁻¹¹ with a full memory) would only make the walk
/// avoid a run it never played, and the same way on every machine.
struct NgramGuard {
    n: usize,
    /// How many times each remembered n-gram was played.
    seen: HashMap<u64, u32, BuildHasherDefault<PassThrough>>,
    /// The remembered n-grams, oldest first, so the oldest can be forgotten.
    order: VecDeque<u64>,
    /// The last `n − 1` picks.
    recent: VecDeque<u32>,
}

/// The n-gram keys are hashes already: the map uses them as they are.
#[derive(Default)]
struct PassThrough(u64);

impl Hasher for PassThrough {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }

    fn write_u64(&mut self, v: u64) {
        self.0 = v;
    }
}

/// A hash of a run of clips (SplitMix64's finaliser over each index in turn).
fn gram_hash(clips: impl Iterator<Item = u32>) -> u64 {
    clips.fold(0x243F_6A88_85A3_08D3, |h, c| {
        let mut z = (h ^ u64::from(c)).wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    })
}

impl NgramGuard {
    fn new(n: usize) -> Self {
        NgramGuard {
            n,
            seen: HashMap::default(),
            order: VecDeque::new(),
            recent: VecDeque::with_capacity(n),
        }
    }

    fn would_repeat(&self, b: usize) -> bool {
        self.times_played(b) > 0
    }

    /// How many times the n-gram that `b` would complete was played (remembered ones).
    fn times_played(&self, b: usize) -> u32 {
        if self.recent.len() + 1 < self.n {
            return 0;
        }
        let gram = gram_hash(self.recent.iter().copied().chain([b as u32]));
        self.seen.get(&gram).copied().unwrap_or(0)
    }

    /// Whether `c` would complete a played n-gram once the picks of `path` were made.
    fn would_repeat_along(&self, path: &[usize], c: usize) -> bool {
        let have = self.recent.len() + path.len() + 1;
        if have < self.n {
            return false;
        }
        let picks = self
            .recent
            .iter()
            .copied()
            .chain(path.iter().map(|&p| p as u32))
            .chain([c as u32]);
        self.seen
            .contains_key(&gram_hash(picks.skip(have - self.n)))
    }

    fn record(&mut self, b: usize) {
        if self.recent.len() + 1 == self.n {
            let gram = gram_hash(self.recent.iter().copied().chain([b as u32]));
            *self.seen.entry(gram).or_insert(0) += 1;
            self.order.push_back(gram);
            if self.order.len() > NGRAM_MEMORY {
                self.forget_oldest();
            }
        }
        self.recent.push_back(b as u32);
        if self.recent.len() >= self.n {
            self.recent.pop_front();
        }
    }

    fn forget_oldest(&mut self) {
        let Some(gram) = self.order.pop_front() else {
            return;
        };
        if let Some(count) = self.seen.get_mut(&gram) {
            *count -= 1;
            if *count == 0 {
                self.seen.remove(&gram);
            }
        }
    }
}

/// How many of a clip's best successors are kept in order: foresight looks through
/// them for one the rules still allow, and a draw that rejection could not settle
/// looks through them before it looks at every clip.
const BEST_KEPT: usize = 64;

/// How many picks foresight looks beyond a candidate in a library of at most
/// [`DEEP_FORESIGHT_CLIPS`] clips, where the history and n-gram rules often close a
/// clip's good continuations. Larger libraries leave the rules little to close and
/// go without (foresight tripled the time of planning a million picks over 1 000
/// clips).
const FORESIGHT_DEPTH: usize = 3;
const DEEP_FORESIGHT_CLIPS: usize = 256;

/// The most starved clips (the longest absent first) one draw considers: the
/// longest absent have the largest boost; more cost a cache miss each per pick.
const STARVED_AT_ONCE: usize = 2;

/// How fast a starved clip's weight grows, in e-folds per pick.
const BOOST_PER_PICK: f64 = 0.5;

/// The largest boost of a starved clip, in e-folds (e^700 still fits an f64).
const MAX_BOOST: f64 = 700.0;

/// The cost of a path that finds nothing allowed: worse than any seam.
const DEAD_END: f64 = 1000.0;

/// A draw over a row's best successors stops once the weight it has not looked at
/// is below this share of what it found: a difference no seed could show.
const NEGLIGIBLE: f64 = 1e-12;

/// A clip's heaviest successors, heaviest first, and the weight of all the others.
struct BestSuccessors {
    list: Box<[(u32, f64)]>,
    rest: f64,
}

impl BestSuccessors {
    /// The list holds all the weight that could matter to a draw.
    fn holds_the_row(&self) -> bool {
        self.list
            .first()
            .is_some_and(|&(_, top)| self.rest <= NEGLIGIBLE * top)
    }
}

/// A seeded walk over the clips.
pub struct Chain {
    model: Rc<WeightModel>,
    /// Base weights per predecessor, built on first use.
    rows: Vec<Option<Rc<AliasTable>>>,
    /// Picks foresight looks ahead (see [`FORESIGHT_DEPTH`]).
    foresight_depth: usize,
    /// Each clip's best successors and their weights, best first, built on first use
    /// (foresight only).
    best_next: Vec<Option<Rc<BestSuccessors>>>,
    initial: Rc<AliasTable>,
    /// Position of each clip's latest pick, or [`NEVER`].
    last_used: Vec<u64>,
    /// Clips from the longest unplayed on: the starvation rule looks at the front.
    recency: Recency,
    pos: u64,
    history: u64,
    ngrams: Option<NgramGuard>,
    /// The same rule one clip longer, for when every choice replays an n-gram.
    longer: Option<NgramGuard>,
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
    total: f64,
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
            total,
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

fn foresight_depth(model: &WeightModel) -> usize {
    if model.usable() <= DEEP_FORESIGHT_CLIPS {
        FORESIGHT_DEPTH
    } else {
        0
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
            best_next: vec![None; n],
            foresight_depth: foresight_depth(&model),
            initial: table((0..n).map(|b| model.initial(b))),
            model,
            last_used: vec![NEVER; n],
            recency: Recency::new(n),
            pos: 0,
            history: history as u64,
            ngrams: avoid_ngrams.filter(|&k| k >= 2).map(NgramGuard::new),
            longer: avoid_ngrams
                .filter(|&k| k >= 2)
                .map(|k| NgramGuard::new(k + 1)),
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
        self.best_next = vec![None; n];
        self.foresight_depth = foresight_depth(&model);
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
        self.recency.played(pick);
        self.last_used[pick] = self.pos;
        self.pos += 1;
        for guard in [&mut self.ngrams, &mut self.longer].into_iter().flatten() {
            guard.record(pick);
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
        let foresight = self.prev.is_some() && self.model.foresight();
        if foresight {
            if let Some(pick) = self.draw_starved(&row) {
                return pick;
            }
        }
        // Sharp rows: going down the few heavy successors beats rejection, whose
        // tries mostly meet the favourites just played.
        let sharp = self
            .prev
            .filter(|_| foresight)
            .is_some_and(|a| self.best_successors(a).holds_the_row());
        if sharp {
            if let Some(pick) = self.draw_from_best(&row) {
                return pick;
            }
        }
        for _ in 0..MAX_TRIES {
            let b = row.draw(self.uniform());
            if !self.allowed(b, true) {
                continue;
            }
            // Accepting with the outlook's probability draws ∝ weight × outlook.
            if !foresight || self.uniform() < self.outlook(b) {
                return b;
            }
        }
        // (A sharp row's walk has failed already, and would again: nothing changed.)
        if foresight && !sharp {
            if let Some(pick) = self.draw_from_best(&row) {
                return pick;
            }
        }
        self.draw_exact(&row.weights, foresight)
    }

    /// The starvation rule of similarity weights: sharp weights would leave a clip
    /// whose seams are all poor out for good. A clip (that the weights and signals
    /// allow at all) absent for more picks than the library has clips gains e^0.5
    /// (1.65×) in weight for every pick further, so it comes back soon, and at the best
    /// seam into it the next picks offer rather than at once. The draw is then over
    /// the (up to [`STARVED_AT_ONCE`]) longest-absent clips and the previous clip's
    /// heaviest successors (the weight beyond the 64 heaviest is left out).
    fn draw_starved(&mut self, row: &AliasTable) -> Option<usize> {
        let patience = self.model.usable() as u64;
        // Picks since `b` was last played (never counts from before the first pick).
        let absent = |b: usize| self.age(b).unwrap_or(self.pos + 1);
        let starved: Vec<(usize, u64)> = self
            .recency
            .oldest_first()
            .map(|b| (b, absent(b)))
            .take_while(|&(_, age)| age > patience)
            .filter(|&(b, _)| self.model.initial(b) > 0.0)
            .map(|(b, age)| (b, age - patience))
            .take(STARVED_AT_ONCE)
            .collect();
        if starved.is_empty() {
            return None;
        }
        let a = self.prev?;
        self.scratch.clear();
        let mut found = 0.0;
        for &(b, excess) in &starved {
            let w = row.weights[b];
            if w > 0.0 && self.allowed(b, true) {
                let boost = (excess as f64 * BOOST_PER_PICK).min(MAX_BOOST);
                let v = w * self.outlook(b) * libm::exp(boost);
                if v > 0.0 {
                    found += v;
                    self.scratch.push((b, v));
                }
            }
        }
        // The previous clip's heaviest successors compete, as in `draw_from_best`.
        let skip: Vec<usize> = starved.iter().map(|&(b, _)| b).collect();
        self.add_best_successors(row, a, &skip, found);
        if self.scratch.is_empty() {
            return None;
        }
        Some(self.pick_from_scratch())
    }

    /// The exact draw with foresight when the weight sits on a few successors (sharp
    /// similarity weights, where rejection fails because the favourites were just
    /// played): goes down the previous clip's best successors until what is left
    /// could not matter. `None` when that is not settled within [`BEST_KEPT`].
    fn draw_from_best(&mut self, row: &AliasTable) -> Option<usize> {
        let a = self.prev?;
        self.scratch.clear();
        self.add_best_successors(row, a, &[], 0.0)
            .then(|| self.pick_from_scratch())
    }

    /// Adds `a`'s heaviest allowed successors (but those in `skip`) to the candidates,
    /// weighted by their outlook, until the weight not looked at could not matter
    /// beside what was `found` (returns whether it got there).
    fn add_best_successors(
        &mut self,
        row: &AliasTable,
        a: usize,
        skip: &[usize],
        mut found: f64,
    ) -> bool {
        let best = self.best_successors(a);
        let mut seen = 0.0;
        for &(b, w) in best.list.iter() {
            let b = b as usize;
            seen += w;
            if !skip.contains(&b) && self.allowed(b, true) {
                let v = w * self.outlook(b);
                if v > 0.0 {
                    found += v;
                    self.scratch.push((b, v));
                }
            }
            if found > 0.0 && row.total - seen <= NEGLIGIBLE * found {
                return true;
            }
        }
        false
    }

    /// Foresight: how good the seams the rules would still allow after `b` are,
    /// looking [`FORESIGHT_DEPTH`] picks ahead: e^(−cost) of the cheapest path the
    /// history and n-gram rules allow, each step costing
    /// [`WeightModel::path_cost`] (1 when every step could be the library's best
    /// seam, near 0 when every path soon meets a bad one). The chain multiplies a
    /// pick's weight by it, so it does not walk into a clip whose good continuations
    /// the rules have just used up, or that has none.
    fn outlook(&mut self, b: usize) -> f64 {
        if self.foresight_depth == 0 {
            return 1.0;
        }
        let mut path = vec![b];
        let cost = self.cheapest_path(&mut path, 0.0, f64::INFINITY);
        libm::exp(-cost)
    }

    /// Depth-first branch and bound over `path`'s continuations, cheapest first (a
    /// row's heaviest successors are its cheapest): a branch stops as soon as it
    /// cannot beat `bound`. Returns the cost of the cheapest continuation below
    /// `bound` (or `bound`).
    fn cheapest_path(&mut self, path: &mut Vec<usize>, spent: f64, mut bound: f64) -> f64 {
        if path.len() > self.foresight_depth {
            return spent;
        }
        let last = path[path.len() - 1];
        let best = self.best_successors(last);
        let mut open = false;
        for &(c, _) in best.list.iter() {
            let step = spent + self.model.path_cost(last, c as usize);
            if step >= bound {
                return bound;
            }
            if !self.allowed_along(path, c as usize) {
                continue;
            }
            open = true;
            path.push(c as usize);
            bound = bound.min(self.cheapest_path(path, step, bound));
            path.pop();
        }
        if open || best.list.len() < BEST_KEPT {
            return if open {
                bound
            } else {
                bound.min(spent + DEAD_END)
            };
        }
        // None of the heaviest is allowed: the cheapest allowed of all, one step only.
        let step = (0..self.model.len())
            .filter(|&c| self.model.weight(last, c) > 0.0 && self.allowed_along(path, c))
            .map(|c| spent + self.model.path_cost(last, c))
            .fold(spent + DEAD_END, f64::min);
        bound.min(step)
    }

    /// Whether the rules would allow `c` once the picks of `path` were made.
    fn allowed_along(&self, path: &[usize], c: usize) -> bool {
        if path.last() == Some(&c) && self.model.len() > 1 {
            return false;
        }
        let ahead = path.len() as u64;
        let window = self.history as usize;
        if path.iter().rev().take(window).any(|&p| p == c) {
            return false;
        }
        // The path makes every clip `ahead` picks older.
        if self.age(c).is_some_and(|age| age + ahead <= self.history) {
            return false;
        }
        !self
            .ngrams
            .as_ref()
            .is_some_and(|g| g.would_repeat_along(path, c))
    }

    fn best_successors(&mut self, b: usize) -> Rc<BestSuccessors> {
        let model = &self.model;
        Rc::clone(self.best_next[b].get_or_insert_with(|| {
            let mut order: Vec<(u32, f64)> = (0..model.len())
                .map(|c| (c as u32, model.weight(b, c)))
                .filter(|&(_, w)| w > 0.0)
                .collect();
            let total: f64 = order.iter().map(|&(_, w)| w).sum();
            // Heaviest first, ties by index, so the walk stays deterministic.
            let heavier = |x: &(u32, f64), y: &(u32, f64)| y.1.total_cmp(&x.1).then(x.0.cmp(&y.0));
            if order.len() > BEST_KEPT {
                order.select_nth_unstable_by(BEST_KEPT - 1, heavier);
                order.truncate(BEST_KEPT);
            }
            order.sort_unstable_by(heavier);
            let kept: f64 = order.iter().map(|&(_, w)| w).sum();
            Rc::new(BestSuccessors {
                list: order.into(),
                rest: (total - kept).max(0.0),
            })
        }))
    }

    /// Draws over the allowed set, relaxing rules in order when nothing is allowed:
    /// first the n-gram rule, then the history window (recent clips then count with
    /// a weight that grows with their age). With foresight, weights are multiplied by
    /// each pick's outlook unless every outlook is zero.
    fn draw_exact(&mut self, row: &[f64], foresight: bool) -> usize {
        for check_ngrams in [true, false] {
            self.scratch.clear();
            for (b, &w) in row.iter().enumerate() {
                if w > 0.0 && self.allowed(b, check_ngrams) {
                    self.scratch.push((b, w));
                }
            }
            if !self.scratch.is_empty() {
                if !check_ngrams && self.ngrams.is_some() {
                    self.relax_ngrams(foresight);
                } else if foresight {
                    self.apply_outlook();
                }
                return self.pick_from_scratch();
            }
        }
        self.scratch.clear();
        for (b, &w) in row.iter().enumerate() {
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

    /// When every candidate replays an n-gram (a small library runs out of new ones
    /// soon): keeps those whose n-gram one clip longer was played the fewest times,
    /// drawn by weight and outlook, so the walk spreads its repeats over many runs
    /// instead of replaying its best run, and still prefers good seams.
    fn relax_ngrams(&mut self, foresight: bool) {
        let Some(guard) = self.longer.as_ref() else {
            return;
        };
        let mut candidates = std::mem::take(&mut self.scratch);
        let played: Vec<u32> = candidates
            .iter()
            .map(|&(b, _)| guard.times_played(b))
            .collect();
        let fewest = played.iter().copied().min().unwrap_or(0);
        let mut i = 0;
        candidates.retain(|_| {
            i += 1;
            played[i - 1] == fewest
        });
        self.scratch = candidates;
        if foresight {
            self.apply_outlook();
        }
    }

    /// Multiplies the candidates' weights by their outlook, unless that leaves none.
    fn apply_outlook(&mut self) {
        let mut candidates = std::mem::take(&mut self.scratch);
        let outlooks: Vec<f64> = candidates.iter().map(|&(b, _)| self.outlook(b)).collect();
        if outlooks
            .iter()
            .zip(&candidates)
            .any(|(o, &(_, w))| o * w > 0.0)
        {
            for ((_, w), o) in candidates.iter_mut().zip(outlooks) {
                *w *= o;
            }
        }
        self.scratch = candidates;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::ClipInfo;
    use crate::weights::{ModeSpec, SeamMatrix};

    fn similarity(clips: &[ClipInfo]) -> Rc<WeightModel> {
        let seams = SeamMatrix::from_clips(clips);
        let model = WeightModel::new(
            &ModeSpec::Similarity { sigma_scale: 1.0 },
            &seams,
            vec![1.0; clips.len()],
        );
        Rc::new(model.unwrap_or_else(|e| panic!("{e}")))
    }

    fn clip(name: &str, head: u8, tail: u8) -> ClipInfo {
        let fps = crate::Rational::new(30, 1).unwrap_or_else(|| unreachable!());
        ClipInfo::synthetic(name, 90, fps, head, tail)
    }

    #[test]
    fn foresight_avoids_a_clip_whose_good_continuation_was_just_used() {
        // From `a`, `b` is the closer match but its only good successor `d` was just
        // played (history 3); `c` is almost as close and `e` follows it well.
        let clips = [
            clip("a", 240, 100),
            clip("b", 101, 10),
            clip("c", 103, 200),
            clip("d", 10, 160),
            clip("e", 200, 60),
            clip("f", 130, 230),
        ];
        let model = similarity(&clips);
        let (mut via_b, mut via_c) = (0, 0);
        for seed in 0..200 {
            let mut chain = Chain::new(Rc::clone(&model), seed, 3, None);
            for forced in [5, 3, 0] {
                chain.force_next(forced);
            }
            match chain.next_clip() {
                1 => via_b += 1,
                2 => via_c += 1,
                _ => {}
            }
        }
        assert!(
            via_c > 3 * via_b,
            "foresight should prefer c (then e) over b (then a bad seam): b {via_b}, c {via_c}"
        );
        // Without the blocked continuation, b's closer seam wins.
        let mut chain = Chain::new(Rc::clone(&model), 1, 3, None);
        chain.force_next(0);
        assert_eq!(chain.next_clip(), 1);
    }

    #[test]
    fn the_ngram_memory_is_bounded() {
        let mut guard = NgramGuard::new(3);
        let n = NGRAM_MEMORY + 5000;
        for i in 0..n {
            guard.record(i);
        }
        assert_eq!(guard.order.len(), NGRAM_MEMORY);
        assert_eq!(guard.seen.len(), NGRAM_MEMORY);
        // The latest n-grams are remembered, the oldest forgotten.
        let mut probe = NgramGuard::new(3);
        probe.seen = guard.seen.clone();
        probe.recent = [n - 3, n - 2].iter().map(|&c| c as u32).collect();
        assert!(probe.would_repeat(n - 1));
        probe.recent = [0u32, 1].into_iter().collect();
        assert!(!probe.would_repeat(2));
    }

    #[test]
    fn would_repeat_along_looks_ahead() {
        let mut guard = NgramGuard::new(3);
        for c in [1, 2, 3, 4] {
            guard.record(c);
        }
        // Played: 1 2 3 and 2 3 4; recent = 3 4, so 2 then 3 makes 4 2 3: new.
        assert!(!guard.would_repeat_along(&[2], 3));
        let mut guard = NgramGuard::new(3);
        for c in [1, 2, 3, 1] {
            guard.record(c);
        }
        // recent = 3 1; picking 2 then 3 would make 1 2 3 again.
        assert!(guard.would_repeat_along(&[2], 3));
        assert!(!guard.would_repeat_along(&[2], 4));
        // Two picks ahead: 2 then 3 then 4 makes 2 3 4, played.
        let mut guard = NgramGuard::new(3);
        for c in [2, 3, 4, 1] {
            guard.record(c);
        }
        assert!(guard.would_repeat_along(&[2, 3], 4));
        assert!(!guard.would_repeat_along(&[2, 3], 5));
    }
}
