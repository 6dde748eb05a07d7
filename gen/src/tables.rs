//! The reference tables the generator draws from, embedded from `data/*.toml` and checked once
//! when first used (every kind's category exists, every manufacturer is known, …).

use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::OnceLock;
use yiqi_schema::{classification, regions};

const KINDS_TOML: &str = include_str!("data/kinds.toml");
const MANUFACTURERS_TOML: &str = include_str!("data/manufacturers.toml");
const REGIONS_TOML: &str = include_str!("data/regions.toml");
const INSTITUTIONS_TOML: &str = include_str!("data/institutions.toml");
const DISCIPLINES_TOML: &str = include_str!("data/disciplines.toml");
const PEOPLE_TOML: &str = include_str!("data/people.toml");

/// A `[text, pinyin]` pair.
pub type Spelled = [String; 2];

/// One kind of instrument with what a catalogue says about it.
#[derive(Debug, Deserialize)]
pub struct Kind {
    pub name: String,
    pub name_en: String,
    pub abbr: String,
    pub category: String,
    pub discipline: String,
    pub weight: f64,
    pub price_wan: [f64; 2],
    pub fee: [f64; 2],
    pub fee_unit: String,
    pub keywords: Vec<String>,
    pub subjects: Vec<String>,
    pub specs: String,
    pub functions: String,
    pub service: String,
    /// `[manufacturer, model]`.
    pub models: Vec<[String; 2]>,
}

/// A city of a region.
#[derive(Debug, Deserialize)]
pub struct City {
    pub name: String,
    pub short: String,
    pub pinyin: String,
    pub division: String,
    pub area: String,
    pub local_digits: Option<usize>,
    pub postcode: Option<String>,
    pub lat: f64,
    pub lon: f64,
    pub districts: Vec<String>,
}

/// A region's geography; the capital is the first city.
#[derive(Debug, Deserialize)]
pub struct Region {
    pub code: String,
    pub short: String,
    pub pinyin: String,
    /// Top-level domain of the region's institutions: `cn` unless stated.
    pub tld: Option<String>,
    pub cities: Vec<City>,
}

/// What sort of body an institution is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InstitutionKind {
    University,
    Institute,
    Hospital,
    Inspection,
    Company,
}

/// Who mainly pays for an institution's instruments.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Funding {
    Central,
    Local,
    Own,
}

/// The schema's carrier types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CarrierType {
    Facility,
    InstrumentCenter,
    StateKeyLab,
    EngineeringCenter,
    Biobank,
    Other,
}

impl CarrierType {
    /// The schema's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            CarrierType::Facility => "facility",
            CarrierType::InstrumentCenter => "instrument_center",
            CarrierType::StateKeyLab => "state_key_lab",
            CarrierType::EngineeringCenter => "engineering_center",
            CarrierType::Biobank => "biobank",
            CarrierType::Other => "other",
        }
    }
}

/// A real lab or centre of a hand-picked institution.
#[derive(Debug, Deserialize)]
pub struct KnownCarrier {
    #[serde(rename = "type")]
    pub carrier_type: CarrierType,
    pub name: String,
}

/// A hand-picked institution.
#[derive(Debug, Deserialize)]
pub struct KnownInstitution {
    pub region: String,
    pub name: String,
    pub city: String,
    pub district: String,
    pub address: String,
    /// None where postal codes are not 6 digits (Hong Kong, Macao, Taiwan).
    pub postcode: Option<String>,
    pub domain: String,
    pub lat: f64,
    pub lon: f64,
    pub kind: InstitutionKind,
    pub funding: Funding,
    pub weight: f64,
    pub focus: Vec<String>,
    #[serde(default)]
    pub carriers: Vec<KnownCarrier>,
}

/// What a derived-institution template is repeated over.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Repetition {
    City,
    Region,
    CityField,
    RegionField,
    CityOrdinal,
    CityBrand,
    CityBrandField,
}

/// A pattern for deriving plausible institutions of any region.
#[derive(Debug, Deserialize)]
pub struct InstitutionTemplate {
    pub name: String,
    pub domain: String,
    pub per: Repetition,
    pub kind: InstitutionKind,
    pub funding: Funding,
    pub weight: f64,
    pub focus: Vec<String>,
    /// Only for the mainland (people's hospitals, CDCs, market-regulation bodies).
    #[serde(default)]
    pub mainland_only: bool,
}

/// A discipline shared by kinds and institutions.
#[derive(Debug, Deserialize)]
pub struct Discipline {
    pub key: String,
    /// Kinds of a specialised discipline only appear where an institution focuses on it.
    #[serde(default)]
    pub specialised: bool,
    pub department: String,
    pub institute_field: String,
    pub pinyin: String,
    pub topics: Vec<String>,
}

