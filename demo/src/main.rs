//! `yiqi-demo`: the whole federation on one machine, at the size of the source reports.
//!
//! It starts a hub, creates three regional nodes (CN-BJ, CN-GS, CN-SC) in their own folders,
//! admits their keys with key records signed by a root key it makes once in the demo folder
//! (`root.pem`; a real federation keeps its root off the hub machine, see docs/operations.md),
//! generates each region's catalogue, and runs each
//! node's import, publish and sync — the same code paths as `yiqi-node import/publish/sync`,
//! in-process, but always through the hub's HTTP API. Each region also gets a utilisation
//! history (`yiqi_gen::history`): its idleness, the usage of the two years before the last for
//! its first [`HISTORY_SAMPLE`] instruments, and a year of service records, imported as
//! `yiqi-node import --kind service` does. It then prints the national table and a utilisation
//! line per region and keeps serving until Ctrl-C. A second start on the same folder reuses
//! everything: unchanged catalogues publish nothing new.

use clap::Parser;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::Value;
use std::io::IsTerminal;
use std::path::Path;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::task::JoinSet;
use yiqi_gen::{
    GenerateOptions, HistoryOptions, USAGE_YEAR, generate, services, shape_usage, usage_in_year,
    write_catalogue,
};
use yiqi_hub::config::{ServeArgs, Settings};
use yiqi_hub::server::Hub;
use yiqi_node::Node;
use yiqi_node::catalog::ImportRequest;
use yiqi_node::config::Config;
use yiqi_node::import::RecordKind;
use yiqi_node::publish::PublishOptions;
use yiqi_node::sync::SyncOptions;
use yiqi_node::tools;
use yiqi_schema::keys::{self, SecretKey, public_key_text};
use yiqi_schema::protocol::keys::{KeyStatus, RegionList, key_record};
use yiqi_schema::sign;

// glibc's allocator spends a quarter of ingest's CPU in malloc/free under many threads.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The federation demo: a hub and three regional nodes (CN-BJ, CN-GS, CN-SC) at the size of
/// their platforms' reports, loaded through the hub's HTTP API; then serve until Ctrl-C.
#[derive(Parser)]
#[command(name = "yiqi-demo", version)]
struct Args {
    /// Folder for the hub, the nodes and the generated catalogues (reused on the next start).
    #[arg(long, default_value = "./yiqi-demo-data")]
    data: PathBuf,
    /// Address the hub listens on.
    #[arg(long, default_value = "127.0.0.1:7800")]
    listen: String,
}

fn main() -> ExitCode {
    let args = Args::parse();
    // The demo talks to a newcomer: its own lines, warnings only from the machinery.
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr)
        .init();
    let runtime = tokio::runtime::Runtime::new().expect("a tokio runtime starts");
    match runtime.block_on(start(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("yiqi-demo: {message}");
            ExitCode::from(2)
        }
    }
}

async fn start(args: Args) -> Result<(), String> {
    let root = root_key(&args.data)?;
    let settings = Settings::resolve(ServeArgs {
        listen: Some(args.listen),
        root_key: Some(public_key_text(&root.verifying_key())),
        ..ServeArgs::default()
    })?;
    run(&args.data, settings, &root).await
}

/// The demo federation's root key, `DATA/root.pem`, made on the first start.
fn root_key(data: &Path) -> Result<SecretKey, String> {
    let path = data.join("root.pem");
    if !path.exists() {
        std::fs::create_dir_all(data).map_err(|e| format!("{}: {e}", data.display()))?;
        keys::write_secret_key(&path, &keys::generate()).map_err(|e| e.to_string())?;
    }
    keys::read_secret_key(&path).map_err(|e| e.to_string())
}

/// One demo region, sized after its platform's published figures.
struct RegionPlan {
    region: &'static str,
    count: usize,
    institutions: Option<usize>,
    carriers: Option<usize>,
    total_value_cny: u64,
    seed: u64,
    /// Instruments made idle on top of the catalogue's own idle ones.
    extra_idle_share: f64,
    /// The working instruments' hours against the generator's.
    run_factor: f64,
    /// Service records of the last full year.
    services: usize,
}

