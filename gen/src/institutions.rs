//! The institutions of a region: the hand-picked ones first, then ones derived from templates
//! ("{city}理工大学", "{city_name}{field}研究所", …) in a fixed interleaved order.
//!
//! Everything about an institution (code, address, coordinates, weight) comes from a generator
//! seeded with its own name, so an institution looks the same whatever the catalogue's seed.

use super::GenerateError;
use super::credit_code::{Registration, credit_code};
use super::portable::{Random, index, pick_str};
use super::tables::{
    City, Funding, InstitutionKind, InstitutionTemplate, KnownCarrier, KnownInstitution, Region,
    Repetition, Tables,
};
use rand::{Rng, SeedableRng};
use sha2::{Digest, Sha256};
use std::collections::BTreeSet;

/// Chinese ordinals for numbered institutions ("第一人民医院").
const ORDINALS: [&str; 5] = ["一", "二", "三", "四", "五"];
/// Host names a platform's booking pages live under.
const BOOKING_HOSTS: [&str; 4] = ["yqgx", "lims", "share", "yq"];

/// An institution that owns instruments.
#[derive(Debug)]
pub struct Institution {
    pub name: String,
    /// Unified social credit code; none outside the mainland.
    pub code: Option<String>,
    pub kind: InstitutionKind,
    pub funding: Funding,
    pub city: &'static City,
    pub district: Option<&'static str>,
    pub address: String,
    pub postcode: Option<String>,
    pub domain: String,
    pub booking_host: String,
    pub lat: f64,
    pub lon: f64,
    /// Relative share of the region's instruments.
    pub weight: f64,
    /// Discipline keys the institution leans to.
    pub focus: Vec<&'static str>,
    /// Real labs and centres, used before derived ones.
    pub known_carriers: &'static [KnownCarrier],
}

/// The region as the derivation sees it.
struct Setting {
    tables: &'static Tables,
    region: &'static Region,
    /// The region as a prefix: "甘肃省", "北京市", "新疆".
    province: String,
    suffixes: DomainSuffixes,
}

struct DomainSuffixes {
    edu: String,
    ac: String,
    org: String,
    com: String,
}

/// A derived institution before its details are drawn.
struct Candidate {
    name: String,
    domain: String,
    template: &'static InstitutionTemplate,
    city: &'static City,
    focus: Vec<&'static str>,
}

/// Up to `wanted` institutions of `region`; an error if the region cannot name that many.
pub fn roster(
    tables: &'static Tables,
    region: &'static Region,
    wanted: usize,
) -> Result<Vec<Institution>, GenerateError> {
    let setting = Setting::new(tables, region);
    let mut taken = BTreeSet::new();
    let mut roster = Vec::with_capacity(wanted);
    let known = tables
        .institutions
        .iter()
        .filter(|i| i.region == region.code);
    for institution in known.filter_map(|k| setting.known(k)) {
        if roster.len() == wanted {
            return Ok(roster);
        }
        if taken.insert(institution.name.clone()) {
            roster.push(institution);
        }
    }
    for candidate in setting.candidates() {
        if roster.len() == wanted {
            return Ok(roster);
        }
        if taken.insert(candidate.name.clone()) {
            roster.push(setting.derived(candidate));
        }
    }
    if roster.len() == wanted {
        Ok(roster)
    } else {
        Err(GenerateError::TooManyInstitutions {
            requested: wanted,
            available: roster.len(),
        })
    }
}

/// How many distinct institutions the region can name.
pub fn capacity(tables: &'static Tables, region: &'static Region) -> usize {
    let setting = Setting::new(tables, region);
    let known = tables
        .institutions
        .iter()
        .filter(|i| i.region == region.code);
    let names: BTreeSet<String> = known
        .map(|i| i.name.clone())
        .chain(setting.candidates().into_iter().map(|c| c.name))
        .collect();
    names.len()
}

