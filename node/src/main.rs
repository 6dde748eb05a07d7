//! The `yiqi-node` command line.

// As on the hub: a node catching up parses, checks and frees thousands of records a second on
// every core, and glibc's allocator spends a large share of that in malloc/free. `yiqi-bench
// sync` measures the node's catch-up with this allocator too.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use clap::builder::RangedU64ValueParser;
use clap::{Parser, Subcommand};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;
use yiqi_gen::{GenerateOptions, generate, write_catalogue};
use yiqi_node::catalog::ImportRequest;
use yiqi_node::config::{Config, first_key_command};
use yiqi_node::daemon::{LONG_POLL_SECS, RunOptions};
use yiqi_node::export::ExportFormat;
use yiqi_node::import::{Encoding, ImportOptions, RecordKind};
use yiqi_node::publish::PublishOptions;
use yiqi_node::status::Snapshot;
use yiqi_node::sync::{DEFAULT_PAGE_SIZE, SyncOptions};
use yiqi_node::{Node, NodeError, control, tools};
use yiqi_search::http::shutdown_signal;

#[derive(Parser)]
#[command(
    name = "yiqi-node",
    version,
    about = "A regional platform's yiqi node",
    after_help = "Exit statuses: 0 ok, 1 invalid input, 2 usage or node folder problem, \
                  3 hub unreachable or refusing, 4 the hub broke its log's promise (alarm, \
                  evidence kept), 5 checkpoint without its witness quorum (audit). \
                  See docs/node.md."
)]
struct Cli {
    /// The node's data folder.
    #[arg(
        long,
        global = true,
        default_value = "./yiqi-node-data",
        env = "YIQI_NODE_DATA"
    )]
    data: PathBuf,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Create the node folder, its config and its Ed25519 key; print the command that admits the
    /// key (a key record signed with the root key).
    Init {
        /// The region this node publishes for (ISO 3166-2:CN, e.g. CN-GS).
        #[arg(long)]
        region: String,
        /// The hub's base URL, e.g. https://hub.example.
        #[arg(long)]
        hub: String,
        /// The platform's name as registered on the hub (default: the region's Chinese name).
        #[arg(long)]
        name: Option<String>,
        /// The federation's root public key (base64url), from the national office; pinned in
        /// config.toml as `root_key`.
        #[arg(long = "root", allow_hyphen_values = true)]
        root_key: String,
        /// The hub's log verifier key (origin+keyid+base64), from the national office; without
        /// it the first sync trusts the hub's key on first use, with a warning.
        #[arg(long)]
        log_key: Option<String>,
        /// The embedded store, redb or sled (default: see docs/operations.md); kept in
        /// config.toml.
        #[arg(long)]
        storage_backend: Option<String>,
    },
    /// Print the node's public key (base64url).
    Pubkey,
    /// Import a catalogue file (native JSON/NDJSON, the NRII template, or CSV with --mapping),
    /// or with --kind service the national service-record export (or native service records).
    ///
    /// Every row is validated; a bad row is reported on stderr and in DATA/reports/ and the
    /// good rows go in. Exit 0 when the file was read, even with rejected rows; exit 1 when the
    /// file cannot be read, when no row is good, or when a snapshot would delete more than 20%
    /// of the catalogue. While `yiqi-node run` holds the folder, the import runs through it.
    Import {
        /// The catalogue file.
        file: PathBuf,
        /// What the file holds: instrument or service (service records, linked by
        /// 所在单位仪器编号 to the instruments already imported).
        #[arg(long, default_value = "instrument")]
        kind: RecordKind,
        /// The file is the whole catalogue: records missing from it are deleted (tombstoned).
        #[arg(long)]
        snapshot: bool,
        /// A TOML mapping describing a CSV or workbook in another layout.
        #[arg(long)]
        mapping: Option<PathBuf>,
        /// auto, utf-8, gb18030 or windows-1252.
        #[arg(long, default_value = "auto")]
        encoding: Encoding,
        /// Fills institution.name in rows that have none.
        #[arg(long)]
        institution: Option<String>,
        /// Fills sharing.mode in rows that have none: external, internal or none.
        #[arg(long)]
        sharing_mode: Option<String>,
        /// Show what would change; write nothing.
        #[arg(long)]
        dry_run: bool,
        /// Let a snapshot delete more than 20% of the catalogue.
        #[arg(long)]
        allow_mass_delete: bool,
    },
    /// Send the outbox to the hub; exit 3 if it stays unreachable (the outbox keeps everything).
    Publish {
        /// Records per request (1 to 1000; default from config.toml, else 500).
        #[arg(long, value_parser = RangedU64ValueParser::<usize>::new().range(1..=1000))]
        batch_size: Option<usize>,
        /// Give up when the hub stays unreachable this long (e.g. 60s, 500ms, 2m).
        #[arg(long, default_value = "60s", value_parser = parse_duration)]
        max_wait: Duration,
    },
    /// Pull the hub's feed into the verified mirror until caught up.
    Sync {
        /// Give up when the hub stays unreachable this long.
        #[arg(long, default_value = "60s", value_parser = parse_duration)]
        max_wait: Duration,
        /// Entries per feed request (1 to 5000).
        #[arg(long, default_value_t = DEFAULT_PAGE_SIZE,
              value_parser = RangedU64ValueParser::<usize>::new().range(1..=5000))]
        page_size: usize,
    },
    /// Publish and sync continuously (long-polling the feed) until SIGTERM or Ctrl-C.
    Run {
        /// How long one publish or sync attempt retries before it pauses and starts over.
        #[arg(long, default_value = "60s", value_parser = parse_duration)]
        max_wait: Duration,
    },
    /// Prove the node's view against the hub's current checkpoint: consistency with every
    /// checkpoint accepted before, every acknowledged own version at its leaf, every key chained
    /// to the root, the witness quorum.
    ///
    /// Exit 0 when all is proven, 4 when something is proven wrong (evidence kept in
    /// DATA/evidence/), 5 when nothing is wrong but the checkpoint lacks its witness quorum, 3
    /// when the hub cannot be reached.
    Audit {
        /// Give up when the hub stays unreachable this long.
        #[arg(long, default_value = "60s", value_parser = parse_duration)]
        max_wait: Duration,
        /// Clear the standing alarm after investigating it (the evidence stays), then exit.
        #[arg(long)]
        clear_alarm: bool,
    },
    /// Serve national search, statistics, records and pages from the verified mirror and the own
    /// catalogue (no syncing) until SIGTERM or Ctrl-C.
    Serve {
        /// HOST:PORT, e.g. 127.0.0.1:8080 (port 0: any free port, printed on stdout).
        #[arg(long)]
        listen: String,
    },
    /// Counts, cursor and hub reachability; rejected records and key changes.
    Status {
        #[arg(long)]
        json: bool,
    },
    /// Delete instruments of the own catalogue: sign tombstones and put them into the outbox.
    ///
    /// Exit 1, deleting nothing, if an id is not in the catalogue.
    Delete {
        /// LOCAL_ID or REGION/LOCAL_ID of the own region.
        #[arg(required = true)]
        ids: Vec<String>,
        /// Why (kept in DATA/reports/; a tombstone carries no text).
        #[arg(long)]
        reason: Option<String>,
    },
    /// List the versions the hub refused, why, and what happens next or what to fix.
    ///
    /// Versions refused for a cause that can go away (unknown_key: the region's key was not yet
    /// registered) are held and sent again by `run`; the others need a corrected import.
    Rejected {
        #[arg(long)]
        json: bool,
    },
    /// Put held versions back into the outbox (all when no ID is given); `publish` or `run`
    /// sends them. A version the catalogue has replaced since is dropped.
    Republish {
        /// REGION/LOCAL_ID or LOCAL_ID, as `yiqi-node rejected` lists them.
        ids: Vec<String>,
    },
    /// Print a stored envelope (own catalogue or mirror) as JSON.
    Show {
        /// REGION/LOCAL_ID, e.g. CN-GS/GS-0001.
        id: String,
    },
    /// Write the live records of the catalogue (or of a mirrored region) to stdout.
    Export {
        /// A mirrored region (default: the node's own catalogue).
        #[arg(long)]
        region: Option<String>,
        /// ndjson or csv.
        #[arg(long, default_value = "ndjson")]
        format: ExportFormat,
    },
    /// Replace the node's signing key with a new one (the old one moves to keys-retired/).
    ///
    /// Puts into the outbox the key record adding the new key (signed by the old key), then the
    /// one revoking the old key (signed by the new key); `publish` sends them in that order.
    /// Entries still signed with the old key after the revocation are signed again at publish.
    /// Not while `yiqi-node run` holds the folder.
    RotateKey,
    /// Print a signed key record that adds or revokes a region key; with --hub, also post it.
    ///
    /// The signer is the root key (for a region's first key, or any change) or an active key of
    /// the same region. Exit 1 if the hub rejects it, 3 if the hub cannot be reached.
    KeyRecord {
        /// The signer's secret key (PKCS#8 PEM).
        #[arg(long)]
        signer: PathBuf,
        /// The region the key belongs to (ISO 3166-2:CN).
        #[arg(long)]
        region: String,
        /// Add this key (base64url): version 1, status active.
        #[arg(
            long,
            value_name = "KEY",
            allow_hyphen_values = true,
            conflicts_with = "revoke",
            required_unless_present = "revoke"
        )]
        add: Option<String>,
        /// The region's display name (with --add).
        #[arg(long, requires = "add")]
        name: Option<String>,
        /// Revoke this key (base64url): version 2, status revoked.
        #[arg(long, value_name = "KEY", allow_hyphen_values = true)]
        revoke: Option<String>,
        /// Post the record to this hub (base URL) and print its result.
        #[arg(long, value_name = "URL")]
        hub: Option<String>,
    },
    /// Write a deterministic, realistic native catalogue (NDJSON, or a JSON array for *.json).
    Generate {
        /// The region the catalogue belongs to (ISO 3166-2:CN).
        #[arg(long)]
        region: String,
        /// Number of instruments.
        #[arg(long)]
        count: usize,
        /// Random seed: the same options give the same file.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Number of distinct institutions.
        #[arg(long)]
        institutions: Option<usize>,
        /// Number of distinct carriers (labs and centres).
        #[arg(long)]
        carriers: Option<usize>,
        /// The exact sum of original_value_cny over the catalogue.
        #[arg(long)]
        total_value_cny: Option<u64>,
        /// Where to write the catalogue.
        #[arg(long)]
        out: PathBuf,
    },
    /// Write a new Ed25519 secret key (PKCS#8 PEM, mode 0600) and print its public key.
    Keygen {
        #[arg(long)]
        out: PathBuf,
    },
    /// Validate a record, then print it signed as an envelope.
    Sign {
        #[arg(long)]
        key: PathBuf,
        /// The record (a file, or - for stdin).
        record: PathBuf,
    },
    /// Check an envelope's signature and schema; exit 1 with the reason if either fails.
    Verify {
        /// The envelope (a file, or - for stdin).
        envelope: PathBuf,
        /// Also require this signer (base64url public key).
        #[arg(long, allow_hyphen_values = true)]
        key: Option<String>,
    },
    /// Check a record against the schema; exit 1 listing every violation.
    Validate {
        /// The record (a file, or - for stdin).
        record: PathBuf,
    },
}

