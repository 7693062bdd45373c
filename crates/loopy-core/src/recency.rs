//! Clips ordered from the longest unplayed to the latest played: the chain's
//! starvation rule looks at the front. A pick moves one clip to the back, so the order
//! is a doubly linked list over clip indexes (constant time a pick, where an ordered
//! set cost a noticeable share of planning a million picks).

const NIL: u32 = u32::MAX;

#[derive(Debug, Clone)]
pub struct Recency {
    prev: Vec<u32>,
    next: Vec<u32>,
    head: u32,
    tail: u32,
}

impl Recency {
    /// `n` clips, none played yet, in index order.
    pub fn new(n: usize) -> Self {
        let n = n as u32;
        Recency {
            prev: (0..n).map(|i| if i == 0 { NIL } else { i - 1 }).collect(),
            next: (0..n)
                .map(|i| if i + 1 == n { NIL } else { i + 1 })
                .collect(),
            head: if n == 0 { NIL } else { 0 },
            tail: if n == 0 { NIL } else { n - 1 },
        }
    }

    /// `clip` was just played: it goes to the back.
    pub fn played(&mut self, clip: usize) {
        let c = clip as u32;
        if self.tail == c || clip >= self.prev.len() {
            return;
        }
        let (p, n) = (self.prev[clip], self.next[clip]);
        if p == NIL {
            self.head = n;
        } else {
            self.next[p as usize] = n;
        }
        if n != NIL {
            self.prev[n as usize] = p;
        }
        self.prev[clip] = self.tail;
        self.next[clip] = NIL;
        if self.tail != NIL {
            self.next[self.tail as usize] = c;
        }
        self.tail = c;
        if self.head == NIL {
            self.head = c;
        }
    }

    /// Clips from the longest unplayed on.
    pub fn oldest_first(&self) -> impl Iterator<Item = usize> + '_ {
        std::iter::successors((self.head != NIL).then_some(self.head), |&c| {
            let n = self.next[c as usize];
            (n != NIL).then_some(n)
        })
        .map(|c| c as usize)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_played_clip_goes_to_the_back() {
        let mut r = Recency::new(4);
        assert_eq!(r.oldest_first().collect::<Vec<_>>(), [0, 1, 2, 3]);
        r.played(1);
        r.played(0);
        assert_eq!(r.oldest_first().collect::<Vec<_>>(), [2, 3, 1, 0]);
        r.played(0);
        r.played(3);
        assert_eq!(r.oldest_first().collect::<Vec<_>>(), [2, 1, 0, 3]);
        r.played(2);
        assert_eq!(r.oldest_first().collect::<Vec<_>>(), [1, 0, 3, 2]);
        let mut one = Recency::new(1);
        one.played(0);
        assert_eq!(one.oldest_first().collect::<Vec<_>>(), [0]);
        assert_eq!(Recency::new(0).oldest_first().count(), 0);
    }
}