/// How many instruments of each region report the two years before the last as well (all of
/// them would triple the demo's start for Beijing).
const HISTORY_SAMPLE: usize = 500;

/// Beijing's Capital S&T Platform (42,800 instruments in 908 labs and centres, 26.3 billion
/// yuan), Gansu's platform (2,475 instruments of 228 units, 1.683 billion yuan), Sichuan's
/// military–civilian platform (4,300 instruments, 4 billion yuan).
static PLANS: [RegionPlan; 3] = [
    RegionPlan {
        region: "CN-BJ",
        count: 42_800,
        institutions: None,
        carriers: Some(908),
        total_value_cny: 26_300_000_000,
        seed: 1,
        extra_idle_share: 0.0,
        run_factor: 1.0,
        services: 3_000,
    },
    RegionPlan {
        region: "CN-GS",
        count: 2_475,
        institutions: Some(228),
        carriers: None,
        total_value_cny: 1_683_000_000,
        seed: 2,
        extra_idle_share: 0.08,
        run_factor: 0.85,
        services: 400,
    },
    RegionPlan {
        region: "CN-SC",
        count: 4_300,
        institutions: None,
        carriers: None,
        total_value_cny: 4_000_000_000,
        seed: 3,
        // Sichuan's platform exists because its instruments are used little and often idle.
        extra_idle_share: 0.25,
        run_factor: 0.6,
        services: 600,
    },
];

/// Runs the demo: `data` holds the hub and the nodes; the hub listens on `settings.listen`.
async fn run(data: &Path, mut settings: Settings, root: &SecretKey) -> Result<(), String> {
    let started = Instant::now();
    settings.data = data.join("hub");
    let hub = Hub::open(&settings)?;
    // The national office hands every node the log's verifier key with the root key; the demo is
    // the national office here, so its nodes pin it instead of trusting it on first use.
    let log_key = hub.state.log.verifier_key();
    let listener = tokio::net::TcpListener::bind(settings.listen)
        .await
        .map_err(|e| format!("listen on {}: {e}", settings.listen))?;
    let url = format!(
        "http://{}",
        listener.local_addr().map_err(|e| e.to_string())?
    );
    let server = tokio::spawn(hub.serve(listener, yiqi_hub::server::shutdown_signal()));
    println!("yiqi-hub listening on {url} (data in {})", data.display());

    let progress = Arc::new(Progress::new());
    let mut nodes = Vec::new();
    for plan in &PLANS {
        let node = open_node(
            &data.join("nodes").join(plan.region),
            plan.region,
            &url,
            &settings.root_key,
            &log_key,
        )?;
        admit(&url, root, &node).await?;
        nodes.push((plan, node));
    }
    let mut loads = JoinSet::new();
    for &(plan, ref node) in &nodes {
        let (node, data, progress) = (node.clone(), data.to_path_buf(), progress.clone());
        loads.spawn(async move { load_region(plan, &node, &data, &progress).await });
    }
    finish_all(loads).await?;
    let mut syncs = JoinSet::new();
    for &(plan, ref node) in &nodes {
        let (node, progress) = (node.clone(), progress.clone());
        syncs.spawn(async move { sync_region(plan, &node, &progress).await });
    }
    finish_all(syncs).await?;
    wait_until_indexed(&url).await?;
    progress.clear();
    print_national_table(&url).await?;
    print_utilisation(&url).await?;
    print_log_summary(&url).await?;
    println!(
        "loaded in {:.1} s. Search: {url}/   Dashboard: {url}/stats   (Ctrl-C to stop)",
        started.elapsed().as_secs_f64()
    );
    server
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| e.to_string())
}

/// Waits for every task; the first error wins.
async fn finish_all(mut tasks: JoinSet<Result<(), String>>) -> Result<(), String> {
    while let Some(done) = tasks.join_next().await {
        done.map_err(|e| e.to_string())??;
    }
    Ok(())
}

