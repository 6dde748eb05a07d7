//! OAI-PMH 2.0 at `/oai`, over any [`Catalogue`]: the hub and every serving node answer the six
//! verbs (GET and form-encoded POST) from their stored entries, in the formats of
//! [`formats`], with the sets of [`sets`] and stateless resumption tokens ([`token`]).
//! docs/oai-pmh.md is the harvester's guide.
//!
//! Lists are read from the host page by page ([`Catalogue::entries_after`]) and written a page
//! of [`PAGE_SIZE`] items at a time, so a harvest of any size runs in bounded memory.

mod datestamp;
mod formats;
mod item;
mod request;
mod sets;
mod token;
mod xml;

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};

use crate::http::{ApiError, Catalogue, ErrorCode as ApiErrorCode, blocking};
use formats::{Context, Format};
use item::Item;
use request::{ErrorCode, ListStart, OaiError, Selection, Verb};
use token::Token;
use xml::Xml;

pub use formats::{YIQI_SCHEMA, YIQI_SCHEMA_PATH};

/// Items in one list response.
pub const PAGE_SIZE: usize = 250;
/// Stored entries read from the host per step while filling a page.
const READ_CHUNK: usize = 500;

const OAI_NAMESPACE: &str = "http://www.openarchives.org/OAI/2.0/";
const OAI_SCHEMA_LOCATION: &str =
    "http://www.openarchives.org/OAI/2.0/ http://www.openarchives.org/OAI/2.0/OAI-PMH.xsd";

/// How a host presents itself to harvesters (configurable on the hub and on nodes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OaiSettings {
    /// The repository identifier in `oai:{repository identifier}:{region}/{local_id}`.
    pub repository_identifier: String,
    pub repository_name: String,
    pub admin_email: String,
}

/// The default repository identifier.
pub const DEFAULT_REPOSITORY_IDENTIFIER: &str = "yiqi";

impl Default for OaiSettings {
    fn default() -> Self {
        OaiSettings {
            repository_identifier: DEFAULT_REPOSITORY_IDENTIFIER.into(),
            repository_name: "yiqi: national catalogue of large research instruments (仪器)".into(),
            admin_email: "admin@localhost.localdomain".into(),
        }
    }
}

impl OaiSettings {
    /// The defaults with what an operator configured, checked: the repository identifier must
    /// fit in an identifier URI and the e-mail must look like one (the OAI-PMH schema's
    /// pattern).
    pub fn configured(
        repository_id: Option<String>,
        admin_email: Option<String>,
    ) -> Result<OaiSettings, String> {
        let mut oai = OaiSettings::default();
        if let Some(id) = repository_id {
            let fits = !id.is_empty()
                && id
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-'));
            if !fits {
                return Err(format!(
                    "OAI repository id {id:?}: use letters, digits, dots and hyphens (a domain \
                     name such as hub.example.org)"
                ));
            }
            oai.repository_identifier = id;
        }
        if let Some(email) = admin_email {
            let looks_right = email
                .split_once('@')
                .is_some_and(|(user, host)| !user.is_empty() && host.contains('.'))
                && !email.chars().any(char::is_whitespace);
            if !looks_right {
                return Err(format!(
                    "OAI admin e-mail {email:?}: give an address such as catalogue@example.org"
                ));
            }
            oai.admin_email = email;
        }
        Ok(oai)
    }
}

/// One stored entry with the host's position of it.
#[derive(Debug, Clone)]
pub struct PositionedEntry {
    /// Opaque to this module; the host reads it back in [`Catalogue::entries_after`].
    pub position: String,
    /// `{"seq","received_at","envelope"}` as `GET /v1/records/…` answers.
    pub entry: Vec<u8>,
}

/// A step through a host's stored entries.
#[derive(Debug, Clone, Default)]
pub struct EntryPage {
    pub entries: Vec<PositionedEntry>,
    /// Where to go on from; `None` at the end.
    pub next: Option<String>,
}

/// `GET /oai`.
#[utoipa::path(get, path = "/oai", tag = "oai-pmh",
    params(crate::openapi::OaiParams),
    responses(
        (status = 200, description = "An OAI-PMH response; protocol errors (`badVerb`, `badArgument`, …) are `<error>` elements in it", body = String, content_type = "text/xml"),
    ))]
pub async fn get<C: Catalogue>(
    State(host): State<Arc<C>>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Response {
    answer(host, &headers, crate::params::pairs(raw.as_deref())).await
}

/// `POST /oai` (`application/x-www-form-urlencoded`).
#[utoipa::path(post, path = "/oai", tag = "oai-pmh",
    request_body(content = crate::openapi::OaiForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "An OAI-PMH response; protocol errors (`badVerb`, `badArgument`, …) are `<error>` elements in it", body = String, content_type = "text/xml"),
        (status = 400, description = "`bad_parameter` on `content-type`: the body is not a form", body = yiqi_schema::protocol::ErrorBody),
    ))]
