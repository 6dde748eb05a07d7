//! Original values (原值): log-normal around each kind's typical price, and, when a total is
//! asked for, scaled so that the integers add up to it exactly.

use super::portable::{Random, exp, ln, standard_normal};
use super::tables::Kind;

/// Yuan per 万元.
const YUAN_PER_WAN: f64 = 10_000.0;
/// Half the width, in standard deviations, of the middle 90% of a normal distribution: a
/// kind's price range holds nine instruments in ten.
const NINETY_PERCENT_HALF_WIDTH: f64 = 1.645;
/// Values are quoted to the hundred yuan before any scaling.
const QUOTED_TO: f64 = 100.0;

/// The log-normal price distribution of one kind.
#[derive(Debug, Clone, Copy)]
pub struct PriceModel {
    median: f64,
    sigma: f64,
}

impl PriceModel {
    /// The model whose middle 90% spans the kind's price range.
    pub fn of(kind: &Kind) -> PriceModel {
        let [low, high] = kind.price_wan;
        PriceModel {
            median: (low * high).sqrt() * YUAN_PER_WAN,
            sigma: ln(high / low) / (2.0 * NINETY_PERCENT_HALF_WIDTH),
        }
    }

    /// One value in yuan, to the hundred, at least a hundred.
    pub fn sample(&self, rng: &mut Random) -> u64 {
        let value = self.median * exp(self.sigma * standard_normal(rng));
        let hundreds = (value / QUOTED_TO).round().max(1.0);
        hundreds as u64 * QUOTED_TO as u64
    }
}

/// Scales `values` in proportion so that they sum to exactly `total`: each gets the floor of
/// its share, and the yuan left over go one each to the largest fractional parts (ties to the
/// earlier value). Integer arithmetic throughout.
pub fn scale_to_total(values: &mut [u64], total: u64) {
    if values.is_empty() {
        return;
    }
    let sum: u128 = values.iter().map(|&v| u128::from(v)).sum();
    if sum == 0 {
        values.iter_mut().for_each(|v| *v = 1);
        return scale_to_total(values, total);
    }
    let target = u128::from(total);
    let mut remainders = Vec::with_capacity(values.len());
    let mut assigned: u128 = 0;
    for (position, value) in values.iter_mut().enumerate() {
        let exact = u128::from(*value) * target;
        let share = exact / sum;
        remainders.push((exact % sum, position));
        assigned += share;
        *value = u64::try_from(share).unwrap_or(u64::MAX);
    }
    remainders.sort_unstable_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    let left_over = usize::try_from(target - assigned).unwrap_or(usize::MAX);
    for &(_, position) in remainders.iter().take(left_over) {
        values[position] += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tables::tables;
    use rand::SeedableRng;

    #[test]
    fn scaling_hits_the_total_exactly_and_keeps_proportions() {
        let mut values = vec![1_000_000, 2_000_000, 3_000_000, 7];
        scale_to_total(&mut values, 12_000_001);
        assert_eq!(values.iter().sum::<u64>(), 12_000_001);
        assert_eq!(values[1], 2 * values[0]);
        let mut small = vec![5, 5, 5];
        scale_to_total(&mut small, 2);
        assert_eq!(small, [1, 1, 0]);
        let mut zero = vec![0, 0];
        scale_to_total(&mut zero, 3);
        assert_eq!(zero, [2, 1]);
    }

    #[test]
    fn scaling_survives_huge_totals() {
        let mut values = vec![u64::MAX / 2, u64::MAX / 3, 1];
        scale_to_total(&mut values, 9_007_199_254_740_991);
        assert_eq!(values.iter().sum::<u64>(), 9_007_199_254_740_991);
    }

    #[test]
    fn most_values_fall_in_the_kind_range() {
        let tables = tables().unwrap();
        let sem = tables.kinds.iter().find(|k| k.abbr == "FE-SEM").unwrap();
        let model = PriceModel::of(sem);
        let mut rng = Random::seed_from_u64(5);
        let draws: Vec<u64> = (0..2000).map(|_| model.sample(&mut rng)).collect();
        let inside = draws
            .iter()
            .filter(|&&v| (1_800_000..=6_500_000).contains(&v))
            .count();
        assert!(inside > 1700 && inside < 1900, "{inside}");
        assert!(draws.iter().all(|v| v % 100 == 0));
    }
}
