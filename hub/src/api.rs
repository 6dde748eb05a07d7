//! The HTTP API: `fn app(state) -> Router`, one handler per endpoint the hub alone serves (writes,
//! the feed, the registry, history, health, metrics), errors through [`AppError`]; the read
//! routes and the request plumbing it shares with the nodes come from [`yiqi_search::http`].
//! docs/protocol.md documents every route and code.

use crate::error::AppError;
use crate::feed::{self, FeedQuery};
use crate::ingest::{self, Writer};
use crate::params;
use crate::registry::Registry;
use crate::store::HubStore;
use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use http_body_util::BodyExt;
use metrics_exporter_prometheus::PrometheusHandle;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use yiqi_schema::protocol::keys::RegionList;
use yiqi_schema::protocol::{ErrorBody, Health, PublishResponse};
use yiqi_search::SearchService;
use yiqi_search::connections::ConnectionLimits;
use yiqi_search::http::{self, ApiError, Catalogue, json_bytes};
use yiqi_search::oai::{EntryPage, OaiSettings};
use yiqi_search::pages::ServedBy;

/// Request limits (documented in docs/protocol.md#limits).
#[derive(Debug, Clone)]
pub struct Limits {
    pub max_body_bytes: usize,
    pub max_batch_records: usize,
    pub request_timeout: Duration,
    /// Most open connections (lowered at start to fit the descriptor limit).
    pub max_connections: usize,
    /// Deadline for a request's head, from the connection's opening or its previous answer.
    pub header_read_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_body_bytes: 16 << 20,
            max_batch_records: 1_000,
            request_timeout: Duration::from_secs(60),
            max_connections: ConnectionLimits::DEFAULT_MAX_CONNECTIONS,
            header_read_timeout: ConnectionLimits::DEFAULT_HEADER_READ_TIMEOUT,
        }
    }
}

impl Limits {
    /// The connection limits to serve with; raises the open-file limit to fit them.
    pub fn connections(&self) -> ConnectionLimits {
        // A stop waits for in-flight requests, which the request timeout bounds.
        let drain = self.request_timeout + Duration::from_secs(1);
        ConnectionLimits::fitted(self.max_connections, self.header_read_timeout, drain)
    }
}

/// Everything the handlers share.
pub struct AppState {
    pub store: HubStore,
    pub registry: Arc<Registry>,
    pub writer: Writer,
    pub last_seq: watch::Receiver<u64>,
    pub shutdown: watch::Receiver<bool>,
    pub limits: Limits,
    pub metrics: PrometheusHandle,
    pub search: Arc<SearchService>,
    pub log: Arc<crate::log::Log>,
    pub oai: OaiSettings,
}

type Shared = Arc<AppState>;

/// The hub's router: its own endpoints plus the read routes it shares with the nodes.
pub fn app(state: Shared) -> Router {
    let timeout = state.limits.request_timeout;
    let routes = Router::new()
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics_text))
        .route("/v1/schema", get(schema))
        .route("/v1/regions", get(list_regions))
        .route("/v1/records", post(post_records))
        .route("/v1/records/{region}/{local_id}/history", get(get_history))
        .route("/v1/feed", get(get_feed))
        .merge(crate::log_api::routes())
        .route(
            yiqi_search::openapi::OPENAPI_PATH,
            yiqi_search::openapi::route(&crate::openapi::document()),
        )
        .merge(http::read_routes::<AppState>());
    http::finish(routes, timeout).with_state(state)
}

impl Catalogue for AppState {
    fn search(&self) -> &Arc<SearchService> {
        &self.search
    }

    fn stored_entry(&self, region: &str, local_id: &str) -> Result<Option<Vec<u8>>, ApiError> {
        let id = format!("{region}/{local_id}");
        let Some(current) = self.store.current(&id).map_err(ApiError::internal)? else {
            return Ok(None);
        };
        match self
            .store
            .log_entry(current.seq)
            .map_err(ApiError::internal)?
        {
            Some(entry) => Ok(Some(entry.json)),
            None => Err(ApiError::internal(format!(
                "log entry {} is missing",
                current.seq
            ))),
        }
    }

