//! Carriers (载体): the labs and centres instruments belong to, each attached to an institution.
//! Big institutions get more of them; hand-picked institutions use their real ones first.

use super::institutions::Institution;
use super::portable::{Random, pick, pick_str, weighted_choice};
use super::tables::{CarrierType, Discipline, InstitutionKind, Tables};
use rand::Rng;
use std::collections::BTreeSet;

/// Attempts at a fresh derived name before falling back to a numbered one.
const NAME_ATTEMPTS: usize = 48;

/// A lab or centre.
#[derive(Debug, Clone)]
pub struct Carrier {
    pub name: String,
    pub carrier_type: CarrierType,
    /// Index into the institution roster.
    pub institution: usize,
}

/// Exactly `total` carriers with distinct names. When there are at least as many carriers as
/// institutions every institution gets one; otherwise the first (largest) institutions do.
pub fn allocate(
    rng: &mut Random,
    tables: &Tables,
    province: &str,
    institutions: &[Institution],
    total: usize,
) -> Vec<Carrier> {
    let counts = carriers_per_institution(institutions, total);
    let mut namer = Namer {
        tables,
        province,
        used: BTreeSet::new(),
    };
    let mut carriers = Vec::with_capacity(total);
    for (position, (institution, count)) in institutions.iter().zip(counts).enumerate() {
        for ordinal in 0..count {
            let (name, carrier_type) = namer.name(rng, institution, ordinal);
            carriers.push(Carrier {
                name,
                carrier_type,
                institution: position,
            });
        }
    }
    carriers
}

/// One carrier each for as many institutions as possible, the rest in proportion to weight
/// (largest remainders, ties to the earlier institution).
fn carriers_per_institution(institutions: &[Institution], total: usize) -> Vec<usize> {
    let mut counts: Vec<usize> = (0..institutions.len())
        .map(|i| usize::from(i < total))
        .collect();
    let rest = total.saturating_sub(institutions.len());
    if rest == 0 {
        return counts;
    }
    let weights: Vec<f64> = institutions.iter().map(|i| i.weight.max(0.0)).collect();
    let weight_sum: f64 = weights.iter().sum();
    let shares: Vec<f64> = weights
        .iter()
        .map(|w| {
            if weight_sum > 0.0 {
                w / weight_sum
            } else {
                1.0 / weights.len() as f64
            }
        })
        .map(|share| share * rest as f64)
        .collect();
    let mut given = 0;
    for (count, share) in counts.iter_mut().zip(&shares) {
        let whole = share.floor() as usize;
        *count += whole;
        given += whole;
    }
    let mut by_remainder: Vec<usize> = (0..institutions.len()).collect();
    by_remainder.sort_by(|&a, &b| {
        let (ra, rb) = (shares[a] - shares[a].floor(), shares[b] - shares[b].floor());
        rb.total_cmp(&ra).then(a.cmp(&b))
    });
    for &position in by_remainder.iter().cycle().take(rest.saturating_sub(given)) {
        counts[position] += 1;
    }
    counts
}

struct Namer<'a> {
    tables: &'a Tables,
    province: &'a str,
    used: BTreeSet<String>,
}

