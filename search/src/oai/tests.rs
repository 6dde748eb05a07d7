//! The OAI-PMH answers over an in-memory catalogue, through the shared router.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use http_body_util::BodyExt;
use quick_xml::Reader;
use quick_xml::events::Event;
use serde_json::{Value, json};
use tower::ServiceExt;

use super::{EntryPage, OaiSettings, PAGE_SIZE, PositionedEntry};
use crate::SearchService;
use crate::http::{ApiError, Catalogue, read_routes};
use crate::pages::ServedBy;

/// Stored entries by position (a number), each record's current entry only.
struct Memory {
    search: Arc<SearchService>,
    entries: BTreeMap<u64, Vec<u8>>,
    oai: OaiSettings,
    _dir: tempfile::TempDir,
}

impl Catalogue for Memory {
    fn search(&self) -> &Arc<SearchService> {
        &self.search
    }

    fn stored_entry(&self, region: &str, local_id: &str) -> Result<Option<Vec<u8>>, ApiError> {
        let is_it = |entry: &&Vec<u8>| {
            let entry: Value = serde_json::from_slice(entry).unwrap();
            let record = &entry["envelope"]["record"];
            record["region"] == region && record["local_id"] == local_id
        };
        Ok(self.entries.values().find(is_it).cloned())
    }

    fn served_by(&self) -> ServedBy {
        ServedBy::Hub
    }

    fn entries_after(&self, after: Option<&str>, limit: usize) -> Result<EntryPage, ApiError> {
        let after = match after {
            None => 0,
            Some(text) => text
                .parse::<u64>()
                .map_err(|_| ApiError::bad_parameter("after", "after: not a position"))?,
        };
        let entries: Vec<PositionedEntry> = self
            .entries
            .range(after + 1..)
            .take(limit)
            .map(|(position, entry)| PositionedEntry {
                position: position.to_string(),
                entry: entry.clone(),
            })
            .collect();
        let next = (entries.len() == limit).then(|| entries.last().map(|e| e.position.clone()));
        Ok(EntryPage {
            entries,
            next: next.flatten(),
        })
    }

    fn earliest_datestamp(&self) -> Result<Option<String>, ApiError> {
        Ok(Some("2026-01-01T00:00:00.000Z".into()))
    }

    fn oai_settings(&self) -> &OaiSettings {
        &self.oai
    }
}

fn instrument(region: &str, n: u64) -> Value {
    json!({"kind": "instrument", "region": region, "local_id": format!("I-{n}"), "version": 1,
        "updated_at": "2026-01-01T00:00:00Z", "name": format!("透射电子显微镜 {n} <&>"),
        "name_en": "Transmission electron microscope", "category": "010101",
        "manufacturer": "JEOL", "model": "JEM-2100", "commissioned_on": "2019-05-01",
        "institution": {"name": "北京大学"}, "subjects": ["物理学"]})
}

fn tombstone(region: &str, n: u64) -> Value {
    json!({"kind": "instrument", "region": region, "local_id": format!("I-{n}"), "version": 2,
        "updated_at": "2026-01-02T00:00:00Z", "deleted": true})
}

/// `count` Beijing instruments received one a minute from 2026-03-01, every tenth deleted,
/// and one key record.
fn catalogue(count: u64) -> Memory {
    let dir = tempfile::tempdir().unwrap();
    let mut entries = BTreeMap::new();
    for n in 1..=count {
        let record = if n % 10 == 0 {
            tombstone("CN-BJ", n)
        } else {
            instrument("CN-BJ", n)
        };
        let received = format!("2026-03-01T{:02}:{:02}:00.250Z", n / 60, n % 60);
        entries.insert(n, entry(&received, &record));
    }
    let key = json!({"kind": "key", "region": "CN-GS", "local_id": "k1", "version": 1,
        "updated_at": "2026-01-01T00:00:00Z"});
    entries.insert(count + 1, entry("2026-03-02T00:00:00.000Z", &key));
    Memory {
        search: Arc::new(SearchService::open(dir.path()).unwrap()),
        entries,
        oai: OaiSettings {
            repository_identifier: "hub.example.org".into(),
            ..OaiSettings::default()
        },
        _dir: dir,
    }
}

fn entry(received_at: &str, record: &Value) -> Vec<u8> {
    let envelope =
        json!({"record": record, "signature": {"alg": "Ed25519", "key": "k", "value": "v"}});
    yiqi_schema::protocol::feed_entry_bytes(Some((1, received_at)), envelope.to_string().as_bytes())
}

