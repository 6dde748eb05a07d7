//! `serve`: national search, statistics, records and pages from the node's own store.
//!
//! The node answers the same read routes as the hub ([`yiqi_search::http::read_routes`]) from
//! its verified mirror (`m/`, the other regions) and its own catalogue (`c/`), never asking the
//! hub. The search index is derived data, like the hub's: it lives in `<node folder>/index/`,
//! is brought up to the store when serving starts (rebuilt whole when missing, damaged or built
//! with another analysis: [`SearchService::open`] checks the fingerprint), and then follows sync,
//! which hands every committed page's applied versions to [`LiveIndex::apply_feed_page`].
//!
//! Positions: a mirrored version is indexed at its feed seq (`f/`, written with the mirror copy),
//! in feed order, so a restart re-indexes only what the persisted index lacks. The node's own
//! records have no feed seq (sync skips the node's own region): they are applied unsequenced
//! ([`SearchService::apply_unsequenced`]), all of them each time serving starts, and are served
//! with `"seq": null, "received_at": null`. Mirror copies older than `f/` are treated the same.

use crate::catalog::CatalogEntry;
use crate::db::{self, FeedPosition, StoredEnvelope};
use crate::error::NodeError;
use crate::node::{Node, now_rfc3339};
use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;
use serde_json::{Value, json};
use std::future::Future;
use std::ops::ControlFlow;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use tokio::sync::watch;
use yiqi_search::connections::{self, ConnectionLimits};
use yiqi_search::http::{self, ApiError, Catalogue};
use yiqi_search::oai::{EntryPage, OaiSettings};
use yiqi_search::pages::ServedBy;
use yiqi_search::{IndexEntry, SearchService};

/// How often a serving node checks that the hub answers, for `/healthz`.
pub const HUB_PROBE_EVERY: Duration = Duration::from_secs(5);
/// Longest a request may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
/// Store entries read per step when bringing the index up to the store.
const REPLAY_CHUNK: usize = 2_000;

/// A serving node's search index and what `/healthz` and the pages report about it. Sync hands
/// it the versions each committed page applied.
pub struct LiveIndex {
    search: Arc<SearchService>,
    /// The feed cursor up to which every applied version has been handed to the index.
    indexed_cursor: AtomicU64,
    /// The address the node serves on.
    listen: String,
    /// When the last sync completed (caught up) in this process.
    synced: Mutex<Option<Instant>>,
    hub: Mutex<HubCheck>,
}

/// The last hub probe.
#[derive(Debug, Clone, Default)]
struct HubCheck {
    reachable: bool,
    /// RFC 3339; `None` before the first probe.
    checked_at: Option<String>,
}

/// `status --json`'s `serve` member while the node serves.
#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct ServeStatus {
    pub listen: String,
    pub indexed_seq: u64,
}

impl LiveIndex {
    /// The feed cursor the index is current to.
    pub fn indexed_seq(&self) -> u64 {
        self.indexed_cursor.load(Ordering::Acquire)
    }

    pub fn status(&self) -> ServeStatus {
        ServeStatus {
            listen: self.listen.clone(),
            indexed_seq: self.indexed_seq(),
        }
    }

    /// Indexes the stored entries ([`entry_json`]) a durable feed page applied, in feed order,
    /// and moves the indexed cursor to `cursor`. A failure is logged: the index is derived data
    /// and is brought up to the store again when serving restarts.
    pub(crate) fn apply_feed_page(&self, entries: &[Vec<u8>], cursor: u64) {
        let parsed: Vec<IndexEntry> = entries.iter().filter_map(|e| parse(e)).collect();
        match self.search.apply(&parsed) {
            Ok(()) => {
                self.indexed_cursor.fetch_max(cursor, Ordering::AcqRel);
            }
            Err(error) => tracing::error!(%error, cursor, "indexing a synced page failed"),
        }
    }

