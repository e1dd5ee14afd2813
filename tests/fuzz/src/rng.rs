//! The randomness of one input: a generator seeded by (run seed, input index), so any input
//! is made again on its own for a replay, without making the inputs before it.

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

pub struct Gen {
    rng: SmallRng,
}

impl Gen {
    pub fn new(seed: u64, index: u64) -> Gen {
        // One stream per (seed, index); `seed_from_u64` spreads the bits (PCG), so
        // neighbouring indexes still get unrelated streams.
        let key = seed.rotate_left(32) ^ index.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        Gen {
            rng: SmallRng::seed_from_u64(key),
        }
    }

    pub fn chance(&mut self, p: f64) -> bool {
        self.rng.random_bool(p.clamp(0.0, 1.0))
    }

    /// `0..n`; 0 when `n` is 0.
    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            self.rng.random_range(0..n)
        }
    }

    /// `lo..=hi`.
    pub fn range(&mut self, lo: usize, hi: usize) -> usize {
        self.rng.random_range(lo..=hi.max(lo))
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    pub fn u64(&mut self) -> u64 {
        self.rng.random()
    }

    pub fn i64(&mut self) -> i64 {
        self.rng.random()
    }

    pub fn f64(&mut self) -> f64 {
        self.rng.random()
    }

    pub fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.rng.random()).collect()
    }

    /// Mostly small, now and then large: 1, 2, 3... halving in likelihood, capped at `max`.
    pub fn count(&mut self, max: usize) -> usize {
        let mut n = 1;
        while n < max && self.chance(0.5) {
            n += 1;
        }
        n
    }

    /// A size that is usually small but sometimes near a parser's limit or far past it.
    pub fn size(&mut self) -> usize {
        match self.below(50) {
            0 => self.range(1_000, 12_000),
            1..=4 => self.range(100, 1_000),
            _ => self.range(0, 12),
        }
    }
}