pub async fn post<C: Catalogue>(
    State(host): State<Arc<C>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    if !form {
        return ApiError::bad_parameter(
            "content-type",
            "content-type: an OAI-PMH POST is application/x-www-form-urlencoded",
        )
        .into_response();
    }
    let pairs = form_urlencoded::parse(&body).into_owned().collect();
    answer(host, &headers, pairs).await
}

/// `GET /oai/yiqi-envelope.xsd`: the `yiqi` format's schema.
#[utoipa::path(get, path = "/oai/yiqi-envelope.xsd", tag = "oai-pmh",
    responses((status = 200, description = "The XML Schema of the `yiqi` metadata format", body = String, content_type = "application/xml")))]
pub async fn yiqi_schema() -> Response {
    ([(header::CONTENT_TYPE, "application/xml")], YIQI_SCHEMA).into_response()
}

async fn answer<C: Catalogue>(
    host: Arc<C>,
    headers: &HeaderMap,
    pairs: Vec<(String, String)>,
) -> Response {
    let origin = origin(headers);
    let body = blocking(move || respond(&*host, &origin, &pairs)).await;
    match body {
        Ok(body) => ([(header::CONTENT_TYPE, "text/xml; charset=utf-8")], body).into_response(),
        Err(e) => e.into_response(),
    }
}

/// `http://{Host}`: where the request was sent, for the base URL and the links in records.
pub fn origin(headers: &HeaderMap) -> String {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| !h.is_empty() && h.chars().all(|c| c.is_ascii_graphic()))
        .unwrap_or("localhost");
    format!("http://{host}")
}

/// A response document for one request.
fn respond<C: Catalogue + ?Sized>(
    host: &C,
    origin: &str,
    pairs: &[(String, String)],
) -> Result<Vec<u8>, ApiError> {
    let base_url = format!("{origin}/oai");
    let mut xml = xml::document();
    let root = [
        ("xmlns", OAI_NAMESPACE),
        ("xmlns:xsi", "http://www.w3.org/2001/XMLSchema-instance"),
        ("xsi:schemaLocation", OAI_SCHEMA_LOCATION),
    ];
    let outcome = Verb::parse(pairs)
        .map_err(Failure::Protocol)
        .and_then(|verb| {
            let repository = Repository {
                host,
                context: Context { origin },
                base_url: &base_url,
            };
            let mut body = xml::fragment();
            repository
                .answer(&verb, &mut body)
                .map(|()| body.into_inner())
        });
    let outcome = match outcome {
        Ok(body) => Ok(body),
        Err(Failure::Protocol(e)) => Err(e),
        Err(Failure::Host(e)) => return Err(e),
    };
    xml::parent(&mut xml, "OAI-PMH", &root, |xml| {
        xml::element(xml, "responseDate", &[], &datestamp::now());
        let echo = match &outcome {
            Err(e) => e.code.echoes_arguments(),
            Ok(_) => true,
        };
        let attributes: Vec<(&str, &str)> = if echo {
            pairs
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect()
        } else {
            Vec::new()
        };
        xml::element(xml, "request", &attributes, &base_url);
        match &outcome {
            Ok(body) => xml::raw(xml, body),
            Err(e) => xml::element(xml, "error", &[("code", e.code.as_str())], &e.message),
        }
    });
    Ok(xml.into_inner())
}

/// The repository over a host, answering one request.
struct Repository<'a, C: ?Sized> {
    host: &'a C,
    context: Context<'a>,
    base_url: &'a str,
}