    /// Records that a sync run caught up now.
    pub(crate) fn note_synced(&self) {
        *self.synced.lock().unwrap_or_else(PoisonError::into_inner) = Some(Instant::now());
    }

    fn synced_secs_ago(&self) -> Option<u64> {
        let synced = *self.synced.lock().unwrap_or_else(PoisonError::into_inner);
        synced.map(|at| at.elapsed().as_secs())
    }

    fn hub_check(&self) -> HubCheck {
        self.hub
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

fn parse(entry: &[u8]) -> Option<IndexEntry> {
    IndexEntry::from_stored(entry)
        .inspect_err(|error| tracing::error!(%error, "unreadable stored entry not indexed"))
        .ok()
}

/// The stored entry of a version: the bytes the hub serves for it when the feed position is
/// known, `null` for the position otherwise (the node's own records).
pub fn entry_json(position: Option<&FeedPosition>, envelope: &[u8]) -> Vec<u8> {
    let position = position.map(|p| (p.seq, p.received_at.as_str()));
    yiqi_schema::protocol::feed_entry_bytes(position, envelope)
}

/// What the read routes answer from: the node's store and its index.
pub struct NodeCatalogue {
    node: Node,
    index: Arc<LiveIndex>,
    oai: OaiSettings,
}

impl Catalogue for NodeCatalogue {
    fn search(&self) -> &Arc<SearchService> {
        &self.index.search
    }

    fn stored_entry(&self, region: &str, local_id: &str) -> Result<Option<Vec<u8>>, ApiError> {
        self.node
            .stored_entry(region, local_id)
            .map_err(ApiError::internal)
    }

    fn served_by(&self) -> ServedBy {
        ServedBy::Node {
            region: self.node.config.region.clone(),
            name: self.node.config.name.clone(),
            mirror_seq: self.index.indexed_seq(),
            synced_secs_ago: self.index.synced_secs_ago(),
        }
    }

    fn entries_after(&self, after: Option<&str>, limit: usize) -> Result<EntryPage, ApiError> {
        self.node
            .entries_after(after, limit)
            .map_err(ApiError::internal)?
            .ok_or_else(|| ApiError::bad_parameter("after", "after: not a position of this node"))
    }

    fn earliest_datestamp(&self) -> Result<Option<String>, ApiError> {
        self.node.earliest_datestamp().map_err(ApiError::internal)
    }

    fn oai_settings(&self) -> &OaiSettings {
        &self.oai
    }
}

/// The node's router: `/healthz` and the read routes it shares with the hub.
pub fn router(catalogue: Arc<NodeCatalogue>) -> Router {
    let routes = Router::new()
        .route("/healthz", get(healthz))
        .route(
            yiqi_search::openapi::OPENAPI_PATH,
            yiqi_search::openapi::route(&openapi_document()),
        )
        .merge(http::read_routes::<NodeCatalogue>());
    http::finish(routes, REQUEST_TIMEOUT).with_state(catalogue)
}

#[derive(utoipa::OpenApi)]
#[openapi(paths(healthz))]
struct NodeApi;

/// What `GET /openapi.json` serves on a serving node: the shared read routes and `/healthz`.
pub fn openapi_document() -> utoipa::openapi::OpenApi {
    let mut document = yiqi_search::openapi::read_api();
    document.merge(<NodeApi as utoipa::OpenApi>::openapi());
    document
}

/// `GET /healthz` of a serving node.
#[utoipa::path(get, path = "/healthz", tag = "node",
    responses(
        (status = 200, description = "`{status, role, region, mirror_seq, indexed_seq, hub, hub_checked_at}`", body = Object),
        (status = 500, description = "`internal`: the node's database cannot be read", body = yiqi_schema::protocol::ErrorBody),
    ))]
