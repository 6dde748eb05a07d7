//! The hub's pages in headless Chromium (Debian's `chromium` and `chromium-driver`), as a
//! researcher and the national office use them: search, export the matches, open a result, see
//! the dashboard. Every page is laid out at a phone's width (360 px) and a desktop's, and fails
//! the test if it is wider than the window. Screenshots are kept in `target/test-artifacts/`.

use fantoccini::{ClientBuilder, Locator};
use serde_json::json;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use yiqi_schema::keys::{generate, public_key_text};
use yiqi_tests::client::HubClient;
use yiqi_tests::process::HubProcess;
use yiqi_tests::records::record;

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

struct Driver(Child);

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn artifacts() -> PathBuf {
    let dir = yiqi_tests::process::bin_dir().join("../test-artifacts");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The widths every page is checked at: a small phone and a desktop.
const WIDTHS: [(u32, &str); 2] = [(360, "phone"), (1280, "desktop")];

/// Lays the current page out at each of [`WIDTHS`], fails when the page is wider than the
/// window (a horizontal scroll bar), and keeps a screenshot `{name}-{width}.png` of each.
async fn check_layouts(browser: &fantoccini::Client, name: &str) {
    for (width, label) in WIDTHS {
        browser.set_window_size(width, 900).await.unwrap();
        let sizes = browser
            .execute(
                "return [document.documentElement.scrollWidth, window.innerWidth];",
                vec![],
            )
            .await
            .unwrap();
        let (page, window) = (sizes[0].as_u64().unwrap(), sizes[1].as_u64().unwrap());
        assert!(
            page <= window,
            "{name} at {label} width: the page is {page} px wide in a {window} px window"
        );
        std::fs::write(
            artifacts().join(format!("{name}-{label}.png")),
            browser.screenshot().await.unwrap(),
        )
        .unwrap();
    }
}

/// Whether the browser is installed; in CI its absence is a failure, elsewhere a notice.
fn browser_available() -> bool {
    let present = Path::new(CHROMIUM).exists() && Path::new(CHROMEDRIVER).exists();
    if !present {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must install chromium and chromium-driver (see .ci/run)"
        );
        eprintln!("skipping the browser test: install chromium and chromium-driver to run it");
    }
    present
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn search_open_a_result_and_see_the_dashboard() {
    if !browser_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let hub = HubProcess::start(dir.path());
    let client = HubClient::new(&hub.url);
    let key = generate();
    client
        .register("CN-GS", &public_key_text(&key.verifying_key()))
        .await
        .unwrap();
    let mut tem = record("CN-GS", "LZU-TEM-01", 1, 1);
    tem["name"] = json!("场发射透射电子显微镜");
    let mut nmr = record("CN-GS", "LZU-NMR-01", 1, 2);
    nmr["name"] = json!("核磁共振波谱仪");
    nmr["name_en"] = json!("NMR spectrometer");
    nmr["keywords"] = json!(["NMR", "核磁"]);
    nmr["specs"] = json!("磁场强度 14.1 T");
    let envelopes: Vec<Vec<u8>> = [tem, nmr]
        .into_iter()
        .map(|r| serde_json::to_vec(&yiqi_schema::sign(r, &key)).unwrap())
        .collect();
    let (status, _) = client.publish(&envelopes).await.unwrap();
    assert_eq!(status, 200);
    assert!(client.wait_for_indexed(Duration::from_secs(10)).await);

    let port = free_port();
    let _driver = Driver(
        Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let mut capabilities = serde_json::Map::new();
    let profile = tempfile::tempdir().unwrap();
    capabilities.insert(
        "goog:chromeOptions".into(),
        json!({
            "binary": CHROMIUM,
            "args": ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--disable-quic", "--no-first-run", "--disable-background-networking",
                     "--disable-component-update", "--disable-sync", "--window-size=1280,1000",
                     format!("--user-data-dir={}", profile.path().display())]
        }),
    );
    let webdriver = format!("http://127.0.0.1:{port}");
    let mut browser = None;
    for _ in 0..100 {
        let mut builder = ClientBuilder::rustls().unwrap();
        builder.capabilities(capabilities.clone());
        if let Ok(session) = builder.connect(&webdriver).await {
            browser = Some(session);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let browser = browser.expect("chromedriver starts a session");
    let wait = Duration::from_secs(15);

    // Search from the one box of the home page: an abbreviation finds the full name.
    browser.goto(&format!("{}/", hub.url)).await.unwrap();
    let q = browser
        .wait()
        .at_most(wait)
        .for_element(Locator::Css("form input[name=q]"))
        .await
        .unwrap();
    q.send_keys("透射电镜").await.unwrap();
    let form = browser
        .form(Locator::Css("form[role=search]"))
        .await
        .unwrap();
    form.submit().await.unwrap();
    // The home page lists instruments too: wait for the results page before reading it.
    let deadline = tokio::time::Instant::now() + wait;
    while browser
        .current_url()
        .await
        .unwrap()
        .query()
        .is_none_or(|q| !q.contains("q="))
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the form did not lead to the results"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let first = browser
        .wait()
        .at_most(wait)
        .for_element(Locator::Css("ol.hits li a.title"))
        .await
        .unwrap();
    assert_eq!(first.text().await.unwrap(), "场发射透射电子显微镜");
    let highlighted = browser.find(Locator::Css("ol.hits em")).await.unwrap();
    assert!(!highlighted.text().await.unwrap().is_empty());
    // The facets fold behind a button above the results on a phone.
    let facets = browser.find(Locator::Css("details.facets")).await.unwrap();
    assert!(facets.attr("open").await.unwrap().is_none());
    check_layouts(&browser, "search").await;

    // The results page links the export of every match: a spreadsheet that opens in Chinese Excel.
    let export = browser
        .find(Locator::Css("a.export"))
        .await
        .unwrap()
        .attr("href")
        .await
        .unwrap()
        .expect("the export link has a target");
    assert!(export.starts_with("/v1/search/export?") && export.contains("format=csv"));
    let csv = reqwest::get(format!("{}{export}", hub.url))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(csv.starts_with("\u{feff}地区 Region,"), "{csv}");
    let listed = browser.find_all(Locator::Css("ol.hits li")).await.unwrap();
    assert_eq!(csv.lines().count(), 1 + listed.len(), "every match: {csv}");
    assert!(csv.contains(",LZU-TEM-01,场发射透射电子显微镜,"), "{csv}");

    // Open the result: every field and its provenance.
    first.click().await.unwrap();
    browser
        .wait()
        .at_most(wait)
        .for_element(Locator::Css("h1"))
        .await
        .unwrap();
    let page = browser.source().await.unwrap();
    assert!(
        browser
            .current_url()
            .await
            .unwrap()
            .path()
            .ends_with("/instruments/CN-GS/LZU-TEM-01")
    );
    assert!(
        page.contains(&public_key_text(&key.verifying_key())),
        "the signing key is shown"
    );
    assert!(page.contains("兰州大学") && page.contains("tem@lzu.edu.cn"));
    let back = browser.find(Locator::Css("a.back")).await.unwrap();
    assert!(
        back.attr("href").await.unwrap().unwrap().contains("q="),
        "the back link returns to the search"
    );
    check_layouts(&browser, "instrument").await;

    // The national dashboard draws its charts as SVG and offers the CSV.
    browser.goto(&format!("{}/stats", hub.url)).await.unwrap();
    browser
        .wait()
        .at_most(wait)
        .for_element(Locator::Css("svg"))
        .await
        .unwrap();
    let csv = browser
        .find(Locator::Css("a[href*='format=csv']"))
        .await
        .unwrap();
    assert!(csv.attr("href").await.unwrap().is_some());
    check_layouts(&browser, "stats").await;

    // One region's dashboard.
    browser
        .goto(&format!("{}/stats?region=CN-GS", hub.url))
        .await
        .unwrap();
    let heading = browser.find(Locator::Css("h1")).await.unwrap();
    assert!(heading.text().await.unwrap().starts_with("甘肃省"));

    // The utilisation page: tables with their CSV, laid out at both widths.
    browser
        .goto(&format!("{}/utilisation", hub.url))
        .await
        .unwrap();
    browser
        .wait()
        .at_most(wait)
        .for_element(Locator::Css("h1"))
        .await
        .unwrap();
    check_layouts(&browser, "utilisation").await;
    browser.close().await.unwrap();
}
