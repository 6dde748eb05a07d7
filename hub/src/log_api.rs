//! The transparency log's endpoints (docs/protocol.md, "Trust and the log"): the log key,
//! signed checkpoints with their cosignatures, inclusion and consistency proofs, C2SP tiles,
//! and witnesses' cosignatures.

use crate::api::{AppState, blocking, read_body};
use crate::error::AppError;
use crate::log::CosignatureError;
use crate::params;
use crate::store::{HubStore, envelope_bytes, tree_error};
use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::Value;
use std::sync::Arc;
use yiqi_schema::protocol::ErrorBody;
use yiqi_schema::protocol::log::{ConsistencyProof, CosignatureReceipt, InclusionProof};
use yiqi_tlog::{TileError, TilePath, consistency_proof, inclusion_proof, leaf_hash};

type Shared = Arc<AppState>;

/// The largest `POST /v1/log/cosignatures` body: a cosignature line is about 150 bytes.
const MAX_COSIGNATURE_BODY: usize = 4 << 10;
/// Full tiles never change.
const IMMUTABLE: &str = "public, max-age=31536000, immutable";

/// The log's routes, merged into [`crate::api::app`].
pub fn routes() -> Router<Shared> {
    Router::new()
        .route("/v1/log/key", get(log_key))
        .route("/v1/log/checkpoint", get(checkpoint))
        .route("/v1/log/proof/inclusion", get(inclusion))
        .route("/v1/log/proof/consistency", get(consistency))
        .route("/v1/log/tile/{*path}", get(tile))
        .route("/v1/log/cosignatures", post(cosignature))
}

fn text(body: String) -> Response {
    ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], body).into_response()
}

/// The committed tree size: proofs and tiles are served for any size up to it.
fn tree_size(state: &AppState) -> u64 {
    *state.last_seq.borrow()
}

#[utoipa::path(get, path = "/v1/log/key", tag = "log",
    responses((status = 200, description = "The log's verifier key (note format)", body = String, content_type = "text/plain")))]
async fn log_key(State(state): State<Shared>) -> Response {
    text(format!("{}\n", state.log.verifier_key()))
}

#[utoipa::path(get, path = "/v1/log/checkpoint", tag = "log",
    params(("size" = Option<u64>, Query, description = "An earlier tree size (default: the current one)")),
    responses(
        (status = 200, description = "The signed checkpoint (C2SP tlog-checkpoint), with cosignatures", body = String, content_type = "text/plain"),
        (status = 400, description = "`bad_parameter`", body = ErrorBody),
        (status = 404, description = "`not_found`: no checkpoint of that size", body = ErrorBody),
    ))]
async fn checkpoint(
    State(state): State<Shared>,
    RawQuery(raw): RawQuery,
) -> Result<Response, AppError> {
    let pairs = params::pairs(raw.as_deref());
    params::only_known(&pairs, &["size"])?;
    let size = params::optional_number(&pairs, "size")?;
    let log = state.log.clone();
    let note = blocking(move || Ok(log.checkpoint(size)?)).await?;
    let note = note.ok_or_else(|| {
        AppError::NotFound(format!(
            "the hub never signed a checkpoint of size {}",
            size.unwrap_or_default()
        ))
    })?;
    Ok(text(note))
}

#[utoipa::path(get, path = "/v1/log/proof/inclusion", tag = "log",
    params(
        ("index" = u64, Query, description = "The leaf index"),
        ("size" = u64, Query, description = "The tree size, at most the current one"),
    ),
    responses(
        (status = 200, description = "The inclusion proof", body = Object),
        (status = 400, description = "`bad_parameter`", body = ErrorBody),
        (status = 404, description = "`not_found`", body = ErrorBody),
    ))]
async fn inclusion(
    State(state): State<Shared>,
    RawQuery(raw): RawQuery,
) -> Result<Json<InclusionProof>, AppError> {
    let pairs = params::pairs(raw.as_deref());
    params::only_known(&pairs, &["index", "size"])?;
    let size = proof_size(&pairs, &state)?;
    let index = params::required_number(&pairs, "index")?;
    if index >= size {
        return Err(params::bad(
            "index",
            format!("{index} is not below size {size}"),
        ));
    }
    let store = state.store.clone();
    blocking(move || {
        let hashes = inclusion_proof(index, size, &store).map_err(tree_error)?;
        Ok(Json(InclusionProof {
            index,
            size,
            leaf_hash: stored_leaf_hash(&store, index)?,
            hashes,
        }))
    })
    .await
}

#[utoipa::path(get, path = "/v1/log/proof/consistency", tag = "log",
    params(
        ("from" = u64, Query, description = "The earlier tree size"),
        ("size" = u64, Query, description = "The later tree size, at most the current one"),
    ),
    responses(
        (status = 200, description = "The consistency proof", body = Object),
        (status = 400, description = "`bad_parameter`", body = ErrorBody),
        (status = 404, description = "`not_found`", body = ErrorBody),
    ))]