async fn healthz(State(catalogue): State<Arc<NodeCatalogue>>) -> Result<Json<Value>, ApiError> {
    let db = catalogue.node.db.clone();
    let mirror_seq = http::blocking(move || db.cursor().map_err(ApiError::internal)).await?;
    let hub = catalogue.index.hub_check();
    Ok(Json(json!({
        "status": "ok",
        "role": "node",
        "region": catalogue.node.config.region,
        "mirror_seq": mirror_seq,
        "indexed_seq": catalogue.index.indexed_seq(),
        "hub": if hub.reachable { "reachable" } else { "unreachable" },
        "hub_checked_at": hub.checked_at,
    })))
}

impl Node {
    /// The index sync feeds, when this node serves.
    pub(crate) fn live_index(&self) -> Option<Arc<LiveIndex>> {
        self.live_index.get().cloned()
    }

    /// The current stored entry of `region/local_id`: the own catalogue's signed version for the
    /// node's region, the verified mirror copy otherwise; tombstones included.
    pub fn stored_entry(&self, region: &str, local_id: &str) -> Result<Option<Vec<u8>>, NodeError> {
        if region == self.config.region {
            let entry = self.catalog_entry(local_id)?;
            return Ok(entry.map(|e| entry_json(None, &e.stored.envelope)));
        }
        let Some(bytes) = self.db.get(&db::mirror_key(region, local_id))? else {
            return Ok(None);
        };
        let stored = StoredEnvelope::decode(&bytes)?;
        let position = self
            .db
            .get(&db::position_key(region, local_id))?
            .map(|p| FeedPosition::decode(&p))
            .transpose()?;
        Ok(Some(entry_json(position.as_ref(), &stored.envelope)))
    }

    /// Opens the search index in `dir`, brings it up to the store, and from now on has sync
    /// keep it current; `listen` is the address it will be served on. The store must not be
    /// synced meanwhile (`run` opens it before its loops start). One index per node value.
    pub fn open_index(&self, dir: &Path, listen: &str) -> Result<Arc<NodeCatalogue>, NodeError> {
        let search = SearchService::open(dir)?;
        let index = Arc::new(LiveIndex {
            search: Arc::new(search),
            indexed_cursor: AtomicU64::new(0),
            listen: listen.to_owned(),
            synced: Mutex::new(None),
            hub: Mutex::new(HubCheck::default()),
        });
        let cursor = self.db.cursor()?;
        let started = Instant::now();
        self.replay_into(&index.search)?;
        index.search.flush()?;
        index.indexed_cursor.store(cursor, Ordering::Release);
        tracing::info!(
            cursor,
            seconds = started.elapsed().as_secs_f64(),
            "search index is up to the store"
        );
        self.live_index
            .set(index.clone())
            .map_err(|_| NodeError::Usage("this node already serves an index".into()))?;
        let oai = OaiSettings::configured(
            self.config.oai_repository_id.clone(),
            self.config.oai_admin_email.clone(),
        )
        .map_err(NodeError::Usage)?;
        Ok(Arc::new(NodeCatalogue {
            node: self.clone(),
            index,
            oai,
        }))
    }