/// Names and phrases for people, places and notices.
#[derive(Debug, Deserialize)]
pub struct People {
    pub brands: Vec<Spelled>,
    pub surnames: Vec<Spelled>,
    pub given: Vec<Spelled>,
    pub roads: Vec<String>,
    /// Buildings of universities and institutes.
    pub buildings: Vec<String>,
    pub hospital_buildings: Vec<String>,
    /// Buildings of testing bodies and companies.
    pub company_buildings: Vec<String>,
    pub notices: Vec<String>,
}

#[derive(Deserialize)]
struct KindsFile {
    kind: Vec<Kind>,
}

#[derive(Deserialize)]
struct RegionsFile {
    region: Vec<Region>,
}

#[derive(Deserialize)]
struct InstitutionsFile {
    institution: Vec<KnownInstitution>,
    template: Vec<InstitutionTemplate>,
}

#[derive(Deserialize)]
struct DisciplinesFile {
    discipline: Vec<Discipline>,
}

/// Every table, checked.
#[derive(Debug)]
pub struct Tables {
    pub kinds: Vec<Kind>,
    /// Manufacturer → ISO 3166-1 alpha-2 country.
    pub manufacturers: BTreeMap<String, String>,
    pub regions: Vec<Region>,
    pub institutions: Vec<KnownInstitution>,
    pub templates: Vec<InstitutionTemplate>,
    pub disciplines: Vec<Discipline>,
    pub people: People,
}

impl Tables {
    /// The region with this code.
    pub fn region(&self, code: &str) -> Option<&Region> {
        self.regions.iter().find(|r| r.code == code)
    }

    /// The discipline with this key.
    pub fn discipline(&self, key: &str) -> Option<&Discipline> {
        self.disciplines.iter().find(|d| d.key == key)
    }
}

/// The embedded tables, parsed and checked on first use.
pub fn tables() -> Result<&'static Tables, String> {
    static TABLES: OnceLock<Result<Tables, String>> = OnceLock::new();
    TABLES.get_or_init(load).as_ref().map_err(Clone::clone)
}

fn parse<T: serde::de::DeserializeOwned>(file: &str, text: &str) -> Result<T, String> {
    toml::from_str(text).map_err(|e| format!("embedded {file}: {e}"))
}

fn load() -> Result<Tables, String> {
    let institutions: InstitutionsFile = parse("institutions.toml", INSTITUTIONS_TOML)?;
    let tables = Tables {
        kinds: parse::<KindsFile>("kinds.toml", KINDS_TOML)?.kind,
        manufacturers: parse("manufacturers.toml", MANUFACTURERS_TOML)?,
        regions: parse::<RegionsFile>("regions.toml", REGIONS_TOML)?.region,
        institutions: institutions.institution,
        templates: institutions.template,
        disciplines: parse::<DisciplinesFile>("disciplines.toml", DISCIPLINES_TOML)?.discipline,
        people: parse("people.toml", PEOPLE_TOML)?,
    };
    check(&tables)?;
    Ok(tables)
}

fn check(tables: &Tables) -> Result<(), String> {
    check_kinds(tables)?;
    check_regions(tables)?;
    check_institutions(tables)?;
    check_people(&tables.people)
}

fn check_discipline(tables: &Tables, key: &str, user: &str) -> Result<(), String> {
    match tables.discipline(key) {
        Some(_) => Ok(()),
        None => Err(format!("{user}: unknown discipline {key:?}")),
    }
}

/// Six ASCII digits.
fn is_postcode(text: &str) -> bool {
    text.len() == 6 && text.bytes().all(|b| b.is_ascii_digit())
}

/// A finite number above zero (NaN is not).
fn is_positive(number: f64) -> bool {
    number.is_finite() && number > 0.0
}

/// Positive bounds, low not above high.
fn is_range(low: f64, high: f64) -> bool {
    is_positive(low) && is_positive(high) && low <= high
}