async fn get(host: &Arc<Memory>, query: &str) -> String {
    let request = Request::get(format!("/oai?{query}"))
        .header(header::HOST, "hub.test:7800")
        .body(Body::empty())
        .unwrap();
    send(host, request).await
}

async fn send(host: &Arc<Memory>, request: Request<Body>) -> String {
    let response = read_routes::<Memory>()
        .with_state(host.clone())
        .oneshot(request)
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers()[header::CONTENT_TYPE],
        "text/xml; charset=utf-8"
    );
    let body = response.into_body().collect().await.unwrap().to_bytes();
    String::from_utf8(body.to_vec()).unwrap()
}

/// The texts of every element called `name`, in document order (checks well-formedness too).
fn texts(xml: &str, name: &str) -> Vec<String> {
    let mut reader = Reader::from_str(xml);
    let (mut out, mut inside) = (Vec::new(), false);
    loop {
        match reader.read_event().expect("well-formed XML") {
            Event::Start(e) if e.name().as_ref() == name.as_bytes() => inside = true,
            Event::Empty(e) if e.name().as_ref() == name.as_bytes() => out.push(String::new()),
            Event::Text(t) if inside => out.push(t.unescape().unwrap().into_owned()),
            Event::End(e) if e.name().as_ref() == name.as_bytes() => inside = false,
            Event::Eof => return out,
            _ => {}
        }
    }
}

fn error_code(xml: &str) -> Option<String> {
    let start = xml.find("<error code=\"")? + 13;
    Some(xml[start..].split('"').next()?.to_owned())
}

fn token_of(xml: &str) -> Option<String> {
    texts(xml, "resumptionToken")
        .pop()
        .filter(|t| !t.is_empty())
}

#[tokio::test]
async fn identify_describes_the_repository() {
    let host = Arc::new(catalogue(3));
    let xml = get(&host, "verb=Identify").await;
    assert_eq!(texts(&xml, "baseURL"), ["http://hub.test:7800/oai"]);
    assert_eq!(texts(&xml, "protocolVersion"), ["2.0"]);
    assert_eq!(texts(&xml, "deletedRecord"), ["persistent"]);
    assert_eq!(texts(&xml, "granularity"), ["YYYY-MM-DDThh:mm:ssZ"]);
    assert_eq!(texts(&xml, "earliestDatestamp"), ["2026-01-01T00:00:00Z"]);
    assert!(xml.contains("<request verb=\"Identify\">http://hub.test:7800/oai</request>"));
}

#[tokio::test]
async fn a_list_pages_through_every_item_once_with_stateless_tokens() {
    let count = PAGE_SIZE as u64 * 2 + 7;
    let host = Arc::new(catalogue(count));
    let mut xml = get(
        &host,
        "verb=ListIdentifiers&metadataPrefix=oai_dc&set=region:CN-BJ",
    )
    .await;
    let mut identifiers = Vec::new();
    let (mut cursors, mut deleted) = (Vec::new(), 0);
    loop {
        identifiers.extend(texts(&xml, "identifier"));
        deleted += xml.matches("<header status=\"deleted\">").count();
        let Some(token) = token_of(&xml) else { break };
        assert!(
            xml.contains(&format!("completeListSize=\"{count}\"")),
            "{xml}"
        );
        cursors.push(identifiers.len());
        xml = get(
            &host,
            &format!("verb=ListIdentifiers&resumptionToken={token}"),
        )
        .await;
    }
    assert!(xml.contains(&format!(
        "completeListSize=\"{count}\" cursor=\"{}\"",
        PAGE_SIZE * 2
    )));
    assert_eq!(cursors, [PAGE_SIZE, PAGE_SIZE * 2]);
    let expected: Vec<String> = (1..=count)
        .map(|n| format!("oai:hub.example.org:CN-BJ/I-{n}"))
        .collect();
    assert_eq!(identifiers, expected);
    assert_eq!(deleted as u64, count / 10, "every tenth is a tombstone");
}