    /// Applies the mirror in feed order and the own catalogue unsequenced. Entries the persisted
    /// index already holds (seq at or below its commit) only rebuild the in-memory statistics.
    fn replay_into(&self, search: &SearchService) -> Result<(), NodeError> {
        let mut sequenced: Vec<(u64, Vec<u8>)> = Vec::new();
        let mut unsequenced: Vec<Vec<u8>> = Vec::new();
        self.db.for_each(db::POSITION, REPLAY_CHUNK, |key, value| {
            let seq = FeedPosition::decode(value)?.seq;
            sequenced.push((seq, key[db::POSITION.len()..].to_vec()));
            Ok(ControlFlow::Continue(()))
        })?;
        sequenced.sort_unstable();
        self.db.for_each(db::MIRROR, REPLAY_CHUNK, |key, value| {
            let id = &key[db::MIRROR.len()..];
            if self.db.get(&[db::POSITION, id].concat())?.is_none() {
                let envelope = StoredEnvelope::decode(value)?.envelope;
                unsequenced.push(entry_json(None, &envelope));
            }
            Ok(ControlFlow::Continue(()))
        })?;
        self.db.for_each(db::CATALOG, REPLAY_CHUNK, |_, value| {
            let entry = CatalogEntry::decode(value)?;
            unsequenced.push(entry_json(None, &entry.stored.envelope));
            Ok(ControlFlow::Continue(()))
        })?;
        for chunk in sequenced.chunks(REPLAY_CHUNK) {
            let mut entries = Vec::with_capacity(chunk.len());
            for (_, id) in chunk {
                let (mirror, position) = (
                    self.db.get(&[db::MIRROR, id.as_slice()].concat())?,
                    self.db.get(&[db::POSITION, id.as_slice()].concat())?,
                );
                let (Some(mirror), Some(position)) = (mirror, position) else {
                    continue;
                };
                let (stored, position) = (
                    StoredEnvelope::decode(&mirror)?,
                    FeedPosition::decode(&position)?,
                );
                entries.extend(parse(&entry_json(Some(&position), &stored.envelope)));
            }
            search.apply(&entries)?;
        }
        for chunk in unsequenced.chunks(REPLAY_CHUNK) {
            let entries: Vec<IndexEntry> = chunk.iter().filter_map(|e| parse(e)).collect();
            search.apply_unsequenced(&entries)?;
        }
        Ok(())
    }

    /// `yiqi-node serve`: answers the read routes on `listener` from what the store holds,
    /// without syncing, until `stop` completes. Prints `yiqi-node serving on http://ADDR`.
    pub async fn serve(
        &self,
        listener: TcpListener,
        stop: impl Future<Output = ()>,
    ) -> Result<(), NodeError> {
        let (stopping, stopped) = watch::channel(false);
        let catalogue = self.start_serving(&listener).await?;
        let loops = async {
            tokio::try_join!(
                serve_http(listener, catalogue, stopped.clone()),
                self.probe_hub_loop(stopped.clone()),
                self.snapshot_loop(stopped.clone()),
                self.control_loop(stopped.clone())
            )
        };
        crate::daemon::until_stopped(loops, stop, stopping, "finishing in-flight requests").await?;
        self.flush_index().await
    }

    /// Opens the index in the node folder for `listener`'s address, probes the hub once, and
    /// announces the address on stdout.
    pub(crate) async fn start_serving(
        &self,
        listener: &TcpListener,
    ) -> Result<Arc<NodeCatalogue>, NodeError> {
        let address = listener
            .local_addr()
            .map_err(|e| NodeError::Usage(format!("listening: {e}")))?;
        let dir = self
            .folder
            .as_ref()
            .map(|f| f.index())
            .ok_or_else(|| NodeError::Usage("an in-memory node has no index folder".into()))?;
        let node = self.clone();
        let listen = address.to_string();
        let catalogue = tokio::task::spawn_blocking(move || node.open_index(&dir, &listen))
            .await
            .map_err(|e| NodeError::Usage(e.to_string()))??;
        self.probe_hub().await;
        println!("yiqi-node serving on http://{address}");
        Ok(catalogue)
    }

    /// Commits what the index holds (on stop).
    pub(crate) async fn flush_index(&self) -> Result<(), NodeError> {
        let Some(index) = self.live_index() else {
            return Ok(());
        };
        tokio::task::spawn_blocking(move || index.search.flush())
            .await
            .map_err(|e| NodeError::Usage(e.to_string()))?
            .map_err(NodeError::from)
    }

    /// Asks the hub's `/healthz` and records the answer for the node's `/healthz`.
    async fn probe_hub(&self) {
        let reachable = self.hub_reachable().await;
        if let Some(index) = self.live_index() {
            *index.hub.lock().unwrap_or_else(PoisonError::into_inner) = HubCheck {
                reachable,
                checked_at: Some(now_rfc3339()),
            };
        }
    }

