//! The OpenAPI 3.1 description of the HTTP API, generated from the handlers' `#[utoipa::path]`
//! annotations and the wire types' `ToSchema` derives so it cannot drift from the routers:
//! [`read_api`] describes the read routes every host mounts ([`crate::http::read_routes`]); a
//! host merges its own paths into it and serves the result with [`serve`] at [`OPENAPI_PATH`].

use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, get};
use serde::Deserialize;
use std::sync::Arc;
use utoipa::{IntoParams, OpenApi, ToSchema};

/// Where every host serves its description.
pub const OPENAPI_PATH: &str = "/openapi.json";

/// The read routes' description.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "yiqi",
        description = "The federated catalogue of China's large research instruments: docs/protocol.md"
    ),
    paths(
        crate::http::get_record,
        crate::http::search_api,
        crate::export::export_api,
        crate::http::stats_api,
        crate::utilisation::routes::utilisation_api,
        crate::utilisation::routes::flows_api,
        crate::utilisation::routes::utilisation_html,
        crate::http::search_html,
        crate::http::instrument_html,
        crate::http::stats_html,
        crate::oai::get,
        crate::oai::post,
        crate::oai::yiqi_schema,
        crate::discovery::api_catalog,
        openapi_json,
    ),
    components(schemas(yiqi_schema::protocol::ErrorBody))
)]
struct ReadApi;

/// The description of the read routes, for a host to merge its own paths into.
pub fn read_api() -> utoipa::openapi::OpenApi {
    ReadApi::openapi()
}

/// `GET /openapi.json`: this description.
#[utoipa::path(get, path = "/openapi.json", tag = "discovery",
    responses((status = 200, description = "The OpenAPI 3.1 description of this host's HTTP API", body = Object)))]
async fn openapi_json(document: Arc<str>) -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        document.to_string(),
    )
        .into_response()
}

/// The route serving `document` at [`OPENAPI_PATH`] (rendered once).
pub fn route<S: Clone + Send + Sync + 'static>(
    document: &utoipa::openapi::OpenApi,
) -> MethodRouter<S> {
    let rendered: Arc<str> = serde_json::to_string(document).unwrap_or_default().into();
    get(move || openapi_json(rendered.clone()))
}

/// The path of one record.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct RecordPath {
    /// The region code.
    #[param(example = "CN-BJ")]
    pub region: String,
    /// The record's id within its region.
    #[param(example = "CN-BJ-I-0")]
    pub local_id: String,
}

/// The parameters of `/v1/search` and the search page (docs/search.md); unknown ones are
/// `bad_parameter`.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SearchParams {
    /// Free text (Chinese or English).
    #[param(max_length = 200)]
    pub q: Option<String>,
    /// A region code, e.g. `CN-BJ`.
    pub region: Option<String>,
    /// A category code of the national classification (6 digits).
    pub category: Option<String>,
    pub province: Option<String>,
    pub city: Option<String>,
    /// A sharing mode label.
    pub sharing: Option<String>,
    /// A status label.
    pub status: Option<String>,
    /// Lowest original value in CNY.
    pub min_value: Option<u64>,
    /// Highest original value in CNY (not below `min_value`).
    pub max_value: Option<u64>,
    /// `relevance` (default), `value_desc` or `updated_desc`.
    pub sort: Option<String>,
    pub offset: Option<u64>,
    /// Hits per page (default 20).
    #[param(maximum = 100)]
    pub limit: Option<u64>,
    /// Only instruments idle in this year (usage reported for it, run hours under `idle_below`).
    #[param(minimum = 1900, maximum = 2100)]
    pub idle: Option<u32>,
    /// The idle threshold in run hours a year (default 200).
    #[param(maximum = 8784)]
    pub idle_below: Option<u32>,
}

/// The parameters of `/v1/search/export`: the search's filters (no paging or sort) and a format.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ExportParams {
    pub q: Option<String>,
    pub region: Option<String>,
    pub category: Option<String>,
    pub province: Option<String>,
    pub city: Option<String>,
    pub sharing: Option<String>,
    pub status: Option<String>,
    pub min_value: Option<u64>,
    pub max_value: Option<u64>,
    pub idle: Option<u32>,
    pub idle_below: Option<u32>,
    /// `csv` (default; UTF-8 with a byte-order mark, labelled headings) or `ndjson`.
    pub format: Option<String>,
}

/// The parameters of `/v1/utilisation`.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UtilisationParams {
    /// The year (required).
    #[param(minimum = 1900, maximum = 2100)]
    pub year: u32,
    /// `region` (default), `province`, `institution`, `category` or `carrier_type`.
    pub group_by: Option<String>,
    pub region: Option<String>,
    pub category: Option<String>,
    /// The idle threshold in run hours a year (default 200).
    #[param(maximum = 8784)]
    pub idle_below: Option<u32>,
    /// `json` (default) or `csv`.
    pub format: Option<String>,
}

/// The parameters of `/v1/flows`.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct FlowsParams {
    /// The year (required).
    #[param(minimum = 1900, maximum = 2100)]
    pub year: u32,
    /// `json` (default) or `csv`.
    pub format: Option<String>,
}

/// The parameter of the `/utilisation` page.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UtilisationPageParams {
    /// The year shown (default: the latest year with figures).
    #[param(minimum = 1900, maximum = 2100)]
    pub year: Option<u32>,
}

/// The parameters of `/v1/stats`.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StatsParams {
    /// `region` (default), `province`, `category`, `institution`, `carrier_type`, `sharing`,
    /// `status` or `year`.
    pub group_by: Option<String>,
    /// Only this region's records.
    pub region: Option<String>,
    /// Only this class of the national classification (any level).
    pub category: Option<String>,
    /// `json` (default) or `csv`.
    pub format: Option<String>,
}

/// The OAI-PMH arguments (docs/oai-pmh.md); which are required depends on the verb, and a wrong
/// combination is a `badArgument` error in the XML answer.
#[derive(Deserialize, IntoParams, ToSchema)]
#[into_params(parameter_in = Query)]
pub struct OaiParams {
    /// `Identify`, `ListMetadataFormats`, `ListSets`, `ListIdentifiers`, `ListRecords` or
    /// `GetRecord`.
    pub verb: Option<String>,
    pub identifier: Option<String>,
    #[serde(rename = "metadataPrefix")]
    #[param(rename = "metadataPrefix")]
    pub metadata_prefix: Option<String>,
    pub from: Option<String>,
    pub until: Option<String>,
    pub set: Option<String>,
    #[serde(rename = "resumptionToken")]
    #[param(rename = "resumptionToken")]
    pub resumption_token: Option<String>,
}

/// The body of `POST /oai`: the same arguments as a form.
pub type OaiForm = OaiParams;