#[tokio::test]
async fn from_and_until_are_inclusive_at_seconds() {
    let host = Arc::new(catalogue(20));
    let xml = get(
        &host,
        "verb=ListIdentifiers&metadataPrefix=yiqi&from=2026-03-01T00:05:00Z&until=2026-03-01T00:07:00Z",
    )
    .await;
    assert_eq!(
        texts(&xml, "datestamp"),
        [
            "2026-03-01T00:05:00Z",
            "2026-03-01T00:06:00Z",
            "2026-03-01T00:07:00Z"
        ]
    );
    let day = get(
        &host,
        "verb=ListIdentifiers&metadataPrefix=yiqi&from=2026-03-02&until=2026-03-02",
    )
    .await;
    assert_eq!(texts(&day, "identifier"), ["oai:hub.example.org:CN-GS/k1"]);
    let none = get(
        &host,
        "verb=ListIdentifiers&metadataPrefix=yiqi&from=2027-01-01",
    )
    .await;
    assert_eq!(error_code(&none).as_deref(), Some("noRecordsMatch"));
}

#[tokio::test]
async fn records_come_in_each_format_with_the_members_their_schemas_require() {
    let host = Arc::new(catalogue(3));
    let id = "oai:hub.example.org:CN-BJ/I-2";
    let datacite = get(
        &host,
        &format!("verb=GetRecord&metadataPrefix=datacite&identifier={id}"),
    )
    .await;
    for required in [
        "creatorName",
        "title",
        "publisher",
        "publicationYear",
        "resourceType",
    ] {
        assert!(
            !texts(&datacite, required).is_empty(),
            "{required} in {datacite}"
        );
    }
    assert!(datacite.contains("resourceTypeGeneral=\"Instrument\""));
    assert!(datacite.contains("xmlns=\"http://datacite.org/schema/kernel-4\""));
    assert_eq!(texts(&datacite, "creatorName"), ["JEOL"]);
    assert_eq!(texts(&datacite, "title")[0], "透射电子显微镜 2 <&>");
    assert_eq!(texts(&datacite, "publicationYear"), ["2026"]);
    assert!(datacite.contains("contributorType=\"HostingInstitution\""));
    assert!(datacite.contains("dateInformation=\"Commissioned\">2019-05-01<"));
    assert!(datacite.contains("classificationCode=\"010101\">透射电镜<"));
    let dc = get(
        &host,
        &format!("verb=GetRecord&metadataPrefix=oai_dc&identifier={id}"),
    )
    .await;
    assert!(dc.contains("<oai_dc:dc xmlns:oai_dc=\"http://www.openarchives.org/OAI/2.0/oai_dc/\""));
    assert_eq!(
        texts(&dc, "dc:title"),
        ["透射电子显微镜 2 <&>", "Transmission electron microscope"]
    );
    assert!(
        texts(&dc, "dc:identifier")
            .contains(&"http://hub.test:7800/instruments/CN-BJ/I-2".to_owned())
    );
    let yiqi = get(
        &host,
        &format!("verb=GetRecord&metadataPrefix=yiqi&identifier={id}"),
    )
    .await;
    let envelope = &texts(&yiqi, "envelope")[0];
    let stored: Value = serde_json::from_slice(&host.entries[&2]).unwrap();
    assert_eq!(envelope, &stored["envelope"].to_string());
}

#[tokio::test]
async fn every_error_condition_has_its_code() {
    let host = Arc::new(catalogue(12));
    let cases = [
        ("verb=Nope", "badVerb"),
        ("", "badVerb"),
        ("verb=GetRecord&metadataPrefix=oai_dc", "badArgument"),
        (
            "verb=ListRecords&metadataPrefix=marc",
            "cannotDisseminateFormat",
        ),
        (
            "verb=GetRecord&metadataPrefix=oai_dc&identifier=oai:hub.example.org:CN-BJ/none",
            "idDoesNotExist",
        ),
        (
            "verb=GetRecord&metadataPrefix=oai_dc&identifier=oai:other:CN-BJ/I-1",
            "idDoesNotExist",
        ),
        (
            "verb=GetRecord&metadataPrefix=datacite&identifier=oai:hub.example.org:CN-GS/k1",
            "cannotDisseminateFormat",
        ),
        (
            "verb=ListRecords&metadataPrefix=oai_dc&set=region:CN-XX",
            "noRecordsMatch",
        ),
        (
            "verb=ListRecords&resumptionToken=garbage",
            "badResumptionToken",
        ),
        ("verb=ListSets&resumptionToken=x", "badResumptionToken"),
        (
            "verb=ListMetadataFormats&identifier=oai:hub.example.org:CN-BJ/none",
            "idDoesNotExist",
        ),
    ];
    for (query, code) in cases {
        let xml = get(&host, query).await;
        assert_eq!(error_code(&xml).as_deref(), Some(code), "{query}: {xml}");
    }
    let bad_verb = get(&host, "verb=Nope&x=1").await;
    assert!(
        bad_verb.contains("<request>http://hub.test:7800/oai</request>"),
        "{bad_verb}"
    );
}