    /// Probes the hub every [`HUB_PROBE_EVERY`] until stopped.
    pub(crate) async fn probe_hub_loop(
        &self,
        mut stopped: watch::Receiver<bool>,
    ) -> Result<(), NodeError> {
        while !*stopped.borrow() {
            tokio::select! {
                () = tokio::time::sleep(HUB_PROBE_EVERY) => self.probe_hub().await,
                _ = stopped.changed() => {}
            }
        }
        Ok(())
    }
}

/// How long a stop waits for in-flight requests (bounded by the request timeout).
const DRAIN: Duration = Duration::from_secs(REQUEST_TIMEOUT.as_secs() + 1);

/// Serves `catalogue` on `listener` until stopped, then lets in-flight requests finish.
pub(crate) async fn serve_http(
    listener: TcpListener,
    catalogue: Arc<NodeCatalogue>,
    mut stopped: watch::Receiver<bool>,
) -> Result<(), NodeError> {
    let stop = async move {
        while !*stopped.borrow() {
            if stopped.changed().await.is_err() {
                break;
            }
        }
    };
    let limits = ConnectionLimits::fitted(
        ConnectionLimits::DEFAULT_MAX_CONNECTIONS,
        ConnectionLimits::DEFAULT_HEADER_READ_TIMEOUT,
        DRAIN,
    );
    connections::serve(listener, router(catalogue), &limits, stop)
        .await
        .map_err(|e| NodeError::Usage(format!("serving: {e}")))
}