async fn consistency(
    State(state): State<Shared>,
    RawQuery(raw): RawQuery,
) -> Result<Json<ConsistencyProof>, AppError> {
    let pairs = params::pairs(raw.as_deref());
    params::only_known(&pairs, &["from", "size"])?;
    let size = proof_size(&pairs, &state)?;
    let from = params::required_number(&pairs, "from")?;
    if from == 0 || from > size {
        return Err(params::bad(
            "from",
            format!("{from} is not between 1 and size {size}"),
        ));
    }
    let store = state.store.clone();
    blocking(move || {
        let hashes = consistency_proof(from, size, &store).map_err(tree_error)?;
        Ok(Json(ConsistencyProof { from, size, hashes }))
    })
    .await
}

/// The required `size` parameter of a proof: at most the current tree size.
fn proof_size(pairs: &[(String, String)], state: &AppState) -> Result<u64, AppError> {
    let size = params::required_number(pairs, "size")?;
    let tree = tree_size(state);
    if size > tree {
        return Err(params::bad(
            "size",
            format!("{size} is larger than the tree ({tree} leaves)"),
        ));
    }
    Ok(size)
}

/// The leaf hash of leaf `index`, from the log entry's envelope bytes.
fn stored_leaf_hash(store: &HubStore, index: u64) -> Result<yiqi_tlog::Hash, AppError> {
    let entries = store.log_after(index, 1)?;
    let data = entries
        .first()
        .filter(|entry| entry.seq == index + 1)
        .and_then(|entry| envelope_bytes(&entry.json))
        .ok_or_else(|| AppError::Internal(format!("log entry {} is missing", index + 1)))?;
    Ok(leaf_hash(data))
}

#[utoipa::path(get, path = "/v1/log/tile/{path}", tag = "log",
    params(("path" = String, Path, description = "A C2SP tlog-tiles path: `{L}/{N}[.p/{W}]` or `entries/{N}[.p/{W}]`")),
    responses(
        (status = 200, description = "The tile's bytes", body = Vec<u8>, content_type = "application/octet-stream"),
        (status = 400, description = "`bad_parameter` on `path`", body = ErrorBody),
        (status = 404, description = "`not_found`: not in the tree", body = ErrorBody),
    ))]
async fn tile(State(state): State<Shared>, Path(path): Path<String>) -> Result<Response, AppError> {
    let tile = TilePath::parse(&path).map_err(tile_error)?;
    let (store, size) = (state.store.clone(), tree_size(&state));
    let (bytes, full) = blocking(move || {
        Ok(match tile {
            TilePath::Hashes(tile) => (
                tile.data(size, &store).map_err(tile_error)?,
                tile.width() == 256,
            ),
            TilePath::Entries(bundle) => {
                let range = bundle.leaf_range(size).map_err(tile_error)?;
                let width = usize::from(bundle.width());
                let entries = store.log_after(range.start, width)?;
                let leaves: Vec<&[u8]> = entries
                    .iter()
                    .filter_map(|entry| envelope_bytes(&entry.json))
                    .collect();
                (bundle.bundle(&leaves).map_err(tile_error)?, width == 256)
            }
        })
    })
    .await?;
    let mut response = Response::new(Body::from(bytes));
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    if full {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(IMMUTABLE));
    }
    Ok(response)
}

fn tile_error(e: TileError) -> AppError {
    match e {
        TileError::MalformedPath { .. } => params::bad("path", e.to_string()),
        TileError::NotInTree { .. } => AppError::NotFound(e.to_string()),
        TileError::EntryTooLong { .. } | TileError::WrongEntryCount { .. } => {
            AppError::Internal(e.to_string())
        }
        TileError::Store(e) => tree_error(e).into(),
    }
}

#[utoipa::path(post, path = "/v1/log/cosignatures", tag = "log",
    request_body(content = Object, content_type = "application/json", description = "`{\"size\": n, \"cosignature\": \"— witness …\"}`"),
    responses(
        (status = 200, description = "The witnesses that have cosigned that size", body = Object),
        (status = 400, description = "`malformed_json`, `bad_parameter` or `bad_cosignature`", body = ErrorBody),
        (status = 404, description = "`not_found`: no checkpoint of that size", body = ErrorBody),
        (status = 413, description = "`too_large`", body = ErrorBody),
    ))]
async fn cosignature(
    State(state): State<Shared>,
    body: Body,
) -> Result<Json<CosignatureReceipt>, AppError> {
    let bytes = read_body(body, MAX_COSIGNATURE_BODY).await?;
    let body = yiqi_schema::ijson::parse(&bytes).map_err(|e| AppError::MalformedJson(e.0))?;
    let size = body.get("size").and_then(Value::as_u64).ok_or_else(|| {
        params::bad(
            "size",
            "required non-negative integer member is missing".into(),
        )
    })?;
    let line = body
        .get("cosignature")
        .and_then(Value::as_str)
        .ok_or_else(|| params::bad("cosignature", "required string member is missing".into()))?
        .to_owned();
    let log = state.log.clone();
    let witnesses = blocking(move || {
        log.add_cosignature(size, &line).map_err(|e| match e {
            CosignatureError::NoCheckpoint(_) => AppError::NotFound(e.to_string()),
            CosignatureError::Invalid(message) => AppError::BadCosignature(message),
            CosignatureError::Storage(e) => e.into(),
        })
    })
    .await?;
    Ok(Json(CosignatureReceipt { size, witnesses }))
}