#[tokio::test]
async fn deleted_records_are_headers_only_and_formats_fit_the_kind() {
    let host = Arc::new(catalogue(10));
    let xml = get(
        &host,
        "verb=GetRecord&metadataPrefix=oai_dc&identifier=oai:hub.example.org:CN-BJ/I-10",
    )
    .await;
    assert!(xml.contains("<header status=\"deleted\">"));
    assert!(!xml.contains("<metadata>"));
    let formats = get(
        &host,
        "verb=ListMetadataFormats&identifier=oai:hub.example.org:CN-GS/k1",
    )
    .await;
    assert_eq!(texts(&formats, "metadataPrefix"), ["oai_dc", "yiqi"]);
    let all = get(&host, "verb=ListMetadataFormats").await;
    assert_eq!(
        texts(&all, "metadataPrefix"),
        ["oai_dc", "datacite", "yiqi"]
    );
    let records = get(&host, "verb=ListRecords&metadataPrefix=datacite").await;
    assert_eq!(
        texts(&records, "identifier").len(),
        10,
        "the key record has no DataCite form"
    );
}

#[tokio::test]
async fn post_takes_form_arguments() {
    let host = Arc::new(catalogue(2));
    let request = Request::post("/oai")
        .header(header::HOST, "hub.test")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(
            "verb=GetRecord&metadataPrefix=oai_dc&identifier=oai%3Ahub.example.org%3ACN-BJ%2FI-1",
        ))
        .unwrap();
    let xml = send(&host, request).await;
    assert_eq!(texts(&xml, "identifier"), ["oai:hub.example.org:CN-BJ/I-1"]);
}

#[test]
fn settings_are_checked() {
    let oai =
        OaiSettings::configured(Some("hub.example.org".into()), Some("a@b.org".into())).unwrap();
    assert_eq!(oai.repository_identifier, "hub.example.org");
    assert_eq!(oai.admin_email, "a@b.org");
    assert!(
        OaiSettings::configured(Some("a:b".into()), None)
            .unwrap_err()
            .contains("domain name")
    );
    assert!(
        OaiSettings::configured(None, Some("nobody".into()))
            .unwrap_err()
            .contains("address")
    );
}

#[tokio::test]
async fn the_home_page_and_the_api_catalog_advertise_oai_and_the_feed() {
    let host = Arc::new(catalogue(1));
    let request = |uri: &str| {
        Request::get(uri)
            .header(header::HOST, "hub.test")
            .body(Body::empty())
            .unwrap()
    };
    let router = read_routes::<Memory>().with_state(host.clone());
    let home = router.clone().oneshot(request("/")).await.unwrap();
    let home = home.into_body().collect().await.unwrap().to_bytes();
    let home = String::from_utf8_lossy(&home);
    for link in [
        "<link rel=\"api-catalog\" href=\"/.well-known/api-catalog\">",
        "type=\"text/xml\" title=\"OAI-PMH 2.0 repository (oai_dc, datacite, yiqi)\" href=\"/oai\">",
        "href=\"/v1/feed\">",
    ] {
        assert!(home.contains(link), "{link} in {home}");
    }
    let catalog = router
        .oneshot(request("/.well-known/api-catalog"))
        .await
        .unwrap();
    assert_eq!(catalog.status(), StatusCode::OK);
    assert!(
        catalog.headers()[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("application/linkset+json")
    );
    let body = catalog.into_body().collect().await.unwrap().to_bytes();
    let linkset: Value = serde_json::from_slice(&body).unwrap();
    let catalogue = &linkset["linkset"][0];
    assert_eq!(
        catalogue["anchor"],
        "http://hub.test/.well-known/api-catalog"
    );
    let hrefs: Vec<&str> = catalogue["item"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["href"].as_str().unwrap())
        .collect();
    assert_eq!(
        hrefs,
        [
            "http://hub.test/oai",
            "http://hub.test/v1/search",
            "http://hub.test/openapi.json",
            "http://hub.test/v1/feed"
        ]
    );
    let search = linkset["linkset"]
        .as_array()
        .unwrap()
        .iter()
        .find(|context| context["anchor"] == "http://hub.test/v1/search")
        .unwrap();
    assert_eq!(
        search["service-desc"][0]["href"],
        "http://hub.test/openapi.json"
    );
}