fn main() -> ExitCode {
    yiqi_node::allocator::keep_freed_memory();
    let cli = Cli::parse();
    let default_log = if matches!(cli.command, Command::Run { .. } | Command::Serve { .. }) {
        "info"
    } else {
        "warn"
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| default_log.into()),
        )
        .with_writer(std::io::stderr)
        // Colour codes only on a terminal: redirected logs stay plain text.
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("yiqi-node: {error}");
            error.exit_code()
        }
    }
}

fn run(cli: Cli) -> Result<(), NodeError> {
    let data = cli.data;
    match cli.command {
        Command::Init {
            region,
            hub,
            name,
            root_key,
            log_key,
            storage_backend,
        } => {
            let mut config = Config::new(&region, &hub, name.as_deref(), &root_key)?;
            config.log_key = log_key;
            config.storage_backend = storage_backend;
            config.backend()?;
            let created = Node::create(&data, config)?;
            println!(
                "created node {} for {} in {}",
                created.config.name,
                created.config.region,
                data.display()
            );
            println!("public key: {}", created.public_key);
            println!("the root key's holder admits it with:");
            println!(
                "{}",
                first_key_command(&created.config, &created.public_key)
            );
        }
        Command::Pubkey => println!("{}", Node::open(&data)?.public_key()),
        command @ (Command::Import { .. }
        | Command::Delete { .. }
        | Command::Show { .. }
        | Command::Export { .. }
        | Command::Rejected { .. }
        | Command::Republish { .. }) => here_or_through_the_holder(&data, command)?,
        Command::Publish {
            batch_size,
            max_wait,
        } => {
            let node = Node::open(&data)?;
            let options = PublishOptions {
                batch_size: batch_size.unwrap_or(node.config().batch_size),
                max_wait,
            };
            let report = runtime()?.block_on(node.publish(&options))?;
            println!(
                "published: {} accepted, {} duplicate, {} rejected, {} signed again with the \
                 current key; {} left in the outbox",
                report.accepted,
                report.duplicate,
                report.rejected,
                report.resigned,
                report.remaining
            );
            let refused = node.held(usize::MAX)?;
            if !refused.is_empty() {
                let curable = refused.iter().filter(|h| h.curable).count();
                eprintln!(
                    "{} versions refused by the hub are held ({curable} will be sent again once \
                     the cause is gone, {} need a fix): see `yiqi-node rejected`",
                    refused.len(),
                    refused.len() - curable
                );
            }
        }
        Command::Sync {
            max_wait,
            page_size,
        } => {
            let node = Node::open(&data)?;
            let options = SyncOptions {
                page_size,
                wait_secs: 0,
                max_wait,
            };
            let report = runtime()?.block_on(node.sync(&options))?;
            for change in &report.key_changes {
                println!("{change}");
            }
            println!(
                "synced to {}: {} applied, {} unchanged, {} quarantined, {} own checked, {} key \
                 records",
                report.cursor,
                report.applied,
                report.unchanged,
                report.quarantined,
                report.own,
                report.key_records
            );
            let finality = if report.log.is_final {
                "final"
            } else {
                "not final yet"
            };
            println!(
                "log checkpoint of size {} proven; {} other regions cosigned ({finality})",
                report.log.size, report.log.witnesses
            );
        }
        Command::Run { max_wait } => {
            let node = Node::open(&data)?.accepting_commands(Arc::new(forwarded));
            let options = RunOptions {
                publish: PublishOptions {
                    batch_size: node.config().batch_size,
                    max_wait,
                },
                sync: SyncOptions {
                    page_size: DEFAULT_PAGE_SIZE,
                    wait_secs: LONG_POLL_SECS,
                    max_wait,
                },
            };
            tracing::info!(region = node.region(), hub = %node.config().hub, "node running");
            runtime()?.block_on(node.run(&options, shutdown_signal()))?;
        }
        Command::Audit {
            max_wait,
            clear_alarm,
        } => {
            let node = Node::open(&data)?;
            if clear_alarm {
                match node.clear_alarm()? {
                    Some(alarm) => println!(
                        "cleared alarm {}: {} (evidence kept in {})",
                        alarm.kind,
                        alarm.detail,
                        alarm.evidence.as_deref().unwrap_or("-")
                    ),
                    None => println!("no alarm stands"),
                }
                return Ok(());
            }
            let report = runtime()?.block_on(node.audit(max_wait))?;
            print!("{report}");
            if !report.is_final {
                return Err(NodeError::NotFinal(format!(
                    "the checkpoint of size {} has {} of the {} witness cosignatures it needs",
                    report.checkpoint_size, report.witnesses, report.quorum
                )));
            }
        }
        Command::Serve { listen } => {
            let node = Node::open(&data)?.accepting_commands(Arc::new(forwarded));
            let runtime = runtime()?;
            runtime.block_on(async {
                let listener = yiqi_node::serve::bind(&listen).await?;
                node.serve(listener, shutdown_signal()).await
            })?;
        }
        Command::Status { json } => {
            let node = match Node::open(&data) {
                Err(NodeError::InUse(why)) => return print_running_status(&data, json, why),
                opened => opened?,
            };
            let runtime = runtime()?;
            if json {
                let status = runtime.block_on(node.status())?;
                println!("{}", to_json(&status)?);
            } else {
                print!("{}", runtime.block_on(node.status_text())?);
            }
        }
        Command::RotateKey => {
            let (old, new) = Node::rotate_key(&data)?;
            println!("new public key: {new}");
            println!(
                "queued in the outbox: the key record adding it (signed by {old}), then the one \
                 revoking {old} (signed by the new key); run `yiqi-node publish` to send them"
            );
        }
        Command::KeyRecord {
            signer,
            region,
            add,
            name,
            revoke,
            hub,
        } => {
            let change = match (add, revoke) {
                (Some(key), _) => tools::KeyChange::Add { key, name },
                (None, Some(key)) => tools::KeyChange::Revoke { key },
                (None, None) => return Err(NodeError::Usage("give --add or --revoke".into())),
            };
            let now = yiqi_node::node::now_rfc3339();
            let envelope = tools::key_record_envelope(&signer, &region, &change, &now)?;
            println!("{}", to_json(&envelope)?);
            if let Some(hub) = hub {
                let result = runtime()?.block_on(tools::post_envelope(&hub, &envelope))?;
                println!("{}", to_json(&result)?);
                if result["status"] == "rejected" {
                    return Err(NodeError::Invalid(format!(
                        "the hub rejected the key record: {}",
                        result["error"]["code"]
                            .as_str()
                            .unwrap_or("no reason given")
                    )));
                }
            }
        }
        Command::Generate {
            region,
            count,
            seed,
            institutions,
            carriers,
            total_value_cny,
            out,
        } => {
            let options = GenerateOptions {
                region,
                count,
                seed,
                institutions,
                carriers,
                total_value_cny,
            };
            let records = generate(&options).map_err(|e| NodeError::Usage(e.to_string()))?;
            write_catalogue(&records, &out).map_err(|e| NodeError::io(out.display(), e))?;
            let total: u64 = records
                .iter()
                .filter_map(|r| r["original_value_cny"].as_u64())
                .sum();
            println!(
                "wrote {} instruments of {} to {} (original value {total} yuan)",
                records.len(),
                options.region,
                out.display()
            );
        }
        Command::Keygen { out } => {
            let public = tools::keygen(&out)?;
            println!("wrote {}; public key: {public}", out.display());
        }
        Command::Sign { key, record } => {
            let envelope = tools::sign_file(&key, &record)?;
            println!("{}", to_json(&envelope)?);
        }
        Command::Verify { envelope, key } => {
            println!("{}", tools::verify(&envelope, key.as_deref())?);
        }
        Command::Validate { record } => {
            tools::validate(&record)?;
            println!("ok");
        }
    }
    Ok(())
}

