//! Which institution, and which of its carriers, each instrument belongs to.
//!
//! Every carrier and every institution without carriers is first given one instrument, so that
//! all of them appear in the catalogue; the rest are drawn by weight. Institutions with carriers
//! keep some instruments outside them, as real catalogues do.

use super::carriers::Carrier;
use super::institutions::Institution;
use super::portable::{Random, Weighted, shuffle};
use rand::Rng;

/// Share of an institution's instruments that belong to none of its carriers.
const OUTSIDE_CARRIERS: f64 = 0.15;

/// Where one instrument sits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Placement {
    pub institution: usize,
    pub carrier: Option<usize>,
}

/// How many instruments it takes for every institution and carrier to appear.
pub fn seats_needed(institutions: usize, carriers: usize) -> usize {
    institutions.max(carriers)
}

/// `count` placements (at least [`seats_needed`]), in random order.
pub fn place(
    rng: &mut Random,
    institutions: &[Institution],
    carriers: &[Carrier],
    count: usize,
) -> Vec<Placement> {
    let slots = slots(rng, institutions, carriers);
    let mut placements: Vec<Placement> = seats(institutions, carriers);
    if let Some(weighted) = Weighted::new(slots.iter().map(|(_, w)| *w)) {
        while placements.len() < count {
            placements.push(slots[weighted.sample(rng)].0);
        }
    }
    placements.truncate(count);
    shuffle(rng, &mut placements);
    placements
}

/// One placement per carrier and per institution without carriers.
fn seats(institutions: &[Institution], carriers: &[Carrier]) -> Vec<Placement> {
    let with_carriers = holders(institutions.len(), carriers);
    let in_carriers = carriers
        .iter()
        .enumerate()
        .map(|(position, carrier)| Placement {
            institution: carrier.institution,
            carrier: Some(position),
        });
    let outside = (0..institutions.len())
        .filter(|&i| with_carriers[i] == 0)
        .map(|institution| Placement {
            institution,
            carrier: None,
        });
    in_carriers.chain(outside).collect()
}

/// Every place an instrument can go, with its weight.
fn slots(
    rng: &mut Random,
    institutions: &[Institution],
    carriers: &[Carrier],
) -> Vec<(Placement, f64)> {
    let with_carriers = holders(institutions.len(), carriers);
    let in_carriers = carriers.iter().enumerate().map(|(position, carrier)| {
        let institution = &institutions[carrier.institution];
        let share = (1.0 - OUTSIDE_CARRIERS) / with_carriers[carrier.institution] as f64;
        let jitter = 0.4 + 1.2 * rng.r#gen::<f64>();
        let placement = Placement {
            institution: carrier.institution,
            carrier: Some(position),
        };
        (placement, institution.weight * share * jitter)
    });
    let mut slots: Vec<(Placement, f64)> = in_carriers.collect();
    for (position, institution) in institutions.iter().enumerate() {
        let share = if with_carriers[position] > 0 {
            OUTSIDE_CARRIERS
        } else {
            1.0
        };
        let placement = Placement {
            institution: position,
            carrier: None,
        };
        slots.push((placement, institution.weight * share));
    }
    slots
}

/// Number of carriers of each institution.
fn holders(institutions: usize, carriers: &[Carrier]) -> Vec<usize> {
    let mut counts = vec![0; institutions];
    for carrier in carriers {
        if let Some(count) = counts.get_mut(carrier.institution) {
            *count += 1;
        }
    }
    counts
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::carriers::allocate;
    use crate::institutions::roster;
    use crate::tables::tables;
    use rand::SeedableRng;
    use std::collections::BTreeSet;

    #[test]
    fn every_institution_and_carrier_appears() {
        let tables = tables().unwrap();
        let region = tables.region("CN-SC").unwrap();
        let mut rng = Random::seed_from_u64(2);
        for (institutions, carriers, count) in [(40, 100, 100), (40, 10, 40), (60, 60, 3000)] {
            let roster = roster(tables, region, institutions).unwrap();
            let carriers = allocate(&mut rng, tables, "四川省", &roster, carriers);
            let placements = place(&mut rng, &roster, &carriers, count);
            assert_eq!(placements.len(), count);
            let seen: BTreeSet<usize> = placements.iter().map(|p| p.institution).collect();
            let used: BTreeSet<usize> = placements.iter().filter_map(|p| p.carrier).collect();
            assert_eq!((seen.len(), used.len()), (roster.len(), carriers.len()));
            assert!(placements.iter().all(|p| {
                p.carrier
                    .is_none_or(|c| carriers[c].institution == p.institution)
            }));
        }
    }
}