fn check_kinds(tables: &Tables) -> Result<(), String> {
    if tables.kinds.is_empty() {
        return Err("kinds.toml lists no kinds".into());
    }
    let mut names = BTreeSet::new();
    for kind in &tables.kinds {
        let at = &kind.name;
        if !names.insert(at.as_str()) {
            return Err(format!("kind {at}: listed twice"));
        }
        if classification::get(&kind.category).is_none() {
            return Err(format!(
                "kind {at}: {} is not a classification code",
                kind.category
            ));
        }
        check_discipline(tables, &kind.discipline, at)?;
        let [low, high] = kind.price_wan;
        if !is_range(low, high) || !is_range(kind.fee[0], kind.fee[1]) {
            return Err(format!(
                "kind {at}: price and fee ranges must be positive and ordered"
            ));
        }
        if !is_positive(kind.weight) || kind.models.is_empty() || kind.keywords.len() > 18 {
            return Err(format!(
                "kind {at}: needs a weight, models and at most 18 keywords"
            ));
        }
        if kind.subjects.is_empty() || kind.subjects.len() > 4 {
            return Err(format!("kind {at}: needs 1 to 4 subjects"));
        }
        if kind.specs.chars().count() > 500
            || kind.functions.chars().count() > 300
            || kind.service.chars().count() > 200
        {
            return Err(format!("kind {at}: specs, functions or service too long"));
        }
        if let Some([maker, _]) = kind
            .models
            .iter()
            .find(|[m, _]| !tables.manufacturers.contains_key(m))
        {
            return Err(format!(
                "kind {at}: manufacturer {maker:?} is not in manufacturers.toml"
            ));
        }
    }
    Ok(())
}

fn check_regions(tables: &Tables) -> Result<(), String> {
    for (code, _, _) in regions::REGIONS {
        let region = tables
            .region(code)
            .ok_or_else(|| format!("regions.toml has no {code}"))?;
        if region.cities.is_empty() {
            return Err(format!("{code}: no cities"));
        }
        let bad_postcode = region
            .cities
            .iter()
            .flat_map(|c| &c.postcode)
            .find(|p| !is_postcode(p));
        if let Some(postcode) = bad_postcode {
            return Err(format!("{code}: postcode {postcode:?} is not 6 digits"));
        }
    }
    Ok(())
}

fn check_institutions(tables: &Tables) -> Result<(), String> {
    let mut carriers = BTreeSet::new();
    for known in &tables.institutions {
        let at = &known.name;
        let region = tables
            .region(&known.region)
            .ok_or_else(|| format!("institution {at}: unknown region {}", known.region))?;
        if !region.cities.iter().any(|c| c.name == known.city) {
            return Err(format!(
                "institution {at}: {} is not a city of its region",
                known.city
            ));
        }
        let postcode_ok = known.postcode.as_ref().is_none_or(|p| is_postcode(p));
        if !postcode_ok || !is_positive(known.weight) || known.focus.is_empty() {
            return Err(format!(
                "institution {at}: needs a 6-digit postcode, weight and focus"
            ));
        }
        for key in &known.focus {
            check_discipline(tables, key, at)?;
        }
        if let Some(twice) = known
            .carriers
            .iter()
            .find(|c| !carriers.insert(c.name.as_str()))
        {
            return Err(format!("carrier {} listed twice", twice.name));
        }
    }
    for template in &tables.templates {
        if template.focus.is_empty() || !is_positive(template.weight) {
            return Err(format!(
                "template {}: needs a focus and weight",
                template.name
            ));
        }
        for key in &template.focus {
            check_discipline(tables, key, &template.name)?;
        }
    }
    Ok(())
}

fn check_people(people: &People) -> Result<(), String> {
    let lists = [
        people.brands.len(),
        people.surnames.len(),
        people.given.len(),
        people.roads.len(),
        people.buildings.len(),
        people.hospital_buildings.len(),
        people.company_buildings.len(),
        people.notices.len(),
    ];
    if lists.contains(&0) {
        return Err("people.toml: every list needs at least one entry".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_tables_load_and_pass_their_checks() {
        let tables = tables().unwrap();
        assert!(tables.kinds.len() >= 60);
        assert_eq!(tables.regions.len(), 34);
    }

    #[test]
    fn kinds_cover_most_top_level_classes_with_specific_codes() {
        let tables = tables().unwrap();
        let tops: BTreeSet<&str> = tables
            .kinds
            .iter()
            .filter_map(|k| classification::top_level(&k.category))
            .map(|c| c.code)
            .collect();
        assert_eq!(tops.len(), 15, "{tops:?}");
        let level_three = tables
            .kinds
            .iter()
            .filter(|k| classification::get(&k.category).is_some_and(|c| c.level == 3))
            .count();
        assert!(level_three * 10 >= tables.kinds.len() * 9);
    }

    #[test]
    fn kinds_carry_their_common_abbreviations() {
        let tables = tables().unwrap();
        for abbr in [
            "TEM", "SEM", "NMR", "XRD", "FTIR", "ICP-MS", "HPLC", "AFM", "LC-MS", "GC-MS",
        ] {
            assert!(
                tables
                    .kinds
                    .iter()
                    .any(|k| k.abbr == abbr || k.keywords.iter().any(|w| w == abbr)),
                "{abbr}"
            );
        }
    }
}
