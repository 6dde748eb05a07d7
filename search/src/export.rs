//! `GET /v1/search/export`: every match of a search (not only a page) as a spreadsheet (CSV) or
//! one JSON object per line (NDJSON), streamed.
//!
//! The matches are read segment by segment straight from the query's matching documents, with no
//! ranking and no list of all matches in memory, and written in chunks to a bounded channel that
//! the response body drains: memory stays bounded whatever the number of matches, and a client
//! that goes away stops the work at the next chunk.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{RawQuery, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use tantivy::query::{EnableScoring, Query};
use tantivy::schema::Value;
use tantivy::{DocSet, SegmentReader, TERMINATED, TantivyDocument, Term};
use yiqi_schema::classification;
use yiqi_schema::spreadsheet::{UTF8_BOM, push_text_field};

use crate::fields::Fields;
use crate::http::{ApiError, Catalogue};
use crate::params::{ParamError, SearchQuery, pairs};
use crate::{SearchError, SearchService, query};

/// Bytes written before a chunk is handed to the response body.
const CHUNK_BYTES: usize = 64 << 10;
/// Chunks waiting for the client, at most: the bound on an export's memory.
const CHUNKS_IN_FLIGHT: usize = 4;
/// Documents the store reader keeps decompressed blocks of.
const STORE_CACHE_BLOCKS: usize = 16;

/// The representation of an export.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ExportFormat {
    /// RFC 4180 CSV with a UTF-8 byte-order mark and labelled headers, for spreadsheets.
    #[default]
    Csv,
    /// One JSON object per line ([`ExportRow`]).
    Ndjson,
}

impl ExportFormat {
    fn content_type(self) -> &'static str {
        match self {
            ExportFormat::Csv => "text/csv; charset=utf-8",
            ExportFormat::Ndjson => "application/x-ndjson",
        }
    }

    fn extension(self) -> &'static str {
        match self {
            ExportFormat::Csv => "csv",
            ExportFormat::Ndjson => "ndjson",
        }
    }
}

/// A checked `/v1/search/export` request: the search parameters (filters, `q`) and `format`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ExportQuery {
    pub search: SearchQuery,
    pub format: ExportFormat,
}

/// Search parameters that choose a page, which an export (every match) does not take.
const PAGE_PARAMETERS: [&str; 3] = ["offset", "limit", "sort"];

impl ExportQuery {
    /// Checks the query-string parameters: those of `/v1/search` except `offset`, `limit` and
    /// `sort`, plus `format` (`csv`, the default, or `ndjson`).
    pub fn from_params(params: &[(String, String)]) -> Result<ExportQuery, ParamError> {
        let mut format = None;
        let mut search = Vec::new();
        for (name, value) in params {
            match name.as_str() {
                "format" if format.is_some() => {
                    return Err(ParamError::new("format", "given more than once"));
                }
                "format" => format = Some(export_format(value)?),
                page if PAGE_PARAMETERS.contains(&page) => {
                    return Err(ParamError::new(
                        page,
                        "an export holds every match in index order: leave out offset, limit and sort",
                    ));
                }
                _ => search.push((name.clone(), value.clone())),
            }
        }
        Ok(ExportQuery {
            search: SearchQuery::from_params(&search)?,
            format: format.unwrap_or_default(),
        })
    }

    /// The export link of a search: its filters and `q`, without paging or order.
    pub fn link(search: &SearchQuery, format: ExportFormat) -> String {
        let mut params: Vec<(String, String)> = search
            .to_params()
            .into_iter()
            .filter(|(name, _)| !PAGE_PARAMETERS.contains(&name.as_str()))
            .collect();
        params.push(("format".into(), format.extension().into()));
        let query: String = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(params)
            .finish();
        format!("/v1/search/export?{query}")
    }
}

fn export_format(value: &str) -> Result<ExportFormat, ParamError> {
    match value.trim() {
        "" | "csv" => Ok(ExportFormat::Csv),
        "ndjson" => Ok(ExportFormat::Ndjson),
        _ => Err(ParamError::new("format", "must be csv or ndjson")),
    }
}

/// One exported instrument: what the index holds of it, and the path of its page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ExportRow {
    pub region: String,
    pub local_id: String,
    pub name: String,
    pub name_en: Option<String>,
    pub category: String,
    pub category_name: String,
    pub model: Option<String>,
    pub manufacturer: Option<String>,
    pub institution: String,
    pub carrier: Option<String>,
    pub province: Option<String>,
    pub city: Option<String>,
    pub original_value_cny: Option<u64>,
    pub sharing: String,
    pub status: Option<String>,
    /// `/instruments/{region}/{local_id}`, relative to the server that exported it.
    pub page: String,
}