/// Opens the node of `region` in `dir`, creating it on first start with the root and log keys
/// pinned. A restarted demo may listen elsewhere: the node talks to this run's hub without its
/// configuration being rewritten.
fn open_node(
    dir: &Path,
    region: &str,
    url: &str,
    root_key: &str,
    log_key: &str,
) -> Result<Node, String> {
    if !dir.join("config.toml").exists() {
        let mut config = Config::new(region, url, None, root_key).map_err(|e| e.to_string())?;
        config.log_key = Some(log_key.to_owned());
        Node::create(dir, config).map_err(|e| e.to_string())?;
    }
    Node::open(dir)
        .and_then(|node| node.with_hub(url))
        .map_err(|e| e.to_string())
}

/// Admits the node's key with a key record signed by the root, unless the hub already lists it
/// (a restarted demo: the same key's version 1 again, made now, would conflict with the stored one).
async fn admit(url: &str, root: &SecretKey, node: &Node) -> Result<(), String> {
    let regions: RegionList = get_json(&format!("{url}/v1/regions")).await?;
    let listed = regions.regions.iter().any(|r| {
        r.region == node.region() && r.keys.iter().any(|k| k.public_key == node.public_key())
    });
    if listed {
        return Ok(());
    }
    let name = Some(node.config().name.as_str());
    let now = yiqi_node::node::now_rfc3339();
    let record = key_record(
        node.region(),
        &node.public_key(),
        KeyStatus::Active,
        name,
        &now,
    );
    let envelope = serde_json::to_value(sign(record, root)).map_err(|e| e.to_string())?;
    let result = tools::post_envelope(url, &envelope)
        .await
        .map_err(|e| e.to_string())?;
    match result["status"].as_str() {
        Some("accepted" | "duplicate") => Ok(()),
        _ => Err(format!(
            "admitting {}'s key failed: {result}",
            node.region()
        )),
    }
}

async fn get_json<T: serde::de::DeserializeOwned>(url: &str) -> Result<T, String> {
    http()
        .get(url)
        .send()
        .await
        .map_err(|e| e.to_string())?
        .json()
        .await
        .map_err(|e| format!("{url}: {e}"))
}

/// The signed log's size, how many regions' witnesses cosigned it, and how many regions hold an
/// active key.
async fn print_log_summary(url: &str) -> Result<(), String> {
    let note = http()
        .get(format!("{url}/v1/log/checkpoint"))
        .send()
        .await
        .and_then(reqwest::Response::error_for_status)
        .map_err(|e| format!("{url}: {e}"))?
        .text()
        .await
        .map_err(|e| format!("{url}: {e}"))?;
    let size: u64 = note
        .lines()
        .nth(1)
        .and_then(|line| line.parse().ok())
        .unwrap_or_default();
    let witnesses = note
        .lines()
        .filter(|line| line.starts_with("— yiqi-witness/"))
        .count();
    let regions: RegionList = get_json(&format!("{url}/v1/regions")).await?;
    let active = regions
        .regions
        .iter()
        .filter(|r| r.keys.iter().any(|k| k.status == KeyStatus::Active))
        .count();
    println!(
        "log: checkpoint of {} entries cosigned by {witnesses} regions' witnesses; {active} regions \
         with an active key",
        grouped(size)
    );
    Ok(())
}

fn http() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::new()
}

/// Generates (once), imports and publishes one region's catalogue and its utilisation history.
async fn load_region(
    plan: &'static RegionPlan,
    node: &Node,
    data: &Path,
    progress: &Progress,
) -> Result<(), String> {
    let bar = progress.bar(plan.region);
    let files = RegionFiles::new(data, plan.region);
    // The earlier years go in before the catalogue, once: the catalogue's version is the latest.
    let fresh = !files.catalogue.exists();
    if fresh {
        bar.set_message("generating the catalogue and its history");
        let plan_files = files.clone();
        tokio::task::spawn_blocking(move || write_generated(plan, &plan_files))
            .await
            .map_err(|e| e.to_string())??;
    }
    let mut imports = Vec::new();
    if fresh {
        imports.extend(
            files
                .earlier
                .iter()
                .map(|p| (p.clone(), RecordKind::Instrument)),
        );
    }
    imports.push((files.catalogue.clone(), RecordKind::Instrument));
    imports.push((files.services.clone(), RecordKind::Service));
    for (path, kind) in imports {
        bar.set_message(format!("importing and signing {}", file_name(&path)));
        let mut request = ImportRequest::new(&path);
        request.options.kind = kind;
        let (importer, import_bar) = (node.clone(), bar.clone());
        let summary = tokio::task::spawn_blocking(move || importer.import(&request, &import_bar))
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| e.to_string())?;
        progress.line(plan.region, &summary.to_string());
    }
    bar.set_message("publishing to the hub");
    let report = node
        .publish(&PublishOptions::default())
        .await
        .map_err(|e| e.to_string())?;
    progress.line(
        plan.region,
        &format!(
            "published: {} accepted, {} duplicate",
            report.accepted, report.duplicate
        ),
    );
    bar.finish_and_clear();
    Ok(())
}