    fn served_by(&self) -> ServedBy {
        ServedBy::Hub
    }

    fn entries_after(&self, after: Option<&str>, limit: usize) -> Result<EntryPage, ApiError> {
        crate::harvest::entries_after(&self.store, after, limit)
    }

    fn earliest_datestamp(&self) -> Result<Option<String>, ApiError> {
        crate::harvest::earliest_datestamp(&self.store)
    }

    fn oai_settings(&self) -> &OaiSettings {
        &self.oai
    }
}

#[utoipa::path(get, path = "/healthz", tag = "hub",
    responses((status = 200, description = "The hub answers; how far the log and the index are", body = Health)))]
async fn healthz(State(state): State<Shared>) -> Json<Health> {
    Json(Health {
        status: "ok".into(),
        last_seq: *state.last_seq.borrow(),
        indexed_seq: state.search.indexed_seq(),
    })
}

#[utoipa::path(get, path = "/metrics", tag = "hub",
    responses((status = 200, description = "Prometheus text exposition", body = String, content_type = "text/plain")))]
async fn metrics_text(State(state): State<Shared>) -> Response {
    metrics::gauge!("yiqi_store_bytes_on_disk").set(state.store.size_on_disk() as f64);
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics.render(),
    )
        .into_response()
}

#[utoipa::path(get, path = "/v1/schema", tag = "hub",
    responses((status = 200, description = "The JSON Schema (draft 2020-12) of an instrument record", body = Object)))]
async fn schema() -> Json<Value> {
    Json(yiqi_schema::validate::schema_value())
}

/// Every region with a key record and its keys, for people and dashboards: nodes decide nothing
/// from it (they read the key records themselves).
#[utoipa::path(get, path = "/v1/regions", tag = "hub",
    responses((status = 200, description = "Every region with a key record, and its keys", body = Object)))]
async fn list_regions(State(state): State<Shared>) -> Json<RegionList> {
    Json(RegionList {
        regions: state.registry.list(),
    })
}

/// Reads a body up to `limit` bytes; larger is `too_large`. The excess is read and discarded
/// (up to [`DRAIN_FACTOR`] × `limit`) so that the client, still sending, can read the JSON error
/// instead of a broken connection.
pub(crate) async fn read_body(mut body: Body, limit: usize) -> Result<axum::body::Bytes, AppError> {
    let mut collected = Vec::new();
    let mut total = 0usize;
    while let Some(frame) = body.frame().await {
        let frame =
            frame.map_err(|e| AppError::MalformedJson(format!("could not read the body: {e}")))?;
        let Ok(data) = frame.into_data() else {
            continue;
        };
        total += data.len();
        if total > limit {
            drain(
                body,
                limit.saturating_mul(DRAIN_FACTOR).saturating_sub(total),
            )
            .await;
            return Err(AppError::TooLarge(format!(
                "the body is larger than {limit} bytes"
            )));
        }
        collected.extend_from_slice(&data);
    }
    Ok(collected.into())
}

/// How much of an oversized body, as a multiple of the limit, is read before answering.
const DRAIN_FACTOR: usize = 4;

async fn drain(mut body: Body, mut budget: usize) {
    while budget > 0 {
        match body.frame().await {
            Some(Ok(frame)) => {
                budget = budget.saturating_sub(frame.data_ref().map_or(0, |d| d.len()));
            }
            _ => return,
        }
    }
}

/// [`http::blocking`] for the hub's handlers, whose errors are [`AppError`]s.
pub(crate) async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, AppError> + Send + 'static,
) -> Result<T, AppError> {
    http::blocking(work).await
}

/// `POST /v1/records`: a batch of signed envelopes.
#[utoipa::path(post, path = "/v1/records", tag = "hub",
    request_body(content = Object, content_type = "application/json", description = "`{\"records\": [envelope, …]}`, at most 1000 records and 16 MiB by default"),
    responses(
        (status = 200, description = "One result per record, in request order; a bad record never blocks the others", body = PublishResponse),
        (status = 400, description = "`malformed_json`: the body is not a batch", body = ErrorBody),
        (status = 413, description = "`too_large`: too many bytes or records", body = ErrorBody),
        (status = 503, description = "`shutting_down`", body = ErrorBody),
    ))]