/// The CSV header: Chinese label and English label of each [`ExportRow`] member, in order.
pub const CSV_HEADER: [&str; 16] = [
    "地区 Region",
    "本地编号 Local ID",
    "仪器名称 Name",
    "英文名称 English name",
    "仪器分类 Category",
    "分类名称 Category name",
    "规格型号 Model",
    "生产厂商 Manufacturer",
    "所属单位 Institution",
    "所属载体 Carrier",
    "省份 Province",
    "城市 City",
    "原值（元） Original value (CNY)",
    "共享方式 Sharing",
    "运行状态 Status",
    "详情页 Page",
];

/// An optional text as a cell: empty when absent.
fn opt(value: &Option<String>) -> &str {
    value.as_deref().unwrap_or_default()
}

impl ExportRow {
    fn push_csv(&self, out: &mut String) {
        let texts = [
            self.region.as_str(),
            &self.local_id,
            &self.name,
            opt(&self.name_en),
            &self.category,
            &self.category_name,
            opt(&self.model),
            opt(&self.manufacturer),
            &self.institution,
            opt(&self.carrier),
            opt(&self.province),
            opt(&self.city),
        ];
        for text in texts {
            push_text_field(out, text);
            out.push(',');
        }
        if let Some(value) = self.original_value_cny {
            out.push_str(&value.to_string());
        }
        for text in [self.sharing.as_str(), opt(&self.status), &self.page] {
            out.push(',');
            push_text_field(out, text);
        }
        out.push_str("\r\n");
    }
}

impl Fields {
    fn export_row(&self, doc: &TantivyDocument) -> ExportRow {
        let get = |field| {
            doc.get_first(field)
                .and_then(|v| v.as_str())
                .map(str::to_string)
        };
        let region = get(self.region).unwrap_or_default();
        let local_id = get(self.local_id).unwrap_or_default();
        let category = get(self.category).unwrap_or_default();
        ExportRow {
            page: format!(
                "/instruments/{}/{}",
                urlencoding::encode(&region),
                urlencoding::encode(&local_id)
            ),
            region,
            local_id,
            name: get(self.name).unwrap_or_default(),
            name_en: get(self.name_en),
            category_name: classification::get(&category)
                .map_or_else(String::new, |c| c.name_zh.to_string()),
            category,
            model: get(self.model),
            manufacturer: get(self.manufacturer),
            institution: get(self.institution).unwrap_or_default(),
            carrier: get(self.carrier),
            province: get(self.province),
            city: get(self.city),
            original_value_cny: doc.get_first(self.value).and_then(|v| v.as_u64()),
            sharing: get(self.sharing).unwrap_or_default(),
            status: get(self.status),
        }
    }
}

impl SearchService {
    /// Calls `each` with every record the search matches, in index order (no ranking), until
    /// it returns `false`; returns the number of records passed.
    pub fn export(
        &self,
        query: &SearchQuery,
        mut each: impl FnMut(ExportRow) -> bool,
    ) -> Result<u64, SearchError> {
        let fields = &self.inner.fields;
        let searcher = self.inner.reader.searcher();
        let known_name_word = |word: &str| {
            let term = Term::from_field_text(fields.words_name, word);
            searcher.doc_freq(&term).is_ok_and(|n| n > 0)
        };
        let (built, _) = query::build(fields, query, &known_name_word);
        let weight = built.weight(EnableScoring::disabled_from_searcher(&searcher))?;
        let mut passed = 0;
        for segment in searcher.segment_readers() {
            if !export_segment(fields, segment, weight.as_ref(), &mut each, &mut passed)? {
                break;
            }
        }
        Ok(passed)
    }
}

/// The matches of one segment; `false` when `each` asked to stop.
fn export_segment(
    fields: &Fields,
    segment: &SegmentReader,
    weight: &dyn tantivy::query::Weight,
    each: &mut impl FnMut(ExportRow) -> bool,
    passed: &mut u64,
) -> Result<bool, SearchError> {
    let store = segment.get_store_reader(STORE_CACHE_BLOCKS)?;
    let alive = segment.alive_bitset();
    let mut matches = weight.scorer(segment, 1.0)?;
    let mut doc = matches.doc();
    while doc != TERMINATED {
        if alive.is_none_or(|a| a.is_alive(doc)) {
            let document: TantivyDocument = store.get(doc)?;
            if !each(fields.export_row(&document)) {
                return Ok(false);
            }
            *passed += 1;
        }
        doc = matches.advance();
    }
    Ok(true)
}