impl Namer<'_> {
    /// The `ordinal`-th carrier of `institution`: a real one while it has any left.
    fn name(
        &mut self,
        rng: &mut Random,
        institution: &Institution,
        ordinal: usize,
    ) -> (String, CarrierType) {
        if let Some(known) = institution.known_carriers.get(ordinal)
            && self.used.insert(known.name.clone())
        {
            return (known.name.clone(), known.carrier_type);
        }
        for _ in 0..NAME_ATTEMPTS {
            let (name, carrier_type) = self.derive(rng, institution);
            if self.used.insert(name.clone()) {
                return (name, carrier_type);
            }
        }
        self.numbered(institution)
    }

    fn derive(&self, rng: &mut Random, institution: &Institution) -> (String, CarrierType) {
        let discipline = self.focus_discipline(rng, institution);
        let topic = discipline.map_or("", |d| pick_str(rng, &d.topics));
        let field = discipline.map_or("", |d| d.institute_field.as_str());
        let (inst, province) = (institution.name.as_str(), self.province);
        let carrier_type = carrier_type_for(rng, institution.kind);
        let name = match (carrier_type, institution.kind) {
            (CarrierType::InstrumentCenter, InstitutionKind::Hospital) => {
                format!("{inst}中心实验室")
            }
            (
                CarrierType::InstrumentCenter,
                InstitutionKind::Inspection | InstitutionKind::Company,
            ) => {
                format!("{inst}{field}检测实验室")
            }
            (CarrierType::InstrumentCenter, _) => match rng.gen_range(0..3u8) {
                0 => format!("{inst}分析测试中心"),
                1 => format!("{inst}公共技术服务中心"),
                _ => format!("{inst}{topic}公共实验平台"),
            },
            (CarrierType::StateKeyLab, _) => format!("{topic}国家重点实验室"),
            (CarrierType::Other, InstitutionKind::Hospital) => {
                format!("{province}{topic}临床医学研究中心")
            }
            (CarrierType::Other, _) => match rng.gen_range(0..3u8) {
                0 => format!("{province}{topic}重点实验室"),
                1 => format!("{inst}{topic}研究中心"),
                _ => format!("{inst}{topic}实验室"),
            },
            (CarrierType::EngineeringCenter, _) if rng.gen_range(0..2u8) == 0 => {
                format!("{inst}{topic}工程研究中心")
            }
            (CarrierType::EngineeringCenter, _) => format!("{province}{topic}工程技术研究中心"),
            (CarrierType::Facility, _) => format!("{inst}{topic}研究设施"),
            (CarrierType::Biobank, _) => format!("{inst}生物样本库"),
        };
        (name, carrier_type)
    }

    fn focus_discipline(&self, rng: &mut Random, institution: &Institution) -> Option<&Discipline> {
        pick(rng, &institution.focus).and_then(|key| self.tables.discipline(key))
    }

    /// A name that cannot clash: the institution's name with a running number.
    fn numbered(&mut self, institution: &Institution) -> (String, CarrierType) {
        let mut number = 0;
        loop {
            number += 1;
            let name = format!("{}公共实验平台{number}", institution.name);
            if self.used.insert(name.clone()) {
                return (name, CarrierType::Other);
            }
        }
    }
}

fn carrier_type_for(rng: &mut Random, kind: InstitutionKind) -> CarrierType {
    match kind {
        InstitutionKind::University | InstitutionKind::Institute => weighted_choice(
            rng,
            &[
                (CarrierType::InstrumentCenter, 0.15),
                (CarrierType::StateKeyLab, 0.12),
                (CarrierType::Other, 0.40),
                (CarrierType::EngineeringCenter, 0.28),
                (CarrierType::Facility, 0.05),
            ],
        ),
        InstitutionKind::Hospital => weighted_choice(
            rng,
            &[
                (CarrierType::Biobank, 0.3),
                (CarrierType::Other, 0.5),
                (CarrierType::InstrumentCenter, 0.2),
            ],
        ),
        InstitutionKind::Inspection | InstitutionKind::Company => weighted_choice(
            rng,
            &[
                (CarrierType::InstrumentCenter, 0.7),
                (CarrierType::EngineeringCenter, 0.3),
            ],
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::institutions::roster;
    use crate::tables::tables;
    use rand::SeedableRng;

    fn carriers_of(
        region: &str,
        institutions: usize,
        total: usize,
    ) -> (Vec<Institution>, Vec<Carrier>) {
        let tables = tables().unwrap();
        let region = tables.region(region).unwrap();
        let roster = roster(tables, region, institutions).unwrap();
        let mut rng = Random::seed_from_u64(11);
        let carriers = allocate(&mut rng, tables, "甘肃省", &roster, total);
        (roster, carriers)
    }

    #[test]
    fn exactly_the_requested_number_of_distinct_carriers() {
        for (institutions, total) in [(228, 120), (228, 228), (228, 700), (3, 500), (1, 1), (5, 0)]
        {
            let (_, carriers) = carriers_of("CN-GS", institutions, total);
            let names: BTreeSet<&str> = carriers.iter().map(|c| c.name.as_str()).collect();
            assert_eq!(
                (carriers.len(), names.len()),
                (total, total),
                "{institutions}/{total}"
            );
        }
    }

    #[test]
    fn every_institution_gets_a_carrier_when_there_are_enough() {
        let (roster, carriers) = carriers_of("CN-GS", 50, 80);
        let holders: BTreeSet<usize> = carriers.iter().map(|c| c.institution).collect();
        assert_eq!(holders.len(), roster.len());
        assert_eq!(carriers[0].name, "兰州大学分析测试中心");
        let lanzhou = carriers.iter().filter(|c| c.institution == 0).count();
        assert!(lanzhou > carriers.iter().filter(|c| c.institution == 49).count());
    }

    #[test]
    fn fewer_carriers_go_to_the_largest_institutions() {
        let (_, carriers) = carriers_of("CN-GS", 50, 10);
        assert!(carriers.iter().all(|c| c.institution < 10));
    }
}
