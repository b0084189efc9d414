//! A small seeded random number generator owned by the core.
//!
//! Every random decision (backoff jitter, simulated latency and token counts) draws from
//! an [`Rng`] seeded by the caller, so that the same seed and the same inputs give the
//! same decisions on every driver and every platform.

use serde::{Deserialize, Serialize};

/// SplitMix64: tiny, fast, and identical on every target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rng {
    state: u64,
}

impl Rng {
    /// A generator whose whole future is fixed by `seed`.
    pub fn new(seed: u64) -> Self {
        Self { state: seed }
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A uniform number in `[0, 1)`.
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// A uniform integer in `0..=max`.
    pub fn up_to(&mut self, max: u64) -> u64 {
        if max == u64::MAX {
            return self.next_u64();
        }
        // Multiply-shift keeps the bias below 2^-64 per draw, which is plenty here.
        ((u128::from(self.next_u64()) * u128::from(max + 1)) >> 64) as u64
    }

    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        p > 0.0 && self.next_f64() < p
    }

    /// A standard normal draw (Box–Muller).
    pub fn normal(&mut self) -> f64 {
        self.normal_pair().0
    }

    /// Two independent standard normal draws: both halves of one Box–Muller transform,
    /// for the price of one.
    pub fn normal_pair(&mut self) -> (f64, f64) {
        let u1 = 1.0 - self.next_f64();
        let u2 = self.next_f64();
        let radius = libm::sqrt(-2.0 * libm::log(u1));
        let (sin, cos) = libm::sincos(core::f64::consts::TAU * u2);
        (radius * cos, radius * sin)
    }

    /// A log-normal draw whose mean is `mean` and whose log has standard deviation `sigma`.
    pub fn log_normal(&mut self, mean: f64, sigma: f64) -> f64 {
        log_normal_of(self.normal(), mean, sigma)
    }

    /// A generator derived from this one, for an independent stream.
    pub fn fork(&mut self) -> Rng {
        Rng::new(self.next_u64())
    }
}

/// The log-normal value whose mean is `mean`, whose log has standard deviation `sigma`,
/// at the standard normal draw `z`.
pub fn log_normal_of(z: f64, mean: f64, sigma: f64) -> f64 {
    if mean <= 0.0 {
        return 0.0;
    }
    let mu = libm::log(mean) - sigma * sigma / 2.0;
    libm::exp(mu + sigma * z)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_gives_the_same_stream() {
        let mut a = Rng::new(7);
        let mut b = Rng::new(7);
        for _ in 0..100 {
            assert_eq!(a.next_u64(), b.next_u64());
        }
    }

    #[test]
    fn up_to_stays_in_range_and_reaches_both_ends() {
        let mut rng = Rng::new(1);
        let draws: alloc::vec::Vec<u64> = (0..1000).map(|_| rng.up_to(3)).collect();
        assert!(draws.iter().all(|&d| d <= 3));
        assert!(draws.contains(&0) && draws.contains(&3));
    }

    #[test]
    fn log_normal_has_the_requested_mean() {
        let mut rng = Rng::new(42);
        let n = 200_000;
        let sum: f64 = (0..n).map(|_| rng.log_normal(20.0, 0.6)).sum();
        let mean = sum / n as f64;
        assert!((mean - 20.0).abs() < 0.2, "mean {mean}");
    }
}