/// Binds `address` (`HOST:PORT`) for serving.
pub async fn bind(address: &str) -> Result<TcpListener, NodeError> {
    TcpListener::bind(address)
        .await
        .map_err(|e| NodeError::Usage(format!("cannot listen on {address}: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::ImportRequest;
    use crate::config::Config;
    use crate::sync::SyncOptions;
    use crate::testing::{ndjson, row};
    use crate::testlog::{Federation, LogHub, instrument, key_record, signed};
    use axum::body::Body;
    use axum::http::Request;
    use http_body_util::BodyExt;
    use tower::ServiceExt;
    use yiqi_schema::keys::generate;

    const RECEIVED: &str = "2026-06-01T00:00:00.000Z";

    /// A reference hub whose log admits a Beijing key (seq 1, signed by the root) and holds two
    /// Beijing records (seqs 2 and 3), one of them a TEM; their canonical envelopes; the root.
    async fn hub_with_beijing() -> (LogHub, Vec<Vec<u8>>, String) {
        let (federation, key) = (Federation::new(), generate());
        let records = [("A", "透射电子显微镜"), ("B", "离心机")].map(|(local_id, name)| {
            let mut record = instrument("CN-BJ", local_id, 1);
            record["name"] = json!(name);
            signed(record, &key)
        });
        let hub = LogHub::start().await;
        hub.append(&[signed(key_record("CN-BJ", &key, false), &federation.root)]);
        hub.append(&records);
        let canonical = records
            .iter()
            .map(yiqi_schema::canonical::canonical_bytes)
            .collect();
        (hub, canonical, federation.root_text())
    }

    /// A node of `region` in memory, pinned to `root`, following `hub`.
    fn pinned(region: &str, hub: &LogHub, root: &str) -> Node {
        let config = Config::new(region, &hub.url, None, root).unwrap();
        Node::in_memory(config, generate())
    }

    async fn get(router: &Router, path: &str) -> (u16, Vec<u8>) {
        let request = Request::get(path).body(Body::empty()).unwrap();
        let response = router.clone().oneshot(request).await.unwrap();
        let status = response.status().as_u16();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        (status, body.to_vec())
    }

    fn json_of(bytes: &[u8]) -> Value {
        serde_json::from_slice(bytes).unwrap()
    }

    #[tokio::test]
    async fn a_node_serves_its_mirror_and_catalogue_with_the_hubs_routes() {
        let (hub, canonical, root) = hub_with_beijing().await;
        let node = pinned("CN-GS", &hub, &root);
        let dir = tempfile::tempdir().unwrap();
        let file = ndjson(dir.path(), "own.ndjson", &[row("G1", "扫描电子显微镜")]);
        node.import(&ImportRequest::new(file), &indicatif::ProgressBar::hidden())
            .unwrap();
        node.sync(&SyncOptions::default()).await.unwrap();
        let catalogue = node
            .open_index(&dir.path().join("index"), "127.0.0.1:0")
            .unwrap();
        let router = router(catalogue);

        let (status, health) = get(&router, "/healthz").await;
        let health = json_of(&health);
        assert_eq!(status, 200);
        assert_eq!(
            (
                &health["role"],
                &health["region"],
                &health["mirror_seq"],
                &health["indexed_seq"]
            ),
            (&json!("node"), &json!("CN-GS"), &json!(3), &json!(3))
        );
        assert_eq!(health["hub"], "unreachable", "not probed yet");

        // The node describes its own routes: the shared ones and /healthz, not the hub's.
        let (status, openapi) = get(&router, "/openapi.json").await;
        let paths = &json_of(&openapi)["paths"];
        assert_eq!(status, 200);
        assert!(paths["/healthz"]["get"].is_object() && paths["/oai"]["post"].is_object());
        assert!(paths["/v1/feed"].is_null(), "{paths}");

        // The mirror and the own catalogue are searched together; the thesaurus applies.
        let (_, all) = get(&router, "/v1/search?limit=0").await;
        assert_eq!(json_of(&all)["total"], 3);
        assert_eq!(
            json_of(&all)["facets"]["region"],
            json!({"CN-BJ": 2, "CN-GS": 1})
        );
        let (_, tem) = get(&router, "/v1/search?q=TEM").await;
        let tem = json_of(&tem);
        let found =
            |hits: &Value, id: &str| hits.as_array().unwrap().iter().any(|h| h["local_id"] == id);
        assert!(found(&tem["hits"], "A"), "{tem}");
        let (_, centrifuge) = get(&router, "/v1/search?q=离心机").await;
        assert_eq!(json_of(&centrifuge)["hits"][0]["local_id"], "B");
        let (_, stats) = get(&router, "/v1/stats").await;
        assert_eq!(json_of(&stats)["total"]["instruments"], 3);

        // A mirrored record: the hub's entry bytes. The own record: no feed position.
        let (status, entry) = get(&router, "/v1/records/CN-BJ/A").await;
        let expected = [
            format!("{{\"seq\":2,\"leaf_index\":1,\"received_at\":\"{RECEIVED}\",\"envelope\":")
                .as_bytes(),
            &canonical[0],
            b"}",
        ]
        .concat();
        assert_eq!((status, entry), (200, expected));
        let (status, own) = get(&router, "/v1/records/CN-GS/G1").await;
        let own = json_of(&own);
        assert_eq!(status, 200);
        assert!(own["seq"].is_null() && own["received_at"].is_null());
        assert_eq!(own["envelope"]["record"]["local_id"], "G1");

        // The same errors as the hub.
        let (status, error) = get(&router, "/v1/search?limit=101").await;
        let error = json_of(&error);
        assert_eq!(status, 400);
        assert_eq!(error["error"]["code"], "bad_parameter");
        assert_eq!(error["error"]["parameter"], "limit");
        assert_eq!(error["error"]["docs"], "docs/protocol.md#bad-parameter");
        let (status, missing) = get(&router, "/v1/records/CN-BJ/Z").await;
        assert_eq!(
            (status, json_of(&missing)["error"]["code"].clone()),
            (404, json!("not_found"))
        );
        assert_eq!(
            get(&router, "/v1/feed").await.0,
            404,
            "a node serves no feed"
        );

        // Pages name the node and the mirror's position.
        let (status, page) = get(&router, "/instruments/CN-BJ/A").await;
        let page = String::from_utf8(page).unwrap();
        assert_eq!(status, 200);
        assert!(
            page.contains("Served by CN-GS") && page.contains("镜像截至 seq 3"),
            "{page}"
        );
        let (_, own_page) = get(&router, "/instruments/CN-GS/G1").await;
        assert!(
            String::from_utf8(own_page)
                .unwrap()
                .contains("Own catalogue")
        );
    }

    #[tokio::test]
    async fn a_node_is_an_oai_repository_of_its_mirror_and_catalogue() {
        let (hub, _, root) = hub_with_beijing().await;
        let node = pinned("CN-GS", &hub, &root);
        let dir = tempfile::tempdir().unwrap();
        let file = ndjson(dir.path(), "own.ndjson", &[row("G1", "扫描电子显微镜")]);
        node.import(&ImportRequest::new(file), &indicatif::ProgressBar::hidden())
            .unwrap();
        node.sync(&SyncOptions::default()).await.unwrap();

        // Stepping one entry at a time crosses from the mirror to the catalogue and ends.
        let (mut after, mut ids) = (None, Vec::new());
        loop {
            let page = node.entries_after(after.as_deref(), 1).unwrap().unwrap();
            ids.extend(page.entries.iter().map(|e| e.position.clone()));
            match page.next {
                Some(next) => after = Some(next),
                None => break,
            }
        }
        assert!(
            ids.contains(&"m:CN-BJ/A".to_owned()) && ids.contains(&"m:CN-BJ/B".to_owned()),
            "{ids:?}"
        );
        assert_eq!(ids.last().map(String::as_str), Some("c:G1"), "{ids:?}");
        assert!(node.entries_after(Some("x:1"), 10).unwrap().is_none());

        let catalogue = node
            .open_index(&dir.path().join("index"), "127.0.0.1:0")
            .unwrap();
        let router = router(catalogue);
        let (status, xml) = get(
            &router,
            "/oai?verb=ListIdentifiers&metadataPrefix=datacite&set=kind:instrument",
        )
        .await;
        let xml = String::from_utf8(xml).unwrap();
        assert_eq!(status, 200);
        for id in ["oai:yiqi:CN-BJ/A", "oai:yiqi:CN-BJ/B", "oai:yiqi:CN-GS/G1"] {
            assert!(
                xml.contains(&format!("<identifier>{id}</identifier>")),
                "{id} in {xml}"
            );
        }
        let received = &RECEIVED[..19];
        assert!(
            xml.contains(&format!("<datestamp>{received}Z</datestamp>")),
            "{xml}"
        );
        let (_, identify) = get(&router, "/oai?verb=Identify").await;
        let identify = String::from_utf8(identify).unwrap();
        assert!(
            identify.contains("<deletedRecord>persistent</deletedRecord>"),
            "{identify}"
        );
    }

    #[tokio::test]
    async fn a_reopened_index_is_brought_up_to_the_store() {
        let (hub, _, root) = hub_with_beijing().await;
        let dir = tempfile::tempdir().unwrap();
        let index = dir.path().join("index");
        let store: Arc<dyn yiqi_store::KvStore> = Arc::new(yiqi_store::MemoryStore::new());
        let config = Config::new("CN-GS", &hub.url, None, &root).unwrap();
        let first = Node::with_store(config.clone(), generate(), store.clone());
        first.sync(&SyncOptions::default()).await.unwrap();
        drop(first.open_index(&index, "a").unwrap());
        // The index commits as the node lets it go; a second process over the same store finds
        // the mirror in it already, and rebuilds the statistics (kept in memory) whole.
        drop(first);
        let again = Node::with_store(config, generate(), store);
        let router = router(again.open_index(&index, "b").unwrap());
        let (_, stats) = get(&router, "/v1/stats").await;
        assert_eq!(json_of(&stats)["total"]["instruments"], 2);
        let (_, found) = get(&router, "/v1/search?q=离心机").await;
        assert_eq!(json_of(&found)["hits"][0]["local_id"], "B");
    }
}
