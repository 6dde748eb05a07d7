//! Every node serves national search from its verified mirror: three regions publish generated
//! catalogues, each node syncs and serves, and the same queries get the same answers from the hub
//! and from every node; then the hub is killed and the nodes keep answering, saying so in
//! `/healthz`.

use serde_json::Value;
use std::collections::BTreeMap;
use std::time::Duration;
use yiqi_tests::client::{HubClient, init_tls};
use yiqi_tests::node::{NodeCli, Running};
use yiqi_tests::process::HubProcess;

const REGIONS: [(&str, usize); 3] = [("CN-BJ", 300), ("CN-GS", 200), ("CN-SC", 250)];
const DEADLINE: Duration = Duration::from_secs(60);

/// The same 20 requests at every server: text in Chinese and English, thesaurus synonyms,
/// facets and filters, sorts and paging, statistics, no match, and a bad parameter.
fn queries(category: &str, province: &str) -> Vec<String> {
    let mut queries: Vec<String> = [
        "/v1/search",
        "/v1/search?q=显微镜",
        "/v1/search?q=microscope",
        "/v1/search?q=TEM",
        "/v1/search?q=透射电镜",
        "/v1/search?q=核磁",
        "/v1/search?q=质谱&sort=value_desc",
        "/v1/search?region=CN-GS&limit=50",
        "/v1/search?sort=updated_desc&offset=20&limit=30",
        "/v1/search?sharing=external&sort=value_desc",
        "/v1/search?q=仪器&region=CN-SC&sharing=internal",
        "/v1/search?q=zzzz-no-such-instrument-qqqq",
        "/v1/search?limit=101",
        "/v1/stats",
        "/v1/stats?group_by=category",
        "/v1/stats?group_by=institution&region=CN-BJ",
        "/v1/stats?group_by=province",
        "/v1/stats?group_by=year",
    ]
    .map(str::to_owned)
    .to_vec();
    queries.push(format!("/v1/search?category={category}&limit=40"));
    queries.push(format!(
        "/v1/search?province={}&sort=value_desc",
        urlencoding(province)
    ));
    queries
}

fn urlencoding(text: &str) -> String {
    form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

/// An answer with what may differ between two servers removed (`took_ms`).
async fn answer(http: &reqwest::Client, base: &str, path: &str) -> (u16, Value) {
    let response = http
        .get(format!("{base}{path}"))
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET {base}{path}: {e}"));
    let status = response.status().as_u16();
    let mut body: Value = response.json().await.expect("a JSON answer");
    if let Some(object) = body.as_object_mut() {
        object.remove("took_ms");
    }
    (status, body)
}

async fn bytes(http: &reqwest::Client, url: &str) -> (u16, Vec<u8>) {
    let response = http.get(url).send().await.expect("an answer");
    let status = response.status().as_u16();
    (status, response.bytes().await.expect("a body").to_vec())
}

struct Setup {
    _dir: tempfile::TempDir,
    hub: HubProcess,
    nodes: BTreeMap<&'static str, NodeCli>,
}

/// A hub and three nodes; each region imports a generated catalogue, publishes and syncs.
async fn federation() -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_path_buf();
    let hub = HubProcess::start(&root.join("hub"));
    let client = HubClient::new(&hub.url);
    let mut nodes = BTreeMap::new();
    for (seed, (region, count)) in REGIONS.into_iter().enumerate() {
        let node = NodeCli::new(&root.join(region));
        let key = node.init(region, &hub.url);
        assert_eq!(client.register(region, &key).await.unwrap(), "accepted");
        let file = root.join(format!("{region}.ndjson"));
        let (count, seed) = (count.to_string(), (seed + 7).to_string());
        let file_arg = file.to_str().unwrap();
        node.ok(&[
            "generate", "--region", region, "--count", &count, "--seed", &seed, "--out", file_arg,
        ]);
        node.ok(&["import", file_arg]);
        node.ok(&["publish"]);
        nodes.insert(region, node);
    }
    for node in nodes.values() {
        node.ok(&["sync"]);
    }
    Setup {
        _dir: dir,
        hub,
        nodes,
    }
}