impl<C: Catalogue + ?Sized> Repository<'_, C> {
    fn settings(&self) -> &OaiSettings {
        self.host.oai_settings()
    }

    fn answer(&self, verb: &Verb, xml: &mut Xml) -> Result<(), Failure> {
        match verb {
            Verb::Identify => self.identify(xml),
            Verb::ListMetadataFormats { identifier } => {
                self.list_metadata_formats(identifier.as_deref(), xml)
            }
            Verb::ListSets { resumption_token } => list_sets(resumption_token.as_deref(), xml),
            Verb::GetRecord {
                identifier,
                metadata_prefix,
            } => self.get_record(identifier, metadata_prefix, xml),
            Verb::ListIdentifiers(start) => self.list(verb.name(), start, false, xml),
            Verb::ListRecords(start) => self.list(verb.name(), start, true, xml),
        }
    }

    fn identify(&self, xml: &mut Xml) -> Result<(), Failure> {
        let earliest = self
            .host
            .earliest_datestamp()
            .map_err(Failure::Host)?
            .and_then(|at| datestamp::of_rfc3339(&at))
            .unwrap_or_else(datestamp::now);
        let settings = self.settings();
        xml::parent(xml, "Identify", &[], |xml| {
            xml::element(xml, "repositoryName", &[], &settings.repository_name);
            xml::element(xml, "baseURL", &[], self.base_url);
            xml::element(xml, "protocolVersion", &[], "2.0");
            xml::element(xml, "adminEmail", &[], &settings.admin_email);
            xml::element(xml, "earliestDatestamp", &[], &earliest);
            xml::element(xml, "deletedRecord", &[], "persistent");
            xml::element(xml, "granularity", &[], "YYYY-MM-DDThh:mm:ssZ");
        });
        Ok(())
    }

    /// The item an identifier names, or `idDoesNotExist`.
    fn item(&self, identifier: &str) -> Result<Item, Failure> {
        let missing = || {
            OaiError::new(
                ErrorCode::IdDoesNotExist,
                format!("{identifier} is not an item of this repository"),
            )
        };
        let repository = &self.settings().repository_identifier;
        let (region, local_id) =
            item::parse_identifier(identifier, repository).ok_or_else(missing)?;
        let entry = self
            .host
            .stored_entry(region, local_id)
            .map_err(Failure::Host)?;
        Ok(entry.and_then(|e| Item::parse(&e)).ok_or_else(missing)?)
    }

    fn list_metadata_formats(
        &self,
        identifier: Option<&str>,
        xml: &mut Xml,
    ) -> Result<(), Failure> {
        let kind = identifier
            .map(|id| self.item(id))
            .transpose()?
            .map(|item| item.kind);
        let formats: Vec<Format> = Format::ALL
            .into_iter()
            .filter(|f| kind.as_deref().is_none_or(|k| f.disseminates(k)))
            .collect();
        if formats.is_empty() {
            return Err(OaiError::new(
                ErrorCode::NoMetadataFormats,
                "no format describes this item",
            )
            .into());
        }
        xml::parent(xml, "ListMetadataFormats", &[], |xml| {
            for format in formats {
                xml::parent(xml, "metadataFormat", &[], |xml| {
                    xml::element(xml, "metadataPrefix", &[], format.prefix());
                    xml::element(xml, "schema", &[], &format.schema(&self.context));
                    xml::element(xml, "metadataNamespace", &[], format.namespace());
                });
            }
        });
        Ok(())
    }

    fn get_record(&self, identifier: &str, prefix: &str, xml: &mut Xml) -> Result<(), Failure> {
        let format = format_of(prefix)?;
        let item = self.item(identifier)?;
        if !format.disseminates(&item.kind) {
            return Err(OaiError::new(
                ErrorCode::CannotDisseminateFormat,
                format!("{prefix} does not describe items of kind {}", item.kind),
            )
            .into());
        }
        xml::parent(xml, "GetRecord", &[], |xml| self.record(xml, &item, format));
        Ok(())
    }

    fn header(&self, xml: &mut Xml, item: &Item) {
        let deleted = [("status", "deleted")];
        let attributes: &[(&str, &str)] = if item.deleted { &deleted } else { &[] };
        xml::parent(xml, "header", attributes, |xml| {
            let identifier = item.identifier(&self.settings().repository_identifier);
            xml::element(xml, "identifier", &[], &identifier);
            xml::element(xml, "datestamp", &[], &item.datestamp);
            for set in item.sets() {
                xml::element(xml, "setSpec", &[], &set);
            }
        });
    }

    fn record(&self, xml: &mut Xml, item: &Item, format: Format) {
        xml::parent(xml, "record", &[], |xml| {
            self.header(xml, item);
            if !item.deleted {
                xml::parent(xml, "metadata", &[], |xml| {
                    format.write(xml, item, &self.context);
                });
            }
        });
    }

    /// ListIdentifiers (`records` false) and ListRecords: one page of the selection.
    fn list(
        &self,
        verb: &str,
        start: &ListStart,
        records: bool,
        xml: &mut Xml,
    ) -> Result<(), Failure> {
        let (selection, after, cursor, size) = match start {
            ListStart::Fresh(selection) => (selection.clone(), None, 0, None),
            ListStart::Resume(text) => {
                let token = Token::decode(text, verb).map_err(Failure::Protocol)?;
                let selection = token.selection();
                (selection, Some(token.after), token.cursor, Some(token.size))
            }
        };
        let format = format_of(&selection.metadata_prefix).map_err(Failure::Protocol)?;
        let page = self.read_page(&selection, format, after, size.is_none())?;
        if page.items.is_empty() {
            return Err(match start {
                ListStart::Fresh(_) => {
                    OaiError::new(ErrorCode::NoRecordsMatch, "no item matches the arguments")
                }
                ListStart::Resume(_) => OaiError::new(
                    ErrorCode::BadResumptionToken,
                    "the list this token continues has ended: start it again",
                ),
            }
            .into());
        }
        let sent = cursor + page.items.len() as u64;
        let size = size
            .unwrap_or(page.matched)
            .max(sent + u64::from(page.resume_at.is_some()));
        xml::parent(xml, verb, &[], |xml| {
            for item in &page.items {
                if records {
                    self.record(xml, item, format);
                } else {
                    self.header(xml, item);
                }
            }
            let (size_text, cursor_text) = (size.to_string(), cursor.to_string());
            let attributes = [
                ("completeListSize", size_text.as_str()),
                ("cursor", cursor_text.as_str()),
            ];
            match &page.resume_at {
                Some(after) => {
                    let token = Token::new(verb, &selection, after.clone(), sent, size).encode();
                    xml::element(xml, "resumptionToken", &attributes, &token);
                }
                // The last page of a resumed list says so with an empty token.
                None if cursor > 0 => xml::empty(xml, "resumptionToken", &attributes),
                None => {}
            }
        });
        Ok(())
    }

    /// Reads entries after `after` until a page is full and one more item matches (then the
    /// list goes on), or the entries end. With `count_all`, reads to the end to count the list.
    fn read_page(
        &self,
        selection: &Selection,
        format: Format,
        after: Option<String>,
        count_all: bool,
    ) -> Result<ListPage, Failure> {
        let mut page = ListPage::default();
        let mut scan = after;
        loop {
            let step = self
                .host
                .entries_after(scan.as_deref(), READ_CHUNK)
                .map_err(|e| match e.code {
                    ApiErrorCode::BadParameter => Failure::Protocol(OaiError::new(
                        ErrorCode::BadResumptionToken,
                        "the resumption token points nowhere in this repository: start the list \
                         again",
                    )),
                    _ => Failure::Host(e),
                })?;
            for entry in step.entries {
                let Some(item) = Item::parse(&entry.entry) else {
                    tracing::warn!(position = entry.position, "a stored entry is not readable");
                    continue;
                };
                if !matches(selection, format, &item) {
                    continue;
                }
                page.matched += 1;
                if page.items.len() < PAGE_SIZE {
                    page.items.push(item);
                    page.last = Some(entry.position);
                } else {
                    page.resume_at = page.last.clone();
                    if !count_all {
                        return Ok(page);
                    }
                }
            }
            match step.next {
                Some(next) => scan = Some(next),
                None => return Ok(page),
            }
        }
    }
}

