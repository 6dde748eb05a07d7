//! The three metadata formats: `oai_dc` (unqualified Dublin Core, required by the protocol),
//! `datacite` (DataCite Metadata Schema 4.5 with `resourceTypeGeneral="Instrument"`, mapped as
//! the RDA PIDINST recommendation maps instrument properties; table in docs/oai-pmh.md) and
//! `yiqi` (the signed envelope's canonical JSON, so a harvester can verify each record itself).

use yiqi_schema::{classification, regions};

use super::item::Item;
use super::xml::{self, Xml};

const XSI: &str = "http://www.w3.org/2001/XMLSchema-instance";
/// The namespace of the `yiqi` format's one element, `envelope`.
pub const YIQI_NAMESPACE: &str = "urn:yiqi:oai:envelope:1";
/// Where a host serves the `yiqi` format's schema (below its origin).
pub const YIQI_SCHEMA_PATH: &str = "/oai/yiqi-envelope.xsd";
/// The `yiqi` format's XML Schema.
pub const YIQI_SCHEMA: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema" targetNamespace="urn:yiqi:oai:envelope:1"
    elementFormDefault="qualified">
  <xs:annotation><xs:documentation>A yiqi signed envelope: its RFC 8785 canonical JSON as text,
    byte for byte as the hub verified it (docs/oai-pmh.md).</xs:documentation></xs:annotation>
  <xs:element name="envelope" type="xs:string"/>
</xs:schema>
"#;

/// A metadata format the repository disseminates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    OaiDc,
    DataCite,
    Yiqi,
}

/// What the writers need besides the item.
pub struct Context<'a> {
    /// `http://host:port`, for landing pages and the `yiqi` schema's address.
    pub origin: &'a str,
}

impl Format {
    pub const ALL: [Format; 3] = [Format::OaiDc, Format::DataCite, Format::Yiqi];

    pub fn of_prefix(prefix: &str) -> Option<Format> {
        Format::ALL.into_iter().find(|f| f.prefix() == prefix)
    }

    pub fn prefix(self) -> &'static str {
        match self {
            Format::OaiDc => "oai_dc",
            Format::DataCite => "datacite",
            Format::Yiqi => "yiqi",
        }
    }

    pub fn namespace(self) -> &'static str {
        match self {
            Format::OaiDc => "http://www.openarchives.org/OAI/2.0/oai_dc/",
            Format::DataCite => "http://datacite.org/schema/kernel-4",
            Format::Yiqi => YIQI_NAMESPACE,
        }
    }

    pub fn schema(self, context: &Context) -> String {
        match self {
            Format::OaiDc => "http://www.openarchives.org/OAI/2.0/oai_dc.xsd".into(),
            Format::DataCite => "http://schema.datacite.org/meta/kernel-4.5/metadata.xsd".into(),
            Format::Yiqi => format!("{}{YIQI_SCHEMA_PATH}", context.origin),
        }
    }

    /// Whether items of `kind` can be had in this format: DataCite describes instruments only.
    pub fn disseminates(self, kind: &str) -> bool {
        self != Format::DataCite || kind == "instrument"
    }

    /// The `metadata` content of a live item.
    pub fn write(self, xml: &mut Xml, item: &Item, context: &Context) {
        let location = format!("{} {}", self.namespace(), self.schema(context));
        match self {
            Format::OaiDc => dublin_core(xml, item, context, &location),
            Format::DataCite => datacite(xml, item, context, &location),
            Format::Yiqi => xml::element(
                xml,
                "envelope",
                &[
                    ("xmlns", YIQI_NAMESPACE),
                    ("xmlns:xsi", XSI),
                    ("xsi:schemaLocation", &location),
                ],
                &item.envelope,
            ),
        }
    }
}

/// The instrument's page on the host that answers.
pub fn landing_page(item: &Item, context: &Context) -> String {
    format!(
        "{}/instruments/{}/{}",
        context.origin, item.region, item.local_id
    )
}

/// The record as JSON on the host that answers.
fn record_url(item: &Item, context: &Context) -> String {
    format!(
        "{}/v1/records/{}/{}",
        context.origin, item.region, item.local_id
    )
}

/// The regional platform that published the record.
fn publisher(region: &str) -> String {
    match (regions::name_zh(region), regions::name_en(region)) {
        (Some(zh), Some(en)) => format!("{zh}大型科研仪器开放共享平台 ({en}, {region})"),
        _ => format!("{region} regional platform"),
    }
}

fn category_name(item: &Item) -> Option<(&str, &'static str)> {
    let code = item.text(&["category"])?;
    Some((code, classification::get(code)?.name_zh))
}

