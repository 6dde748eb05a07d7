//! One native-catalogue record: everything the schema knows about an instrument except `kind`,
//! `version` and `updated_at`, which the importing node fills in.

use super::carriers::Carrier;
use super::contacts::contact;
use super::institutions::{Institution, round_to};
use super::portable::{Random, between, chance, pick, pick_str, skewed, weighted_choice};
use super::tables::{Funding, InstitutionKind, Kind, Tables};
use rand::Rng;
use serde_json::{Map, Value, json};

/// The year the usage figures describe.
pub const USAGE_YEAR: u32 = 2025;
/// The latest commissioning year (a full year of use before [`USAGE_YEAR`]).
const LATEST_COMMISSIONING: u32 = USAGE_YEAR - 1;
/// How many years back the oldest instruments were commissioned.
const OLDEST_AGE_YEARS: f64 = 19.0;
/// Hours in a leap year, the schema's ceiling for yearly hours.
const HOURS_IN_YEAR: u32 = 8784;
/// Below this many hours a year an instrument counts as idle.
const IDLE_HOURS: u32 = 200;

/// Where a record is going and what it is.
pub struct Draft<'a> {
    pub tables: &'a Tables,
    pub region: &'a str,
    pub province: &'a str,
    pub local_id: String,
    pub kind: &'a Kind,
    pub institution: &'a Institution,
    pub carrier: Option<&'a Carrier>,
    pub original_value_cny: u64,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Sharing {
    External,
    Internal,
    Closed,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Source {
    Purchased,
    Developed,
    Donated,
    Other,
}

/// What the record's later parts need to know from its earlier ones.
struct Facts {
    commissioned_year: u32,
    sharing: Sharing,
    status: &'static str,
    room: String,
}

impl Draft<'_> {
    /// The record, drawing everything not yet decided from `rng`.
    pub fn build(&self, rng: &mut Random) -> Value {
        let commissioned_year = commissioning_year(rng);
        let facts = Facts {
            commissioned_year,
            status: status(rng, commissioned_year),
            sharing: weighted_choice(
                rng,
                &[
                    (Sharing::External, 0.78),
                    (Sharing::Internal, 0.17),
                    (Sharing::Closed, 0.05),
                ],
            ),
            room: room(rng, self.tables, self.institution.kind),
        };
        let mut record = Map::new();
        self.describe_instrument(rng, &facts, &mut record);
        self.describe_owner(rng, &facts, &mut record);
        self.describe_service(rng, &facts, &mut record);
        Value::Object(record)
    }

    /// What the instrument is: identity, maker, value, age.
    fn describe_instrument(
        &self,
        rng: &mut Random,
        facts: &Facts,
        record: &mut Map<String, Value>,
    ) {
        let source = weighted_choice(
            rng,
            &[
                (Source::Purchased, 0.955),
                (Source::Developed, 0.025),
                (Source::Donated, 0.01),
                (Source::Other, 0.01),
            ],
        );
        let (manufacturer, model, country) = self.maker(rng, source);
        let year = facts.commissioned_year;
        let customs_supervised = country != "CN" && year >= 2020 && chance(rng, 0.6);
        let instrument_type = if chance(rng, 0.12) {
            "special"
        } else {
            "general"
        };
        let asset_no = format!("{year}{:06}", rng.gen_range(0..1_000_000));
        let fields = [
            ("region", json!(self.region)),
            ("local_id", json!(self.local_id)),
            ("name", json!(self.kind.name)),
            ("name_en", json!(self.kind.name_en)),
            ("category", json!(self.kind.category)),
            ("model", json!(model)),
            ("manufacturer", json!(manufacturer)),
            ("country_of_origin", json!(country)),
            ("original_value_cny", json!(self.original_value_cny)),
            ("commissioned_on", json!(date_in(rng, year))),
            ("source", json!(source.as_str())),
            ("instrument_type", json!(instrument_type)),
            ("customs_supervised", json!(customs_supervised)),
            ("keywords", json!(self.keywords())),
            ("subjects", json!(self.kind.subjects)),
            ("specs", json!(self.kind.specs)),
            ("functions", json!(self.kind.functions)),
            ("ext", json!({ "asset_no": asset_no })),
        ];
        record.extend(fields.map(|(key, value)| (key.to_owned(), value)));
    }

    /// Who holds it and where: institution, carrier, location, contact, funding.
    fn describe_owner(&self, rng: &mut Random, facts: &Facts, record: &mut Map<String, Value>) {
        record.insert("institution".into(), self.institution_block(rng));
        if let Some(carrier) = self.carrier {
            let block = json!({"type": carrier.carrier_type.as_str(), "name": carrier.name});
            record.insert("carrier".into(), block);
        }
        record.insert("location".into(), self.location(rng, &facts.room));
        record.insert("contact".into(), self.contact_block(rng, &facts.room));
        let funding = funding(rng, self.institution.funding);
        record.insert("funding".into(), json!(funding));
    }

    /// How it is shared: mode, booking, fee, notice, status and last year's use.
    fn describe_service(&self, rng: &mut Random, facts: &Facts, record: &mut Map<String, Value>) {
        record.insert("sharing".into(), self.sharing_block(facts.sharing));
        record.insert("service_content".into(), json!(self.kind.service));
        if let Some(fee) = self.fee(rng, facts.sharing) {
            record.insert("fee".into(), json!(fee));
        }
        let notice = pick_str(rng, &self.tables.people.notices);
        record.insert("user_notice".into(), json!(notice));
        record.insert("status".into(), json!(facts.status));
        let usage = self.usage(rng, facts.status, facts.sharing);
        record.insert("usage".into(), usage);
    }

    fn maker(&self, rng: &mut Random, source: Source) -> (String, String, String) {
        let (manufacturer, model) = match (source, pick(rng, &self.kind.models)) {
            (Source::Developed, _) | (_, None) => {
                let model = format!("{}-{}（自研）", self.kind.abbr, between(rng, 1, 9));
                return (self.institution.name.clone(), model, "CN".into());
            }
            (_, Some([manufacturer, model])) => (manufacturer, model),
        };
        let country = self.tables.manufacturers.get(manufacturer).cloned();
        (
            manufacturer.clone(),
            model.clone(),
            country.unwrap_or_else(|| "CN".into()),
        )
    }

    fn institution_block(&self, rng: &mut Random) -> Value {
        let institution = self.institution;
        let mut block = json!({"name": institution.name, "department": self.department(rng)});
        if let Some(code) = &institution.code {
            block["code"] = json!(code);
        }
        block
    }

    fn department(&self, rng: &mut Random) -> String {
        let discipline = self.tables.discipline(&self.kind.discipline);
        match self.institution.kind {
            InstitutionKind::University => discipline
                .map_or("分析测试中心", |d| d.department.as_str())
                .into(),
            InstitutionKind::Institute if chance(rng, 0.5) => "公共技术服务中心".into(),
            InstitutionKind::Institute => {
                let topic = discipline.map_or("", |d| pick_str(rng, &d.topics));
                format!("{topic}研究室")
            }
            InstitutionKind::Hospital if self.kind.category.starts_with("0902") => {
                "医学影像科".into()
            }
            InstitutionKind::Hospital => "中心实验室".into(),
            InstitutionKind::Inspection | InstitutionKind::Company => {
                let field = discipline.map_or("理化", |d| d.institute_field.as_str());
                format!("{field}检测室")
            }
        }
    }

    fn location(&self, rng: &mut Random, room: &str) -> Value {
        let institution = self.institution;
        let mut location = json!({
            "province": self.province,
            "city": institution.city.name,
            "address": format!("{}{room}", institution.address),
            "lat": round_to(institution.lat + (rng.r#gen::<f64>() - 0.5) * 0.004, 6),
            "lon": round_to(institution.lon + (rng.r#gen::<f64>() - 0.5) * 0.004, 6),
        });
        if let Some(district) = institution.district {
            location["district"] = json!(district);
        }
        location
    }

    fn fee(&self, rng: &mut Random, sharing: Sharing) -> Option<String> {
        let [low, high] = self.kind.fee;
        let unit = &self.kind.fee_unit;
        let internal_cents = (low + (high - low) * rng.r#gen::<f64>()) * 100.0;
        let internal = yuan_text(round_price(internal_cents));
        let external = yuan_text(round_price(internal_cents * 1.5));
        let (inside, outside) = match self.institution.kind {
            InstitutionKind::University => ("校内", "校外"),
            InstitutionKind::Institute => ("所内", "所外"),
            InstitutionKind::Hospital => ("院内", "院外"),
            InstitutionKind::Inspection | InstitutionKind::Company => {
                return (sharing != Sharing::Closed).then(|| format!("{external} 元/{unit}"));
            }
        };
        match sharing {
            Sharing::External => Some(format!(
                "{internal} 元/{unit}（{inside}）；{external} 元/{unit}（{outside}）"
            )),
            Sharing::Internal => Some(format!("{internal} 元/{unit}（{inside}）")),
            Sharing::Closed => None,
        }
    }

    fn keywords(&self) -> Vec<&str> {
        let mut keywords = vec![self.kind.abbr.as_str()];
        for keyword in &self.kind.keywords {
            if !keywords.contains(&keyword.as_str()) {
                keywords.push(keyword);
            }
        }
        keywords
    }

    fn sharing_block(&self, sharing: Sharing) -> Value {
        match sharing {
            Sharing::External => json!({
                "mode": "external",
                "booking_url": format!("https://{}/instrument/{}", self.institution.booking_host, self.local_id),
            }),
            Sharing::Internal => json!({"mode": "internal"}),
            Sharing::Closed => json!({"mode": "none"}),
        }
    }

    fn usage(&self, rng: &mut Random, status: &str, sharing: Sharing) -> Value {
        let broken = matches!(
            status,
            "awaiting_repair" | "awaiting_disposal" | "frequent_fault"
        );
        let continuous = ["13", "07", "0305"]
            .iter()
            .any(|p| self.kind.category.starts_with(p));
        let run_hours = if broken || chance(rng, 0.1) {
            between(rng, 0, IDLE_HOURS - 1)
        } else if continuous {
            between(rng, 5000, HOURS_IN_YEAR - 24)
        } else {
            let spread = skewed(rng, 1.6);
            IDLE_HOURS + (spread * 3300.0) as u32
        };
        let external_share = match sharing {
            Sharing::External => 0.05 + 0.55 * rng.r#gen::<f64>(),
            Sharing::Internal | Sharing::Closed => 0.0,
        };
        let external = (f64::from(run_hours) * external_share) as u32;
        json!({"year": USAGE_YEAR, "run_hours": run_hours, "external_service_hours": external.min(run_hours)})
    }

    fn contact_block(&self, rng: &mut Random, room: &str) -> Value {
        let institution = self.institution;
        let person = contact(
            rng,
            &self.tables.people,
            &institution.domain,
            institution.city,
        );
        let mut block = json!({
            "name": person.name,
            "phone": person.phone,
            "email": person.email,
            "address": format!("{}{}{room}", institution.city.name, institution.address),
        });
        if let Some(postcode) = &institution.postcode {
            block["postcode"] = json!(postcode);
        }
        block
    }
}

impl Source {
    fn as_str(self) -> &'static str {
        match self {
            Source::Purchased => "purchased",
            Source::Developed => "developed",
            Source::Donated => "donated",
            Source::Other => "other",
        }
    }
}

/// Recent years are likelier: the age is skewed towards zero.
fn commissioning_year(rng: &mut Random) -> u32 {
    let age = skewed(rng, 1.7) * OLDEST_AGE_YEARS;
    LATEST_COMMISSIONING - age as u32
}

fn date_in(rng: &mut Random, year: u32) -> String {
    format!(
        "{year:04}-{:02}-{:02}",
        between(rng, 1, 12),
        between(rng, 1, 28)
    )
}

/// Mostly normal; older instruments fail more.
fn status(rng: &mut Random, commissioned_year: u32) -> &'static str {
    let wear = if commissioned_year < 2012 { 3.0 } else { 1.0 };
    weighted_choice(
        rng,
        &[
            ("normal", 0.88),
            ("occasional_fault", 0.04 * wear),
            ("frequent_fault", 0.008 * wear),
            ("awaiting_repair", 0.012 * wear),
            ("awaiting_disposal", 0.01 * wear),
            ("standby", 0.03),
            ("remote_service", 0.01),
        ],
    )
}

fn funding(rng: &mut Random, funding: Funding) -> Vec<&'static str> {
    let chosen: &[&'static str] = match funding {
        Funding::Central => weighted_choice(
            rng,
            &[
                (&["central"][..], 0.6),
                (&["central", "own"][..], 0.25),
                (&["own"][..], 0.1),
                (&["central", "local"][..], 0.05),
            ],
        ),
        Funding::Local => weighted_choice(
            rng,
            &[
                (&["local"][..], 0.55),
                (&["local", "own"][..], 0.25),
                (&["central", "local"][..], 0.1),
                (&["own"][..], 0.1),
            ],
        ),
        Funding::Own => weighted_choice(rng, &[(&["own"][..], 0.9), (&["local", "own"][..], 0.1)]),
    };
    chosen.to_vec()
}

/// A building and room, e.g. " 分析测试楼B203".
fn room(rng: &mut Random, tables: &Tables, kind: InstitutionKind) -> String {
    let people = &tables.people;
    let buildings = match kind {
        InstitutionKind::University | InstitutionKind::Institute => &people.buildings,
        InstitutionKind::Hospital => &people.hospital_buildings,
        InstitutionKind::Inspection | InstitutionKind::Company => &people.company_buildings,
    };
    let building = pick_str(rng, buildings);
    let wing = ["A", "B", "C", ""][rng.gen_range(0..4u32) as usize];
    format!(
        " {building}{wing}{}{:02}",
        between(rng, 1, 6),
        between(rng, 1, 30)
    )
}

/// Prices above 100 yuan to the ten, above 1 yuan to the yuan, below to the cent.
fn round_price(cents: f64) -> u64 {
    let step = if cents >= 10_000.0 {
        1000.0
    } else if cents >= 100.0 {
        100.0
    } else {
        1.0
    };
    ((cents / step).round().max(1.0) * step) as u64
}

fn yuan_text(cents: u64) -> String {
    match cents % 100 {
        0 => (cents / 100).to_string(),
        rest => format!("{}.{rest:02}", cents / 100),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prices_read_like_price_lists() {
        assert_eq!(yuan_text(round_price(35_512.0)), "360");
        assert_eq!(yuan_text(round_price(1_234.0)), "12");
        assert_eq!(yuan_text(round_price(7.4)), "0.07");
    }
}