/// The generated files of one region in `DATA/catalogues/`.
#[derive(Clone)]
struct RegionFiles {
    catalogue: PathBuf,
    /// The sample's records of the two years before [`USAGE_YEAR`], oldest first.
    earlier: Vec<PathBuf>,
    services: PathBuf,
}

impl RegionFiles {
    fn new(data: &Path, region: &str) -> RegionFiles {
        let dir = data.join("catalogues");
        RegionFiles {
            catalogue: dir.join(format!("{region}.ndjson")),
            earlier: (1..=2)
                .rev()
                .map(|back| dir.join(format!("{region}-usage-{}.ndjson", USAGE_YEAR - back)))
                .collect(),
            services: dir.join(format!("{region}-services-{USAGE_YEAR}.ndjson")),
        }
    }
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map_or_else(String::new, |n| n.to_string_lossy().into_owned())
}

/// Writes the region's files; the catalogue last, so that it marks a complete generation.
fn write_generated(plan: &RegionPlan, files: &RegionFiles) -> Result<(), String> {
    let options = GenerateOptions {
        region: plan.region.to_owned(),
        count: plan.count,
        seed: plan.seed,
        institutions: plan.institutions,
        carriers: plan.carriers,
        total_value_cny: Some(plan.total_value_cny),
    };
    let mut records = generate(&options).map_err(|e| e.to_string())?;
    let history = HistoryOptions {
        region: plan.region.to_owned(),
        seed: plan.seed,
        extra_idle_share: plan.extra_idle_share,
        run_factor: plan.run_factor,
        services: plan.services,
    };
    shape_usage(&mut records, &history);
    if let Some(dir) = files.catalogue.parent() {
        std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
    }
    let sample = &records[..records.len().min(HISTORY_SAMPLE)];
    for (path, back) in files.earlier.iter().zip([2, 1]) {
        let earlier = usage_in_year(sample, USAGE_YEAR - back, plan.seed);
        write_catalogue(&earlier, path).map_err(|e| e.to_string())?;
    }
    write_catalogue(&services(&records, &history), &files.services).map_err(|e| e.to_string())?;
    write_catalogue(&records, &files.catalogue).map_err(|e| e.to_string())
}

/// Pulls the other regions into the node's verified mirror.
async fn sync_region(plan: &RegionPlan, node: &Node, progress: &Progress) -> Result<(), String> {
    let bar = progress.bar(plan.region);
    bar.set_message("syncing the other regions");
    let report = node
        .sync(&SyncOptions::default())
        .await
        .map_err(|e| e.to_string())?;
    progress.line(
        plan.region,
        &format!(
            "synced: {} verified into the mirror, {} quarantined",
            report.applied, report.quarantined
        ),
    );
    bar.finish_and_clear();
    Ok(())
}

/// Spinners on a terminal, plain lines otherwise.
struct Progress {
    bars: MultiProgress,
}

impl Progress {
    fn new() -> Progress {
        let target = if std::io::stderr().is_terminal() {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        };
        Progress {
            bars: MultiProgress::with_draw_target(target),
        }
    }

    fn bar(&self, region: &str) -> ProgressBar {
        let bar = self.bars.add(ProgressBar::new(0));
        bar.set_style(
            ProgressStyle::with_template("{prefix} {spinner} {msg} {pos}/{len}")
                .expect("a valid template"),
        );
        bar.set_prefix(region.to_owned());
        bar.enable_steady_tick(Duration::from_millis(120));
        bar
    }