fn dublin_core(xml: &mut Xml, item: &Item, context: &Context, location: &str) {
    let attributes = [
        ("xmlns:oai_dc", Format::OaiDc.namespace()),
        ("xmlns:dc", "http://purl.org/dc/elements/1.1/"),
        ("xmlns:xsi", XSI),
        ("xsi:schemaLocation", location),
    ];
    xml::parent(xml, "oai_dc:dc", &attributes, |xml| {
        let mut dc = |name: &str, value: &str| xml::element(xml, &format!("dc:{name}"), &[], value);
        let id = format!("{}/{}", item.region, item.local_id);
        if item.kind == "instrument" {
            for title in [item.text(&["name"]), item.text(&["name_en"])]
                .into_iter()
                .flatten()
            {
                dc("title", title);
            }
            if let Some(maker) = item.text(&["manufacturer"]) {
                dc("creator", maker);
            }
            if let Some((code, name)) = category_name(item) {
                dc("subject", &format!("{code} {name}"));
            }
            for path in [&["model"][..], &["specs"], &["functions"]] {
                if let Some(text) = item.text(path) {
                    dc("description", text);
                }
            }
            if let Some(owner) = item.text(&["institution", "name"]) {
                dc("contributor", owner);
            }
            if let Some(date) = item.text(&["commissioned_on"]) {
                dc("date", date);
            }
            dc("type", "PhysicalObject");
            dc("identifier", &landing_page(item, context));
            let place = [&["location", "province"][..], &["location", "city"]]
                .iter()
                .filter_map(|p| item.text(p))
                .collect::<Vec<_>>()
                .join(" ");
            if !place.is_empty() {
                dc("coverage", &place);
            }
        } else {
            dc("title", &format!("{} {id}", item.kind));
            dc("type", &item.kind);
        }
        dc("publisher", &publisher(&item.region));
        dc("identifier", &id);
        dc("identifier", &record_url(item, context));
    });
}

fn datacite(xml: &mut Xml, item: &Item, context: &Context, location: &str) {
    let attributes = [
        ("xmlns", Format::DataCite.namespace()),
        ("xmlns:xsi", XSI),
        ("xsi:schemaLocation", location),
    ];
    xml::parent(xml, "resource", &attributes, |xml| {
        // The owner stands in as creator when the record names no manufacturer.
        let owner = item.text(&["institution", "name"]);
        let creator = item.text(&["manufacturer"]).or(owner).unwrap_or("unknown");
        xml::parent(xml, "creators", &[], |xml| {
            xml::parent(xml, "creator", &[], |xml| {
                xml::element(
                    xml,
                    "creatorName",
                    &[("nameType", "Organizational")],
                    creator,
                );
            });
        });
        xml::parent(xml, "titles", &[], |xml| {
            if let Some(name) = item.text(&["name"]) {
                xml::element(xml, "title", &[("xml:lang", "zh")], name);
            }
            if let Some(name) = item.text(&["name_en"]) {
                xml::element(xml, "title", &[("xml:lang", "en")], name);
            }
        });
        xml::element(xml, "publisher", &[], &publisher(&item.region));
        xml::element(xml, "publicationYear", &[], &item.datestamp[..4]);
        let type_name = category_name(item).map_or("Instrument", |(_, name)| name);
        xml::element(
            xml,
            "resourceType",
            &[("resourceTypeGeneral", "Instrument")],
            type_name,
        );
        datacite_subjects(xml, item);
        if let Some(owner) = owner {
            xml::parent(xml, "contributors", &[], |xml| {
                xml::parent(
                    xml,
                    "contributor",
                    &[("contributorType", "HostingInstitution")],
                    |xml| {
                        xml::element(
                            xml,
                            "contributorName",
                            &[("nameType", "Organizational")],
                            owner,
                        );
                    },
                );
            });
        }
        xml::parent(xml, "dates", &[], |xml| {
            if let Some(date) = item.text(&["commissioned_on"]) {
                let attributes = [("dateType", "Other"), ("dateInformation", "Commissioned")];
                xml::element(xml, "date", &attributes, date);
            }
            xml::element(
                xml,
                "date",
                &[("dateType", "Updated")],
                &item.datestamp[..10],
            );
        });
        xml::parent(xml, "alternateIdentifiers", &[], |xml| {
            let url = landing_page(item, context);
            xml::element(
                xml,
                "alternateIdentifier",
                &[("alternateIdentifierType", "URL")],
                &url,
            );
            let id = format!("{}/{}", item.region, item.local_id);
            xml::element(
                xml,
                "alternateIdentifier",
                &[("alternateIdentifierType", "yiqi")],
                &id,
            );
        });
        if let Some(version) = item.record.get("version") {
            xml::element(xml, "version", &[], &version.to_string());
        }
        datacite_descriptions(xml, item);
    });
}

fn datacite_subjects(xml: &mut Xml, item: &Item) {
    let category = category_name(item);
    let disciplines = item
        .record
        .get("subjects")
        .and_then(|s| s.as_array())
        .into_iter()
        .flatten()
        .filter_map(|s| s.as_str());
    xml::parent(xml, "subjects", &[], |xml| {
        if let Some((code, name)) = category {
            let attributes = [
                ("subjectScheme", "大型科学仪器设备分类"),
                ("classificationCode", code),
            ];
            xml::element(xml, "subject", &attributes, name);
        }
        for discipline in disciplines {
            xml::element(xml, "subject", &[], discipline);
        }
    });
}

fn datacite_descriptions(xml: &mut Xml, item: &Item) {
    let descriptions: Vec<(&str, String)> = [
        (
            "TechnicalInfo",
            item.text(&["model"]).map(|m| format!("Model: {m}")),
        ),
        ("TechnicalInfo", item.text(&["specs"]).map(str::to_owned)),
        ("Abstract", item.text(&["functions"]).map(str::to_owned)),
    ]
    .into_iter()
    .filter_map(|(kind, text)| Some((kind, text?)))
    .collect();
    if descriptions.is_empty() {
        return;
    }
    xml::parent(xml, "descriptions", &[], |xml| {
        for (kind, text) in &descriptions {
            xml::element(xml, "description", &[("descriptionType", kind)], text);
        }
    });
}
