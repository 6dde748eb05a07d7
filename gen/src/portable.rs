//! Randomness and arithmetic that give the same bits on every machine.
//!
//! `f64::exp` and `f64::ln` call the platform's maths library, whose last bit may differ between
//! systems; these versions use only IEEE 754 operations that are exactly rounded everywhere.
//! Indices are drawn as `u32` so that 32- and 64-bit builds consume the same random numbers.

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use std::f64::consts::LN_2;

/// The generator every random choice comes from.
pub type Random = ChaCha8Rng;

/// `e^x`, to within a few ulps, for |x| < 700.
pub fn exp(x: f64) -> f64 {
    let halvings = (x / LN_2).round();
    let rest = x - halvings * LN_2;
    let mut term = 1.0;
    let mut sum = 1.0;
    for n in 1..=24 {
        term *= rest / f64::from(n);
        sum += term;
    }
    sum * power_of_two(halvings)
}

/// The natural logarithm of a positive, finite, normal `x`.
pub fn ln(x: f64) -> f64 {
    let exponent = ((x.to_bits() >> 52) & 0x7ff) as i64 - 1023;
    let mantissa = f64::from_bits((x.to_bits() & !(0x7ff << 52)) | (1023 << 52));
    let s = (mantissa - 1.0) / (mantissa + 1.0);
    let s2 = s * s;
    let mut power = s;
    let mut sum = 0.0;
    for n in 0..40 {
        sum += power / f64::from(2 * n + 1);
        power *= s2;
    }
    exponent as f64 * LN_2 + 2.0 * sum
}

/// `base^exponent` for a non-negative `base` (0 for a base of 0 or below).
pub fn power(base: f64, exponent: f64) -> f64 {
    if base > 0.0 {
        exp(exponent * ln(base))
    } else {
        0.0
    }
}

/// A uniform draw in [0, 1) raised to `exponent`: above 1 it leans towards 0.
pub fn skewed(rng: &mut Random, exponent: f64) -> f64 {
    power(rng.r#gen::<f64>(), exponent)
}

fn power_of_two(exponent: f64) -> f64 {
    let clamped = exponent.clamp(-1000.0, 1000.0) as i32;
    2f64.powi(clamped)
}

/// A standard normal variate (Irwin–Hall sum of twelve uniforms: exact arithmetic only).
pub fn standard_normal(rng: &mut Random) -> f64 {
    (0..12).map(|_| rng.r#gen::<f64>()).sum::<f64>() - 6.0
}

/// A uniform index below `len` (which must be positive and fit in `u32`).
pub fn index(rng: &mut Random, len: usize) -> usize {
    let bound = u32::try_from(len).unwrap_or(u32::MAX).max(1);
    rng.gen_range(0..bound) as usize
}

/// A uniform integer in `low..=high`.
pub fn between(rng: &mut Random, low: u32, high: u32) -> u32 {
    rng.gen_range(low..=high.max(low))
}

/// True with probability `p`.
pub fn chance(rng: &mut Random, p: f64) -> bool {
    rng.r#gen::<f64>() < p
}

/// A uniformly chosen element, `None` for an empty slice.
pub fn pick<'a, T>(rng: &mut Random, items: &'a [T]) -> Option<&'a T> {
    if items.is_empty() {
        return None;
    }
    items.get(index(rng, items.len()))
}

/// A uniformly chosen string, empty for an empty list.
pub fn pick_str<'a>(rng: &mut Random, items: &'a [String]) -> &'a str {
    pick(rng, items).map_or("", String::as_str)
}

/// Shuffles in place (Fisher–Yates with `u32` indices).
pub fn shuffle<T>(rng: &mut Random, items: &mut [T]) {
    for last in (1..items.len()).rev() {
        items.swap(last, index(rng, last + 1));
    }
}

/// Choices by weight: cumulative sums searched by bisection.
#[derive(Debug, Clone)]
pub struct Weighted {
    cumulative: Vec<f64>,
}

impl Weighted {
    /// Choices `0..weights.len()`; non-positive weights are never chosen. `None` if none is
    /// positive.
    pub fn new(weights: impl IntoIterator<Item = f64>) -> Option<Weighted> {
        let mut total = 0.0;
        let cumulative: Vec<f64> = weights
            .into_iter()
            .map(|w| {
                total += w.max(0.0);
                total
            })
            .collect();
        (total > 0.0).then_some(Weighted { cumulative })
    }

    /// One choice.
    pub fn sample(&self, rng: &mut Random) -> usize {
        let total = self.cumulative.last().copied().unwrap_or(0.0);
        let target = rng.r#gen::<f64>() * total;
        let found = self.cumulative.partition_point(|&c| c <= target);
        found.min(self.cumulative.len().saturating_sub(1))
    }
}

/// A choice among labelled options by weight.
pub fn weighted_choice<T: Copy, const N: usize>(rng: &mut Random, options: &[(T, f64); N]) -> T {
    const { assert!(N > 0, "at least one option") };
    let total: f64 = options.iter().map(|(_, w)| w).sum();
    let mut target = rng.r#gen::<f64>() * total;
    for (option, weight) in options {
        if target < *weight {
            return *option;
        }
        target -= weight;
    }
    options[N - 1].0
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn exp_and_ln_agree_with_the_platform_to_a_few_ulps() {
        for x in [-9.5, -1.0, -0.3, 0.0, 0.2, 1.0, 2.5, 10.0, 17.3] {
            let relative = (exp(x) - x.exp()).abs() / x.exp();
            assert!(relative < 1e-14, "exp({x})");
        }
        for x in [1e-3, 0.5, 1.0, 1.5, 2.0, 10.0, 123_456.0, 5e7] {
            assert!((ln(x) - x.ln()).abs() < 1e-13, "ln({x})");
        }
        assert!((power(0.3, 1.7) - 0.3f64.powf(1.7)).abs() < 1e-14);
        assert_eq!(power(0.0, 1.7), 0.0);
    }

    #[test]
    fn normal_variates_are_centred_with_unit_spread() {
        let mut rng = Random::seed_from_u64(7);
        let draws: Vec<f64> = (0..20_000).map(|_| standard_normal(&mut rng)).collect();
        let mean = draws.iter().sum::<f64>() / draws.len() as f64;
        let variance = draws.iter().map(|d| (d - mean).powi(2)).sum::<f64>() / draws.len() as f64;
        assert!(mean.abs() < 0.03 && (variance - 1.0).abs() < 0.05);
    }

    #[test]
    fn weighted_choices_follow_their_weights_and_skip_zero() {
        let mut rng = Random::seed_from_u64(1);
        let weighted = Weighted::new([1.0, 0.0, 3.0]).unwrap();
        let mut counts = [0; 3];
        for _ in 0..8000 {
            counts[weighted.sample(&mut rng)] += 1;
        }
        assert_eq!(counts[1], 0);
        assert!((counts[2] as f64 / counts[0] as f64 - 3.0).abs() < 0.3);
        assert!(Weighted::new([0.0]).is_none());
    }

    #[test]
    fn shuffle_keeps_every_item() {
        let mut rng = Random::seed_from_u64(3);
        let mut items: Vec<u32> = (0..100).collect();
        shuffle(&mut rng, &mut items);
        assert_ne!(items, (0..100).collect::<Vec<_>>());
        items.sort_unstable();
        assert_eq!(items, (0..100).collect::<Vec<_>>());
    }
}