    fn line(&self, region: &str, text: &str) {
        let line = format!("{region}: {text}");
        if self.bars.is_hidden() {
            println!("{line}");
        } else {
            let _ = self.bars.println(line);
        }
    }

    fn clear(&self) {
        let _ = self.bars.clear();
    }
}

/// Waits until the hub's index and statistics reflect every accepted record.
async fn wait_until_indexed(url: &str) -> Result<(), String> {
    loop {
        let health: Value = http()
            .get(format!("{url}/healthz"))
            .send()
            .await
            .map_err(|e| e.to_string())?
            .json()
            .await
            .map_err(|e| e.to_string())?;
        if health["indexed_seq"].as_u64() >= health["last_seq"].as_u64() {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The national table from the hub's statistics API.
async fn print_national_table(url: &str) -> Result<(), String> {
    let stats: Value = http()
        .get(format!("{url}/v1/stats?group_by=region"))
        .send()
        .await
        .map_err(|e| e.to_string())?
        .json()
        .await
        .map_err(|e| e.to_string())?;
    println!();
    println!(
        "{:<7} {} {:>12} {:>8} {:>10} {:>18} {:>12}",
        "region",
        pad_cjk("地区", 8),
        "instruments",
        "units",
        "carriers",
        "original value",
        "亿元"
    );
    let rows = stats["rows"].as_array().cloned().unwrap_or_default();
    for row in rows.iter().chain(std::iter::once(&stats["total"])) {
        let number = |name: &str| row[name].as_u64().unwrap_or_default();
        let value = number("original_value_cny");
        println!(
            "{:<7} {} {:>12} {:>8} {:>10} {:>18} {:>12.2}",
            row["key"].as_str().unwrap_or("total"),
            pad_cjk(row["label"].as_str().unwrap_or("全国"), 8),
            grouped(number("instruments")),
            grouped(number("institutions")),
            grouped(number("carriers")),
            grouped(value),
            value as f64 / 1e8
        );
    }
    println!();
    Ok(())
}

/// One line per region from the hub's `/v1/utilisation` for the last full year.
async fn print_utilisation(url: &str) -> Result<(), String> {
    let body: Value = get_json(&format!(
        "{url}/v1/utilisation?year={USAGE_YEAR}&group_by=region"
    ))
    .await?;
    println!(
        "utilisation in {USAGE_YEAR} (idle: under {} h):",
        body["idle_threshold_hours"]
    );
    let rows = body["rows"].as_array().cloned().unwrap_or_default();
    for row in rows.iter().chain(std::iter::once(&body["total"])) {
        let number = |name: &str| row[name].as_u64().unwrap_or_default();
        let reporting = number("reporting");
        let per_instrument = number("run_hours").checked_div(reporting).unwrap_or(0);
        println!(
            "  {:<6} {:>6} h/instrument, {:>5.1}% idle ({} yuan idle), {} services, {} from \
             other regions, {} yuan in vouchers",
            row["key"].as_str().unwrap_or("total"),
            grouped(per_instrument),
            percent(number("idle"), reporting),
            grouped(number("idle_value_cny")),
            grouped(number("services")),
            grouped(number("cross_region_services")),
            grouped(number("voucher_amount_cny"))
        );
    }
    println!();
    Ok(())
}

fn percent(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 * 100.0 / whole as f64
    }
}

/// `1234567` → `1,234,567`.
fn grouped(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Pads Chinese text to `width` terminal columns (a Han character takes two).
fn pad_cjk(text: &str, width: usize) -> String {
    let used: usize = text.chars().map(|c| if c.is_ascii() { 1 } else { 2 }).sum();
    format!("{text}{}", " ".repeat(width.saturating_sub(used)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_table_cells() {
        assert_eq!(grouped(26_300_000_000), "26,300,000,000");
        assert_eq!(grouped(908), "908");
        assert_eq!(pad_cjk("北京市", 8), "北京市  ");
    }
}
