//! Deterministic realistic catalogues (`yiqi-node generate`).
//!
//! A catalogue is a region's list of native records: real instrument kinds of the national
//! classification with real manufacturers and models (`data/kinds.toml`), owned by the region's
//! institutions (`data/institutions.toml`: hand-picked for Beijing, Gansu and Sichuan and the
//! best-known ones of Hong Kong, Macao and Taiwan, derived from the region's cities elsewhere),
//! grouped into labs and centres (carriers), with long-tailed values that can be scaled to an
//! exact total.
//!
//! Layout: `tables` loads and checks the embedded data; `institutions`, `carriers` and
//! `placement` decide who holds each instrument; `values` prices them; `record` writes each
//! record with `contacts` and `credit_code`; `output` writes the file; `portable` holds the
//! randomness and arithmetic; `history` adds a region's utilisation: idleness, earlier years'
//! usage and a year of service records.
//!
//! The same options give the same records, byte for byte, on every machine: one ChaCha8 stream
//! seeded from `--seed`, no hash-map order, and no floating-point function whose last bit
//! depends on the platform. [`write_catalogue`] writes RFC 8785 canonical JSON, so the file does
//! not depend on how `serde_json` orders object members either.

mod carriers;
mod contacts;
mod credit_code;
mod history;
mod institutions;
mod output;
mod placement;
mod portable;
mod record;
mod tables;
mod values;

pub use history::{HistoryOptions, services, shape_usage, usage_in_year};
pub use output::write_catalogue;
pub use record::USAGE_YEAR;

use institutions::Institution;
use placement::{Placement, seats_needed};
use portable::{Random, Weighted};
use rand::SeedableRng;
use record::Draft;
use serde_json::Value;
use tables::{InstitutionKind, Kind, Tables};
use values::{PriceModel, scale_to_total};
use yiqi_schema::ijson::MAX_SAFE_INTEGER;

/// Instruments per carrier when `--carriers` is not given (the Beijing demo has about 47).
const DEFAULT_INSTRUMENTS_PER_CARRIER: usize = 45;
/// How much likelier an institution is to hold kinds of the disciplines it focuses on.
const FOCUS_AFFINITY: f64 = 4.0;

/// What to generate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GenerateOptions {
    /// ISO 3166-2:CN code of the region, e.g. `CN-GS`.
    pub region: String,
    /// Number of instruments.
    pub count: usize,
    pub seed: u64,
    /// Exactly this many distinct institutions; by default about 2·√count.
    pub institutions: Option<usize>,
    /// Exactly this many distinct carriers; by default one per 45 instruments.
    pub carriers: Option<usize>,
    /// Make the original values add up to exactly this many yuan.
    pub total_value_cny: Option<u64>,
}

/// Why a catalogue cannot be generated.
#[derive(Debug, thiserror::Error)]
pub enum GenerateError {
    #[error("unknown region {0:?}: expected an ISO 3166-2:CN code such as CN-GS")]
    UnknownRegion(String),
    #[error("a total value needs at least one instrument to carry it")]
    TotalWithoutInstruments,
    #[error(
        "a total value of {0} yuan exceeds 2^53−1, the largest integer a record carries exactly"
    )]
    TotalValueTooLarge(u64),
    #[error(
        "{count} instruments cannot fill {institutions} institutions and {carriers} carriers: \
         each needs at least one instrument"
    )]
    TooFewInstruments {
        count: usize,
        institutions: usize,
        carriers: usize,
    },
    #[error("{count} instruments need at least one institution")]
    NoInstitutions { count: usize },
    #[error("{requested} institutions asked for, but the region can name only {available}")]
    TooManyInstitutions { requested: usize, available: usize },
    #[error("embedded reference data is broken: {0}")]
    ReferenceData(String),
}

/// The catalogue `options` describe: native records without `kind`, `version` and `updated_at`.
pub fn generate(options: &GenerateOptions) -> Result<Vec<Value>, GenerateError> {
    let tables = tables::tables().map_err(GenerateError::ReferenceData)?;
    let region = tables
        .region(&options.region)
        .ok_or_else(|| GenerateError::UnknownRegion(options.region.clone()))?;
    check_total(options)?;
    let institution_count = institution_count(tables, region, options)?;
    let carrier_count = carrier_count(options);
    if seats_needed(institution_count, carrier_count) > options.count {
        return Err(GenerateError::TooFewInstruments {
            count: options.count,
            institutions: institution_count,
            carriers: carrier_count,
        });
    }
    if options.count == 0 {
        return Ok(Vec::new());
    }
    let mut rng = Random::seed_from_u64(options.seed);
    let roster = institutions::roster(tables, region, institution_count)?;
    let prefix = institutions::province_prefix(region);
    let carriers = carriers::allocate(&mut rng, tables, &prefix, &roster, carrier_count);
    let placements = placement::place(&mut rng, &roster, &carriers, options.count);
    let kinds = choose_kinds(&mut rng, tables, &roster, &placements);
    let mut values = sample_values(&mut rng, tables, &kinds);
    if let Some(total) = options.total_value_cny {
        scale_to_total(&mut values, total);
    }
    let catalogue = Catalogue {
        tables,
        region,
        roster,
        carriers,
    };
    Ok(catalogue.records(&mut rng, &placements, &kinds, &values))
}

/// Who holds what, decided; the records still to be written.
struct Catalogue {
    tables: &'static Tables,
    region: &'static tables::Region,
    roster: Vec<Institution>,
    carriers: Vec<carriers::Carrier>,
}