/// Runs a command on the own catalogue: on the folder when it is free, else through the process
/// that holds it (`run` or `serve`, over the control socket).
fn here_or_through_the_holder(data: &Path, command: Command) -> Result<(), NodeError> {
    let (mut out, mut err) = (std::io::stdout().lock(), std::io::stderr());
    match Node::open(data) {
        Ok(node) => node_command(&node, command, &progress_bar(), &mut out, &mut err),
        Err(in_use @ NodeError::InUse(_)) => {
            let request = control::Request {
                args: std::env::args_os()
                    .skip(1)
                    .map(|a| a.to_string_lossy().into_owned())
                    .collect(),
                cwd: std::env::current_dir().map_err(|e| NodeError::io("the current folder", e))?,
            };
            control::forward(data, &request, in_use, &mut out, &mut err)
        }
        Err(other) => Err(other),
    }
}

/// A command another process forwarded to this one (which holds the folder): parsed like this
/// process's own command line, paths taken relative to the sender's working directory.
fn forwarded(
    node: &Node,
    request: control::Request,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<(), NodeError> {
    let args = std::iter::once("yiqi-node".to_owned()).chain(request.args);
    let cli = Cli::try_parse_from(args).map_err(|e| NodeError::Usage(e.to_string()))?;
    let mut command = cli.command;
    // Paths are the caller's: relative ones are resolved against its working directory.
    if let Command::Import { file, mapping, .. } = &mut command {
        *file = request.cwd.join(&*file);
        if let Some(mapping) = mapping {
            *mapping = request.cwd.join(&*mapping);
        }
    }
    node_command(node, command, &ProgressBar::hidden(), out, err)
}

/// The commands on the own catalogue and store that also run for other processes.
fn node_command(
    node: &Node,
    command: Command,
    progress: &ProgressBar,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<(), NodeError> {
    let stdout = |e| NodeError::io("stdout", e);
    match command {
        Command::Import {
            file,
            kind,
            snapshot,
            mapping,
            encoding,
            institution,
            sharing_mode,
            dry_run,
            allow_mass_delete,
        } => {
            let request = ImportRequest {
                path: file,
                options: ImportOptions {
                    // Node::import always reads for the node's own region.
                    region: String::new(),
                    mapping,
                    encoding,
                    institution,
                    sharing_mode,
                    kind,
                    links: None,
                },
                snapshot,
                allow_mass_delete,
                dry_run,
            };
            import(node, &request, progress, out, err)
        }
        Command::Delete { ids, reason } => {
            let deletion = node.delete(&ids, reason.as_deref())?;
            if let Some(report) = &deletion.report {
                writeln!(err, "the reason is kept in {}", report.display()).map_err(stdout)?;
            }
            writeln!(out, "{deletion}").map_err(stdout)
        }
        Command::Rejected { json } => {
            let held = node.held(usize::MAX)?;
            if json {
                writeln!(out, "{}", to_json(&held)?).map_err(stdout)
            } else {
                write!(out, "{}", held_text(&held)).map_err(stdout)
            }
        }
        Command::Republish { ids } => {
            let outcome = node.republish(&ids)?;
            writeln!(
                out,
                "{} versions back in the outbox, {} dropped as replaced by a newer version; \
                 `yiqi-node publish` (or a running `yiqi-node run`) sends them",
                outcome.requeued, outcome.superseded
            )
            .map_err(stdout)
        }
        Command::Show { id } => writeln!(out, "{}", to_json(&node.show(&id)?)?).map_err(stdout),
        Command::Export { region, format } => {
            node.export(region.as_deref(), format, out)?;
            out.flush().map_err(stdout)
        }
        _ => Err(NodeError::Usage(
            "only import, delete, show, export, rejected and republish run through the node \
             holding the folder"
                .into(),
        )),
    }
}

/// `import`: row errors on stderr, the report path, the summary line; exit 1 if nothing was good.
fn import(
    node: &Node,
    request: &ImportRequest,
    progress: &ProgressBar,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<(), NodeError> {
    let summary = node.import(request, progress);
    progress.finish_and_clear();
    let summary = summary?;
    let stdout = |e| NodeError::io("stdout", e);
    for line in yiqi_node::row_report::terminal_lines(&summary.errors) {
        writeln!(err, "{line}").map_err(stdout)?;
    }
    if let (Some(text), Some(csv)) = (&summary.report, &summary.report_csv) {
        writeln!(
            err,
            "rejected rows are listed in {} and {} (for a spreadsheet)",
            text.display(),
            csv.display()
        )
        .map_err(stdout)?;
    }
    let dry = if request.dry_run {
        " (dry run: nothing written)"
    } else {
        ""
    };
    writeln!(out, "{summary}{dry}").map_err(stdout)?;
    if summary.nothing_imported() {
        return Err(NodeError::Invalid(format!(
            "no row of {} could be imported",
            request.path.display()
        )));
    }
    Ok(())
}

/// `rejected` for a person: one block per held version, then the count.
fn held_text(held: &[yiqi_node::held::Held]) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    for h in held {
        let version = h.version.map_or_else(|| "?".into(), |v| v.to_string());
        let pointer = h
            .pointer
            .as_deref()
            .map(|p| format!(" at {p}"))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "{} v{version}: {}{pointer}: {}\n  {}",
            h.id.as_deref().unwrap_or("?"),
            h.code,
            h.message,
            h.next_step
        );
    }
    let curable = held.iter().filter(|h| h.curable).count();
    let _ = writeln!(
        out,
        "{} versions refused by the hub: {curable} held to be sent again, {} need a fix",
        held.len(),
        held.len() - curable
    );
    out
}

/// `status` while `yiqi-node run` holds the folder: what `run` last reported, said to be so on
/// stderr; without a snapshot, the error that the folder is in use.
fn print_running_status(
    data: &std::path::Path,
    json: bool,
    in_use: String,
) -> Result<(), NodeError> {
    let snapshot = Snapshot::read(data).ok_or(NodeError::InUse(in_use))?;
    eprintln!(
        "yiqi-node run (pid {}) holds this folder; its status as of {}:",
        snapshot.pid, snapshot.as_of
    );
    if json {
        println!("{}", to_json(&snapshot.status)?);
    } else {
        print!("{}", snapshot.text);
    }
    Ok(())
}

fn to_json(value: &impl serde::Serialize) -> Result<String, NodeError> {
    serde_json::to_string_pretty(value).map_err(|e| NodeError::Usage(e.to_string()))
}

/// A progress bar on a terminal, nothing otherwise (logs and pipes stay clean).
fn progress_bar() -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
    if let Ok(style) = ProgressStyle::with_template("{bar:40} {pos}/{len} records {eta}") {
        bar.set_style(style);
    }
    bar
}