impl Setting {
    fn new(tables: &'static Tables, region: &'static Region) -> Setting {
        let province = province_prefix(region);
        let tld = region.tld.as_deref().unwrap_or("cn");
        let suffixes = DomainSuffixes {
            edu: format!("edu.{tld}"),
            ac: if tld == "cn" {
                "ac.cn".into()
            } else {
                format!("org.{tld}")
            },
            org: format!("org.{tld}"),
            com: format!("com.{tld}"),
        };
        Setting {
            tables,
            region,
            province,
            suffixes,
        }
    }

    fn on_mainland(&self) -> bool {
        self.region.tld.is_none()
    }

    /// The hand-picked institution; `None` if its city is not one of the region's (the tables'
    /// checks rule that out).
    fn known(&self, known: &'static KnownInstitution) -> Option<Institution> {
        let city = self.region.cities.iter().find(|c| c.name == known.city)?;
        let mut rng = self.rng_for(&known.name);
        Some(Institution {
            code: self.code(&mut rng, known.kind, known.funding, city),
            booking_host: booking_host(&mut rng, &known.domain),
            name: known.name.clone(),
            kind: known.kind,
            funding: known.funding,
            city,
            district: Some(known.district.as_str()),
            address: known.address.clone(),
            postcode: known.postcode.clone(),
            domain: known.domain.clone(),
            lat: known.lat,
            lon: known.lon,
            weight: known.weight,
            focus: self.focus_keys(&known.focus),
            known_carriers: &known.carriers,
        })
    }