/// A page of a list as read.
#[derive(Default)]
struct ListPage {
    items: Vec<Item>,
    /// The position of the last item on the page.
    last: Option<String>,
    /// Where the next page starts, if there is one.
    resume_at: Option<String>,
    /// Items matched (the whole list's size when counted to the end).
    matched: u64,
}

fn matches(selection: &Selection, format: Format, item: &Item) -> bool {
    let from = selection
        .from
        .as_ref()
        .is_none_or(|b| item.datestamp >= b.datestamp);
    let until = selection
        .until
        .as_ref()
        .is_none_or(|b| item.datestamp <= b.datestamp);
    let set = selection
        .set
        .as_ref()
        .is_none_or(|s| item.sets().contains(s));
    from && until && set && format.disseminates(&item.kind)
}

fn format_of(prefix: &str) -> Result<Format, OaiError> {
    Format::of_prefix(prefix).ok_or_else(|| {
        OaiError::new(
            ErrorCode::CannotDisseminateFormat,
            format!("{prefix:?} is not a format of this repository: see ListMetadataFormats"),
        )
    })
}

fn list_sets(resumption_token: Option<&str>, xml: &mut Xml) -> Result<(), Failure> {
    if resumption_token.is_some() {
        return Err(OaiError::new(
            ErrorCode::BadResumptionToken,
            "the set list comes in one response: ask again without a resumption token",
        )
        .into());
    }
    xml::parent(xml, "ListSets", &[], |xml| {
        for (spec, name) in sets::all() {
            xml::parent(xml, "set", &[], |xml| {
                xml::element(xml, "setSpec", &[], &spec);
                xml::element(xml, "setName", &[], &name);
            });
        }
    });
    Ok(())
}

/// Why a request got no OAI-PMH answer: the protocol's error element, or a failure of the host
/// (its store), answered as the HTTP API's error body with its status.
enum Failure {
    Protocol(OaiError),
    Host(ApiError),
}

impl From<OaiError> for Failure {
    fn from(e: OaiError) -> Self {
        Failure::Protocol(e)
    }
}

#[cfg(test)]
mod tests;