fn runtime() -> Result<tokio::runtime::Runtime, NodeError> {
    tokio::runtime::Runtime::new()
        .map_err(|e| NodeError::Usage(format!("starting the async runtime: {e}")))
}

/// `60s`, `500ms`, `2m`, or a plain number of seconds.
fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let value: f64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a duration like 60s"))?;
    let seconds = match unit {
        "" | "s" => value,
        "ms" => value / 1000.0,
        "m" => value * 60.0,
        _ => return Err(format!("{text:?}: use ms, s or m")),
    };
    Duration::try_from_secs_f64(seconds).map_err(|e| format!("{text:?}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_in_the_usual_units() {
        assert_eq!(parse_duration("60s"), Ok(Duration::from_secs(60)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("3"), Ok(Duration::from_secs(3)));
        assert!(parse_duration("soon").is_err() && parse_duration("5h").is_err());
    }

    /// One base64url key in 64 starts with `-`; it is a value, not a flag.
    #[test]
    fn keys_that_start_with_a_hyphen_are_values() {
        let key = "-W".to_owned() + &"A".repeat(41);
        let parse = |args: &[&str]| {
            Cli::try_parse_from(std::iter::once("yiqi-node").chain(args.iter().copied()))
        };
        let init = parse(&[
            "init", "--region", "CN-GS", "--hub", "http://h", "--root", &key,
        ]);
        assert!(
            matches!(init, Ok(Cli { command: Command::Init { ref root_key, .. }, .. }) if *root_key == key)
        );
        let add = parse(&[
            "key-record",
            "--signer",
            "s.pem",
            "--region",
            "CN-GS",
            "--add",
            &key,
        ]);
        assert!(add.is_ok(), "{:?}", add.err());
        let revoke = parse(&[
            "key-record",
            "--signer",
            "s.pem",
            "--region",
            "CN-GS",
            "--revoke",
            &key,
        ]);
        assert!(revoke.is_ok(), "{:?}", revoke.err());
        let verify = parse(&["verify", "envelope.json", "--key", &key]);
        assert!(
            matches!(verify, Ok(Cli { command: Command::Verify { key: Some(ref k), .. }, .. }) if *k == key)
        );
    }
}