    fn derived(&self, candidate: Candidate) -> Institution {
        let mut rng = self.rng_for(&candidate.name);
        let template = candidate.template;
        let city = candidate.city;
        let district = (!city.districts.is_empty()).then(|| pick_str(&mut rng, &city.districts));
        let road = pick_str(&mut rng, &self.tables.people.roads);
        let number = rng.gen_range(1..=999);
        let postcode = city
            .postcode
            .as_ref()
            .map(|p| format!("{}{:02}", p.get(..4).unwrap_or(p), rng.gen_range(0..100)));
        Institution {
            code: self.code(&mut rng, template.kind, template.funding, city),
            booking_host: booking_host(&mut rng, &candidate.domain),
            address: format!("{}{road}{number}号", district.unwrap_or_default()),
            lat: round_to(city.lat + (rng.r#gen::<f64>() - 0.5) * 0.12, 4),
            lon: round_to(city.lon + (rng.r#gen::<f64>() - 0.5) * 0.16, 4),
            weight: template.weight * (0.5 + rng.r#gen::<f64>()),
            name: candidate.name,
            kind: template.kind,
            funding: template.funding,
            city,
            district,
            postcode,
            domain: candidate.domain,
            focus: candidate.focus,
            known_carriers: &[],
        }
    }

    fn rng_for(&self, name: &str) -> Random {
        let digest = Sha256::new()
            .chain_update(self.region.code.as_bytes())
            .chain_update(name.as_bytes())
            .finalize();
        Random::from_seed(digest.into())
    }

    fn code(
        &self,
        rng: &mut Random,
        kind: InstitutionKind,
        funding: Funding,
        city: &City,
    ) -> Option<String> {
        let mut body = [0u8; 8];
        for digit in &mut body {
            *digit = rng.gen_range(0..10);
        }
        if !self.on_mainland() {
            return None;
        }
        let (registration, division) = match (kind, funding) {
            (InstitutionKind::Company, _) => (Registration::Enterprise, city.division.as_str()),
            (_, Funding::Central) => (Registration::PublicInstitution, "100000"),
            _ => (Registration::PublicInstitution, city.division.as_str()),
        };
        Some(credit_code(registration, division, body))
    }

    fn focus_keys(&self, keys: &[String]) -> Vec<&'static str> {
        keys.iter()
            .filter_map(|k| self.tables.discipline(k))
            .map(|d| d.key.as_str())
            .collect()
    }

    /// Every derived candidate: public bodies first, then companies; within each, templates
    /// interleaved round by round so that universities, institutes, hospitals and testing
    /// bodies mix.
    fn candidates(&self) -> Vec<Candidate> {
        let on_mainland = self.on_mainland();
        let templates = self.tables.templates.iter();
        let (companies, public): (Vec<_>, Vec<_>) = templates
            .filter(|t| on_mainland || !t.mainland_only)
            .partition(|t| t.kind == InstitutionKind::Company);
        let mut candidates = self.interleaved(&public);
        candidates.extend(self.interleaved(&companies));
        candidates
    }

    fn interleaved(&self, templates: &[&'static InstitutionTemplate]) -> Vec<Candidate> {
        let mut columns: Vec<_> = templates
            .iter()
            .map(|t| self.expand(t).into_iter())
            .collect();
        let mut candidates = Vec::new();
        loop {
            let round: Vec<Candidate> = columns.iter_mut().filter_map(Iterator::next).collect();
            if round.is_empty() {
                return candidates;
            }
            candidates.extend(round);
        }
    }

    fn expand(&self, template: &'static InstitutionTemplate) -> Vec<Candidate> {
        let cities = &self.region.cities;
        let capital = &cities[..1.min(cities.len())];
        let fields = self.focus_keys(&template.focus);
        let mut out = Vec::new();
        let mut add = |city: &'static City, field: Option<&'static str>, extra: Extra| {
            out.push(self.fill(template, city, field, extra));
        };
        match template.per {
            Repetition::City => cities.iter().for_each(|c| add(c, None, Extra::None)),
            Repetition::Region => capital.iter().for_each(|c| add(c, None, Extra::None)),
            Repetition::CityField => {
                for city in cities {
                    fields.iter().for_each(|f| add(city, Some(f), Extra::None));
                }
            }
            Repetition::RegionField => {
                for city in capital {
                    fields.iter().for_each(|f| add(city, Some(f), Extra::None));
                }
            }
            Repetition::CityOrdinal => {
                for city in cities {
                    (0..ORDINALS.len()).for_each(|n| add(city, None, Extra::Ordinal(n)));
                }
            }
            Repetition::CityBrand => {
                for brand in &self.tables.people.brands {
                    cities
                        .iter()
                        .for_each(|c| add(c, None, Extra::Brand(brand)));
                }
            }
            Repetition::CityBrandField => {
                for brand in &self.tables.people.brands {
                    for city in cities {
                        fields
                            .iter()
                            .for_each(|f| add(city, Some(f), Extra::Brand(brand)));
                    }
                }
            }
        }
        out
    }

    fn fill(
        &self,
        template: &'static InstitutionTemplate,
        city: &'static City,
        field: Option<&'static str>,
        extra: Extra,
    ) -> Candidate {
        let discipline = field.and_then(|f| self.tables.discipline(f));
        let (n, n_digit) = match extra {
            Extra::Ordinal(n) => (ORDINALS[n], (n + 1).to_string()),
            _ => ("", String::new()),
        };
        let (brand, brand_pinyin) = match extra {
            Extra::Brand([text, pinyin]) => (text.as_str(), pinyin.as_str()),
            _ => ("", ""),
        };
        let values = [
            ("{city}", city.short.as_str()),
            ("{city_name}", city.name.as_str()),
            ("{province}", self.province.as_str()),
            (
                "{field}",
                discipline.map_or("", |d| d.institute_field.as_str()),
            ),
            ("{n}", n),
            ("{brand}", brand),
            ("{city_pinyin}", city.pinyin.as_str()),
            ("{region_pinyin}", self.region.pinyin.as_str()),
            (
                "{field_pinyin}",
                discipline.map_or("", |d| d.pinyin.as_str()),
            ),
            ("{n_digit}", n_digit.as_str()),
            ("{brand_pinyin}", brand_pinyin),
            ("{edu}", self.suffixes.edu.as_str()),
            ("{ac}", self.suffixes.ac.as_str()),
            ("{org}", self.suffixes.org.as_str()),
            ("{com}", self.suffixes.com.as_str()),
        ];
        let substitute = |pattern: &str| {
            values
                .iter()
                .fold(pattern.to_owned(), |text, (key, value)| {
                    text.replace(key, value)
                })
        };
        Candidate {
            name: substitute(&template.name),
            domain: substitute(&template.domain),
            template,
            city,
            focus: match field {
                Some(field) => vec![field],
                None => self.focus_keys(&template.focus),
            },
        }
    }
}

#[derive(Clone, Copy)]
enum Extra {
    None,
    Ordinal(usize),
    Brand(&'static [String; 2]),
}

/// The region as a prefix of institution and lab names: "甘肃省", "北京市", but "新疆", "香港".
pub fn province_prefix(region: &Region) -> String {
    let full = yiqi_schema::regions::name_zh(&region.code).unwrap_or(&region.short);
    if full.ends_with('省') || full.ends_with('市') {
        full.to_owned()
    } else {
        region.short.clone()
    }
}

fn booking_host(rng: &mut Random, domain: &str) -> String {
    format!(
        "{}.{domain}",
        BOOKING_HOSTS[index(rng, BOOKING_HOSTS.len()) % BOOKING_HOSTS.len()]
    )
}

/// `value` rounded to `places` decimals.
pub fn round_to(value: f64, places: i32) -> f64 {
    let scale = 10f64.powi(places);
    (value * scale).round() / scale
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::credit_code::is_valid;
    use crate::tables::tables;

    fn region(code: &str) -> &'static Region {
        tables().unwrap().region(code).unwrap()
    }

    #[test]
    fn hand_picked_institutions_come_first() {
        let gansu = roster(tables().unwrap(), region("CN-GS"), 3).unwrap();
        let names: Vec<&str> = gansu.iter().map(|i| i.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "兰州大学",
                "中国科学院兰州化学物理研究所",
                "中国科学院近代物理研究所"
            ]
        );
        assert_eq!(gansu[0].domain, "lzu.edu.cn");
    }

    #[test]
    fn derived_institutions_are_distinct_and_plausible() {
        let tables = tables().unwrap();
        let many = roster(tables, region("CN-GS"), 228).unwrap();
        let names: BTreeSet<&str> = many.iter().map(|i| i.name.as_str()).collect();
        assert_eq!(names.len(), 228);
        assert!(names.contains("天水大学") || names.contains("兰州理工大学"));
        assert!(many.iter().all(|i| i.code.as_deref().is_some_and(is_valid)));
        let yunnan = roster(tables, region("CN-YN"), 5).unwrap();
        assert_eq!(yunnan[0].name, "昆明大学");
        assert!(yunnan.iter().all(|i| i.domain.is_ascii()));
    }

    #[test]
    fn every_region_can_name_hundreds_of_institutions() {
        let tables = tables().unwrap();
        for region in &tables.regions {
            assert!(capacity(tables, region) >= 500, "{}", region.code);
        }
        let beyond = roster(tables, region("CN-MO"), 100_000).unwrap_err();
        assert!(matches!(beyond, GenerateError::TooManyInstitutions { .. }));
    }

    #[test]
    fn institutions_do_not_depend_on_anything_but_their_name() {
        let tables = tables().unwrap();
        let once = roster(tables, region("CN-SC"), 40).unwrap();
        let again = roster(tables, region("CN-SC"), 60).unwrap();
        for (a, b) in once.iter().zip(&again) {
            assert_eq!(
                (&a.name, &a.code, &a.address, a.lat),
                (&b.name, &b.code, &b.address, b.lat)
            );
        }
        let hong_kong = roster(tables, region("CN-HK"), 3).unwrap();
        assert!(
            hong_kong
                .iter()
                .all(|i| i.code.is_none() && i.postcode.is_none())
        );
    }
}