impl Catalogue {
    fn records(
        &self,
        rng: &mut Random,
        placements: &[Placement],
        kinds: &[usize],
        values: &[u64],
    ) -> Vec<Value> {
        let region = self.region;
        let province = yiqi_schema::regions::name_zh(&region.code).unwrap_or(&region.short);
        let id_prefix = region.code.trim_start_matches("CN-");
        let drafts = placements.iter().zip(kinds).zip(values).enumerate();
        drafts
            .map(|(position, ((placement, &kind), &value))| {
                Draft {
                    tables: self.tables,
                    region: &region.code,
                    province,
                    local_id: format!("{id_prefix}-{:06}", position + 1),
                    kind: &self.tables.kinds[kind],
                    institution: &self.roster[placement.institution],
                    carrier: placement.carrier.map(|c| &self.carriers[c]),
                    original_value_cny: value,
                }
                .build(rng)
            })
            .collect()
    }
}

/// The requested number of carriers, or one per [`DEFAULT_INSTRUMENTS_PER_CARRIER`]
/// instruments (at least one when there are instruments).
fn carrier_count(options: &GenerateOptions) -> usize {
    let default = options.count / DEFAULT_INSTRUMENTS_PER_CARRIER;
    options
        .carriers
        .unwrap_or(default.max(usize::from(options.count > 0)))
}

fn check_total(options: &GenerateOptions) -> Result<(), GenerateError> {
    match options.total_value_cny {
        Some(_) if options.count == 0 => Err(GenerateError::TotalWithoutInstruments),
        Some(total) if total > MAX_SAFE_INTEGER => Err(GenerateError::TotalValueTooLarge(total)),
        _ => Ok(()),
    }
}

/// The requested number of institutions, or about 2·√count (at most one per instrument and
/// at most as many as the region can name).
fn institution_count(
    tables: &'static Tables,
    region: &'static tables::Region,
    options: &GenerateOptions,
) -> Result<usize, GenerateError> {
    match options.institutions {
        Some(0) if options.count > 0 => Err(GenerateError::NoInstitutions {
            count: options.count,
        }),
        Some(requested) => Ok(requested),
        None => {
            let default = options.count.saturating_mul(4).isqrt();
            Ok(default
                .min(institutions::capacity(tables, region))
                .min(options.count))
        }
    }
}

/// The kind of each placed instrument, drawn from what its institution is likely to hold.
fn choose_kinds(
    rng: &mut Random,
    tables: &Tables,
    roster: &[Institution],
    placements: &[Placement],
) -> Vec<usize> {
    let everything = Weighted::new(tables.kinds.iter().map(|k| k.weight));
    let per_institution: Vec<Option<Weighted>> = roster
        .iter()
        .map(|institution| {
            Weighted::new(
                tables
                    .kinds
                    .iter()
                    .map(|k| k.weight * affinity(tables, k, institution)),
            )
        })
        .collect();
    placements
        .iter()
        .map(|placement| {
            per_institution
                .get(placement.institution)
                .and_then(Option::as_ref)
                .or(everything.as_ref())
                .map_or(0, |weighted| weighted.sample(rng))
        })
        .collect()
}

/// How likely `institution` is to hold `kind`: much likelier in its focus, never for a
/// specialised discipline outside it, and only in its focus for non-research bodies.
fn affinity(tables: &Tables, kind: &Kind, institution: &Institution) -> f64 {
    let focused = institution.focus.contains(&kind.discipline.as_str());
    let research = matches!(
        institution.kind,
        InstitutionKind::University | InstitutionKind::Institute
    );
    let specialised = tables
        .discipline(&kind.discipline)
        .is_some_and(|d| d.specialised);
    if focused {
        FOCUS_AFFINITY
    } else if research && !specialised {
        1.0
    } else {
        0.0
    }
}

fn sample_values(rng: &mut Random, tables: &Tables, kinds: &[usize]) -> Vec<u64> {
    let models: Vec<PriceModel> = tables.kinds.iter().map(PriceModel::of).collect();
    kinds
        .iter()
        .map(|&kind| models.get(kind).map_or(0, |model| model.sample(rng)))
        .collect()
}

#[cfg(test)]
mod tests {
    //! What needs the generator's tables; everything visible through the public API is tested in
    //! `gen/tests/generate.rs`.
    use super::*;

    fn options(region: &str, count: usize, seed: u64) -> GenerateOptions {
        GenerateOptions {
            region: region.into(),
            count,
            seed,
            institutions: None,
            carriers: None,
            total_value_cny: None,
        }
    }

    #[test]
    fn institutions_hold_kinds_that_fit_them() {
        let tables = tables::tables().unwrap();
        let records = generate(&options("CN-GS", 3000, 8)).unwrap();
        let discipline_of = |name: &Value| {
            let kind = tables.kinds.iter().find(|k| k.name == *name).unwrap();
            kind.discipline.as_str()
        };
        for record in &records {
            let owner = record["institution"]["name"].as_str().unwrap();
            let discipline = discipline_of(&record["name"]);
            if owner.ends_with("医院") {
                let fits = ["medical", "life", "chemistry"].contains(&discipline);
                assert!(fits, "{owner}: {discipline}");
            }
            if discipline == "astronomy" {
                panic!("{owner} holds a telescope, but no Gansu institution studies astronomy");
            }
        }
        let lanzhou: Vec<&str> = records
            .iter()
            .filter(|r| r["institution"]["name"] == "兰州大学")
            .map(|r| discipline_of(&r["name"]))
            .collect();
        let in_focus = lanzhou
            .iter()
            .filter(|d| ["chemistry", "life", "earth", "nuclear", "physics"].contains(d))
            .count();
        assert!(
            in_focus * 3 > lanzhou.len() * 2,
            "{in_focus} of {}",
            lanzhou.len()
        );
    }
}