/// Writes an export in `format` as chunks of about [`CHUNK_BYTES`]; `send` returns `false` when
/// the receiver is gone, which stops the export.
pub fn write_chunks(
    service: &SearchService,
    query: &SearchQuery,
    format: ExportFormat,
    mut send: impl FnMut(Vec<u8>) -> bool,
) -> Result<u64, SearchError> {
    let mut chunk = String::new();
    if format == ExportFormat::Csv {
        chunk.push_str(UTF8_BOM);
        chunk.push_str(&CSV_HEADER.join(","));
        chunk.push_str("\r\n");
    }
    let mut open = true;
    let written = service.export(query, |row| {
        match format {
            ExportFormat::Csv => row.push_csv(&mut chunk),
            ExportFormat::Ndjson => {
                let line = serde_json::to_string(&row).expect("an export row serializes");
                chunk.push_str(&line);
                chunk.push('\n');
            }
        }
        if chunk.len() >= CHUNK_BYTES {
            open = send(std::mem::take(&mut chunk).into_bytes());
        }
        open
    })?;
    if open && !chunk.is_empty() {
        send(chunk.into_bytes());
    }
    Ok(written)
}

/// `GET /v1/search/export`.
#[utoipa::path(get, path = "/v1/search/export", tag = "read",
    params(crate::openapi::ExportParams),
    responses(
        (status = 200, description = "Every match, streamed: CSV (byte-order mark, labelled headings) or NDJSON", content(
            (String = "text/csv"),
            (String = "application/x-ndjson"),
        )),
        (status = 400, description = "`bad_parameter`", body = yiqi_schema::protocol::ErrorBody),
    ))]
pub(crate) async fn export_api<C: Catalogue>(
    State(host): State<Arc<C>>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let request = ExportQuery::from_params(&pairs(raw.as_deref()))?;
    let service = host.search().clone();
    let format = request.format;
    let (sender, receiver) =
        tokio::sync::mpsc::channel::<Result<Vec<u8>, SearchError>>(CHUNKS_IN_FLIGHT);
    tokio::task::spawn_blocking(move || {
        let sent = write_chunks(&service, &request.search, format, |chunk| {
            sender.blocking_send(Ok(chunk)).is_ok()
        });
        match sent {
            Ok(records) => tracing::info!(records, "search export finished"),
            Err(error) => {
                tracing::error!(%error, "search export failed; the response is cut short");
                let _ = sender.blocking_send(Err(error));
            }
        }
    });
    let chunks = futures_util::stream::unfold(receiver, |mut receiver| async move {
        receiver.recv().await.map(|chunk| (chunk, receiver))
    });
    let file = format!(
        "attachment; filename=\"yiqi-search.{}\"",
        format.extension()
    );
    Ok((
        [
            (header::CONTENT_TYPE, format.content_type().to_owned()),
            (header::CONTENT_DISPOSITION, file),
        ],
        Body::from_stream(chunks),
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn export_parameters() {
        let query =
            ExportQuery::from_params(&params(&[("q", "TEM"), ("format", "ndjson")])).unwrap();
        assert_eq!(query.format, ExportFormat::Ndjson);
        assert_eq!(query.search.q, "TEM");
        assert_eq!(
            ExportQuery::from_params(&[]).unwrap().format,
            ExportFormat::Csv
        );
        let bad = |pairs: &[(&str, &str)]| {
            ExportQuery::from_params(&params(pairs))
                .unwrap_err()
                .parameter
        };
        assert_eq!(bad(&[("format", "xlsx")]), "format");
        assert_eq!(bad(&[("format", "csv"), ("format", "csv")]), "format");
        assert_eq!(bad(&[("limit", "10")]), "limit");
        assert_eq!(bad(&[("region", "CN-XX")]), "region");
    }

    #[test]
    fn links_keep_the_filters_and_drop_the_page() {
        let search = SearchQuery {
            q: "透射 电镜".into(),
            region: Some("CN-SC".into()),
            offset: 40,
            ..SearchQuery::default()
        };
        assert_eq!(
            ExportQuery::link(&search, ExportFormat::Csv),
            "/v1/search/export?q=%E9%80%8F%E5%B0%84+%E7%94%B5%E9%95%9C&region=CN-SC&format=csv"
        );
    }

    #[test]
    fn csv_rows_neutralise_formulas() {
        let row = ExportRow {
            region: "CN-GS".into(),
            local_id: "=1+1".into(),
            name: "@SUM(A1)".into(),
            name_en: None,
            category: "010101".into(),
            category_name: "透射电镜".into(),
            model: Some("a,b".into()),
            manufacturer: None,
            institution: "兰州大学".into(),
            carrier: None,
            province: Some("甘肃省".into()),
            city: Some("兰州市".into()),
            original_value_cny: Some(5),
            sharing: "external".into(),
            status: None,
            page: "/instruments/CN-GS/x".into(),
        };
        let mut out = String::new();
        row.push_csv(&mut out);
        assert_eq!(
            out,
            "CN-GS,'=1+1,'@SUM(A1),,010101,透射电镜,\"a,b\",,兰州大学,,甘肃省,兰州市,5,external,,/instruments/CN-GS/x\r\n"
        );
        assert_eq!(out.matches(',').count() - 1, CSV_HEADER.len() - 1);
    }
}