/// The number of records the three generated catalogues hold.
fn published() -> u64 {
    REGIONS.iter().map(|(_, n)| *n as u64).sum()
}

/// Waits until the hub's search counts `expected` records.
async fn hub_searchable(http: &reqwest::Client, hub: &str, expected: u64) {
    let deadline = tokio::time::Instant::now() + DEADLINE;
    loop {
        let (_, body) = answer(http, hub, "/v1/search?limit=0").await;
        if body["total"].as_u64() == Some(expected) {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the hub indexed {body} of {expected}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A sample of ids per region from the hub's search.
async fn sample_ids(http: &reqwest::Client, hub: &str) -> Vec<(String, String)> {
    let mut ids = Vec::new();
    for (region, _) in REGIONS {
        let (_, body) = answer(http, hub, &format!("/v1/search?region={region}&limit=3")).await;
        for hit in body["hits"].as_array().expect("hits") {
            ids.push((
                hit["region"].as_str().unwrap().to_owned(),
                hit["local_id"].as_str().unwrap().to_owned(),
            ));
        }
    }
    ids
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_node_answers_national_search_as_the_hub_does_and_without_it() {
    init_tls();
    let mut setup = federation().await;
    let http = reqwest::Client::new();
    let hub = setup.hub.url.clone();
    hub_searchable(&http, &hub, published()).await;
    let serving: BTreeMap<&str, Running> = setup
        .nodes
        .iter()
        .map(|(region, node)| (*region, node.serve()))
        .collect();
    let url = |region: &str| serving[region].url.clone().expect("a serving url");

    let (_, overview) = answer(&http, &hub, "/v1/search?limit=0").await;
    let category = overview["facets"]["category"]
        .as_object()
        .and_then(|c| c.keys().next().cloned())
        .expect("a category facet");
    let province = overview["facets"]["province"]
        .as_object()
        .and_then(|p| p.keys().next().cloned())
        .expect("a province facet");
    let queries = queries(&category, &province);
    assert_eq!(queries.len(), 20);

    let mut expected = Vec::new();
    for query in &queries {
        let at_hub = answer(&http, &hub, query).await;
        for region in serving.keys() {
            let at_node = answer(&http, &url(region), query).await;
            assert_eq!(at_node, at_hub, "{region} answers {query} differently");
        }
        expected.push(at_hub);
    }
    // The answers are not trivially equal: matches, misses and a refusal.
    let (status, body) = &expected[1];
    assert_eq!(*status, 200);
    assert!(body["total"].as_u64() > Some(0), "显微镜 finds something");
    assert_eq!(expected[11].1["total"], 0);
    assert_eq!(expected[12].0, 400);
    assert_eq!(expected[12].1["error"]["code"], "bad_parameter");
    assert_eq!(expected[12].1["error"]["parameter"], "limit");

    let csv = "/v1/stats?group_by=region&format=csv";
    let hub_csv = bytes(&http, &format!("{hub}{csv}")).await;
    for region in serving.keys() {
        assert_eq!(
            bytes(&http, &format!("{}{csv}", url(region))).await,
            hub_csv
        );
    }

    // Records: a mirrored record is served with the hub's bytes; the node's own record with its
    // signed envelope and no feed position.
    for (record_region, local_id) in sample_ids(&http, &hub).await {
        let path = format!("/v1/records/{record_region}/{local_id}");
        let (status, at_hub) = bytes(&http, &format!("{hub}{path}")).await;
        assert_eq!(status, 200);
        let hub_entry: Value = serde_json::from_slice(&at_hub).unwrap();
        for region in serving.keys() {
            let (status, at_node) = bytes(&http, &format!("{}{path}", url(region))).await;
            assert_eq!(status, 200, "{region} serves {path}");
            if record_region == *region {
                let own: Value = serde_json::from_slice(&at_node).unwrap();
                assert_eq!(
                    own["envelope"], hub_entry["envelope"],
                    "{region}: own {path}"
                );
                assert!(own["seq"].is_null() && own["received_at"].is_null());
            } else {
                assert_eq!(at_node, at_hub, "{region} serves {path} with other bytes");
            }
        }
    }
    let missing = answer(&http, &url("CN-GS"), "/v1/records/CN-BJ/no-such-id").await;
    assert_eq!(missing.0, 404);
    assert_eq!(missing.1["error"]["code"], "not_found");

    // Pages say who serves them.
    let page =
        String::from_utf8(bytes(&http, &format!("{}/?q=显微镜", url("CN-GS"))).await.1).unwrap();
    assert!(page.contains("Served by CN-GS"), "{page}");
    assert!(page.contains("镜像截至 seq"));
    let hub_page = String::from_utf8(bytes(&http, &format!("{hub}/stats")).await.1).unwrap();
    assert!(hub_page.contains("National hub"));

    // The hub dies; every node keeps answering from its own store, and says the hub is gone.
    setup.hub.kill();
    for region in serving.keys() {
        let deadline = tokio::time::Instant::now() + DEADLINE;
        loop {
            let (status, health) = answer(&http, &url(region), "/healthz").await;
            assert_eq!(status, 200);
            assert_eq!(health["role"], "node");
            assert_eq!(health["region"], *region);
            if health["hub"] == "unreachable" {
                assert!(health["hub_checked_at"].is_string());
                assert_eq!(health["mirror_seq"], health["indexed_seq"]);
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{region} still reports the killed hub reachable: {health}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        for (query, at_hub) in queries.iter().zip(&expected) {
            let at_node = answer(&http, &url(region), query).await;
            assert_eq!(
                &at_node, at_hub,
                "{region} answers {query} differently without the hub"
            );
        }
    }
}

/// `run` with `listen` in config.toml serves too, and its index follows sync.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_with_listen_serves_and_indexes_what_sync_applies() {
    init_tls();
    let setup = federation().await;
    let http = reqwest::Client::new();
    let hub = setup.hub.url.clone();
    hub_searchable(&http, &hub, published()).await;
    let gansu = &setup.nodes["CN-GS"];
    let config = gansu.data.join("config.toml");
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(&config, format!("{text}listen = \"127.0.0.1:0\"\n")).unwrap();
    let running = gansu.start_listening(&["run"]);
    let url = running.url.clone().unwrap();

    // Beijing publishes more; Gansu's running node syncs it and its search finds it.
    let beijing = &setup.nodes["CN-BJ"];
    let more = beijing.data.join("more.ndjson");
    let more_arg = more.to_str().unwrap();
    beijing.ok(&[
        "generate", "--region", "CN-BJ", "--count", "350", "--seed", "7", "--out", more_arg,
    ]);
    beijing.ok(&["import", more_arg]);
    beijing.ok(&["publish"]);
    let beijing_live = beijing.status()["catalog"].as_u64().unwrap();
    let expected = published() - 300 + beijing_live;
    let deadline = tokio::time::Instant::now() + DEADLINE;
    loop {
        let (_, body) = answer(&http, &url, "/v1/search?limit=0").await;
        if body["total"].as_u64() == Some(expected) {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "Gansu indexed {body}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    hub_searchable(&http, &hub, expected).await;
    for query in [
        "/v1/search?region=CN-BJ&sort=value_desc",
        "/v1/stats?group_by=region",
    ] {
        assert_eq!(
            answer(&http, &url, query).await,
            answer(&http, &hub, query).await
        );
    }
    // status --json reads the snapshot `run` writes: it names the address and the index.
    let deadline = tokio::time::Instant::now() + DEADLINE;
    loop {
        let status = gansu.status();
        if let Some(serve) = status["serve"].as_object() {
            assert_eq!(format!("http://{}", serve["listen"].as_str().unwrap()), url);
            assert!(serve["indexed_seq"].as_u64() > Some(0));
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no serve in {status}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