async fn post_records(State(state): State<Shared>, body: Body) -> Result<Response, AppError> {
    if *state.shutdown.borrow() {
        return Err(AppError::ShuttingDown);
    }
    let body = read_body(body, state.limits.max_body_bytes).await?;
    let registry = state.registry.clone();
    let max_records = state.limits.max_batch_records;
    let checked = blocking(move || {
        let elements = crate::split::split_batch(&body)
            .map_err(|e| AppError::MalformedJson(format!("not a batch: {e}")))?;
        if elements.len() > max_records {
            return Err(AppError::TooLarge(format!(
                "{} records in one batch; at most {max_records}",
                elements.len()
            )));
        }
        Ok(ingest::check_all(&elements, &registry))
    })
    .await?;
    let results = state.writer.submit(checked).await?;
    Ok(Json(json!({ "results": results })).into_response())
}

/// `GET /v1/records/{region}/{local_id}/history`.
#[utoipa::path(get, path = "/v1/records/{region}/{local_id}/history", tag = "hub",
    params(yiqi_search::openapi::RecordPath),
    responses(
        (status = 200, description = "Every stored version of the record, oldest first", body = Object),
        (status = 404, description = "`not_found`: no such record", body = ErrorBody),
    ))]
async fn get_history(
    State(state): State<Shared>,
    Path((region, local_id)): Path<(String, String)>,
) -> Result<Response, AppError> {
    let id = format!("{region}/{local_id}");
    let store = state.store.clone();
    let body = blocking(move || {
        let versions = store.history(&id)?;
        if versions.is_empty() {
            return Err(AppError::NotFound(format!("no record {id}")));
        }
        let mut entries = Vec::with_capacity(versions.len());
        for version in versions {
            let entry = store.log_entry(version.seq)?.ok_or_else(|| {
                AppError::Internal(format!("log entry {} is missing", version.seq))
            })?;
            entries.push(entry.json);
        }
        let mut out = format!("{{\"id\":{},\"versions\":", json!(id)).into_bytes();
        feed::push_json_array(&mut out, &entries);
        out.push(b'}');
        Ok(out)
    })
    .await?;
    Ok(json_bytes(body))
}

fn feed_query(raw: Option<&str>) -> Result<FeedQuery, AppError> {
    let pairs = params::pairs(raw);
    params::only_known(
        &pairs,
        &["after", "limit", "region", "exclude_region", "wait"],
    )?;
    Ok(FeedQuery {
        after: params::number(&pairs, "after", 0, u64::MAX)?,
        limit: params::number(&pairs, "limit", 1_000, feed::MAX_LIMIT)?.max(1) as usize,
        region: params::region(&pairs, "region")?.map(str::to_owned),
        exclude_region: params::region(&pairs, "exclude_region")?.map(str::to_owned),
        wait: Duration::from_secs(params::number(&pairs, "wait", 0, feed::MAX_WAIT_SECS)?),
    })
}

/// `GET /v1/feed`: accepted versions in log order.
#[utoipa::path(get, path = "/v1/feed", tag = "hub",
    params(crate::openapi::FeedParams),
    responses(
        (status = 200, description = "`{entries: [{seq, leaf_index, received_at, envelope}], next}`", body = Object),
        (status = 400, description = "`bad_parameter`", body = ErrorBody),
        (status = 503, description = "`shutting_down` (while waiting)", body = ErrorBody),
    ))]
async fn get_feed(
    State(state): State<Shared>,
    RawQuery(raw): RawQuery,
) -> Result<Response, AppError> {
    let query = feed_query(raw.as_deref())?;
    let page = feed::read_page_waiting(
        &state.store,
        query,
        state.last_seq.clone(),
        state.shutdown.clone(),
    )
    .await?;
    Ok(json_bytes(feed::page_json(&page)))
}
