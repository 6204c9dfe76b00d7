//! The project's one pseudo-random generator (xorshift64*), deterministic and seedable: the
//! benchmark's Codex-home generator and the randomized tests (the crash harness, the fuzz
//! properties) replay a run from the seed they print. Nothing secret or security-relevant may
//! come from it.

/// xorshift64* (Vigna): 64 bits of state, never zero.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator for `seed`, scrambled so that nearby seeds give unrelated sequences.
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    /// A generator whose state is exactly `state` (zero, a stuck state, becomes one): how a
    /// test replays the seed it printed.
    pub fn from_state(state: u64) -> Rng {
        Rng(state.max(1))
    }

    /// The next value of the sequence.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform-ish in `0..n`; `0` (without drawing) when `n` is 0.
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 { 0 } else { self.next_u64() % n }
    }

    /// An index into something of length `n` (`0` when `n` is 0).
    pub fn index(&mut self, n: usize) -> usize {
        self.below(n as u64) as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_seed_replays_the_same_sequence_and_zero_is_not_stuck() {
        let (mut a, mut b) = (Rng::new(7), Rng::new(7));
        let xs: Vec<u64> = (0..8).map(|_| a.next_u64()).collect();
        assert_eq!(xs, (0..8).map(|_| b.next_u64()).collect::<Vec<_>>());
        let mut z = Rng::from_state(0);
        assert_ne!(z.next_u64(), z.next_u64());
        assert_eq!(z.below(0), 0);
        assert!((0..100).all(|_| z.below(3) < 3));
    }
}
