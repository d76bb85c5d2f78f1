//! A small seeded generator for choosing which user each request touches. Statistical quality
//! only matters enough to spread requests over the seeded users; nothing here is a secret.

/// SplitMix64 (Steele, Lea and Flood 2014): one u64 of state, passes BigCrush.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n`; the modulo bias is negligible for n far below 2^64. `n` must be above 0.
    pub fn below(&mut self, n: usize) -> usize {
        // usize fits in u64 on every supported target, and the result is below n.
        (self.next_u64() % n as u64) as usize
    }
}

/// A seed from the OS random source, so runs do not all hit the same users in the same order.
pub fn os_seed() -> Result<u64, String> {
    getrandom::u64().map_err(|e| format!("cannot read the OS random source: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn below_stays_in_range_and_varies() {
        let mut rng = Rng::new(1);
        let picks: Vec<usize> = (0..1000).map(|_| rng.below(10)).collect();
        assert!(picks.iter().all(|&p| p < 10));
        assert!((0..10).all(|v| picks.contains(&v)));
    }
}
