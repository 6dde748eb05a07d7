//! Running the built binaries as child processes.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// The federation root key every test hub trusts (fixed, so every suite and every restart
/// agrees; a test key, never a production one).
pub fn test_root() -> yiqi_schema::keys::SecretKey {
    yiqi_schema::keys::SecretKey::from_bytes(&[0x52; 32])
}

/// [`test_root`]'s public key, base64url.
pub fn test_root_public() -> String {
    yiqi_schema::keys::public_key_text(&test_root().verifying_key())
}

/// Copies a folder tree (a stopped hub's or node's data folder, as an operator's backup would).
pub fn copy_folder(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("the target folder is created");
    for entry in std::fs::read_dir(from).expect("the folder is readable") {
        let entry = entry.expect("a folder entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("a file type").is_dir() {
            copy_folder(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).expect("the file is copied");
        }
    }
}

/// The folder holding the workspace's built binaries: the one holding this executable (for
/// `yiqi-bench`) or its parent (test executables live in `target/<profile>/deps`).
pub fn bin_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("the current executable has a path");
    let dir = exe.parent().expect("an executable lives in a folder");
    if dir.ends_with("deps") {
        dir.parent().expect("deps has a parent").to_path_buf()
    } else {
        dir.to_path_buf()
    }
}

/// The path of a workspace binary; panics with the command that builds it when it is missing.
pub fn binary(name: &str) -> PathBuf {
    let path = bin_dir().join(name);
    assert!(
        path.exists(),
        "{} is not built; run `cargo build --workspace --bins` (or `cargo test --workspace`)",
        path.display()
    );
    path
}

/// Polls `check` until it returns `Some` or `timeout` passes.
pub fn poll_until<T>(timeout: Duration, mut check: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = check() {
            return Some(value);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The lines a child writes to a pipe, read on a thread so that a test can wait for one with a
/// deadline. The thread drains the pipe to its end whether or not anyone still listens, so the
/// child never blocks on a full pipe.
pub struct Lines(mpsc::Receiver<String>);

impl Lines {
    pub fn of(pipe: impl Read + Send + 'static) -> Lines {
        let (send, receive) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                let _ = send.send(line);
            }
        });
        Lines(receive)
    }

    /// The first line from now on that contains `needle`; `None` when `timeout` passes first or
    /// the pipe closes (the child exited) without one.
    pub fn wait_for(&self, needle: &str, timeout: Duration) -> Option<String> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.0.recv_timeout(left) {
                Ok(line) if line.contains(needle) => return Some(line),
                Ok(_) => {}
                Err(_) => return None,
            }
        }
    }
}

/// How long a child may take to say it is ready.
pub const STARTUP: Duration = Duration::from_secs(60);

/// Sends SIGTERM to a child and waits for its exit status.
pub fn terminate(child: &mut Child) -> std::process::ExitStatus {
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill runs");
    child.wait().expect("the process exits")
}

/// The hub's log filter: `YIQI_E2E_HUB_LOG` when set (e.g. `yiqi_hub=debug` to see group
/// commits), else warnings only.
fn hub_log_filter() -> String {
    std::env::var("YIQI_E2E_HUB_LOG").unwrap_or_else(|_| "warn".into())
}

/// `yiqi-hub serve` on `data` at `listen` with `extra` arguments, set up as every test hub.
fn hub_command(data: &Path, listen: &str, extra: &[&str]) -> Command {
    let mut command = Command::new(binary("yiqi-hub"));
    command
        .args(["serve", "--listen", listen, "--data"])
        .arg(data)
        .args(extra)
        .env("YIQI_ROOT_KEY", test_root_public())
        .env("RUST_LOG", hub_log_filter());
    command
}

/// Runs `yiqi-hub serve` on `data`, expecting it to refuse to serve (at start, or once its log
/// scrub finds an altered entry): returns its exit status and what it wrote to stderr. Panics if
/// it has not exited in `timeout`.
pub fn hub_refusal(data: &Path, timeout: Duration) -> (std::process::ExitStatus, String) {
    let mut child = hub_command(data, "127.0.0.1:0", &[])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("yiqi-hub starts");
    let mut stderr = child.stderr.take().expect("stderr is piped");
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = std::io::Read::read_to_string(&mut stderr, &mut text);
        text
    });
    let status = poll_until(timeout, || child.try_wait().ok().flatten());
    let Some(status) = status else {
        let _ = child.kill();
        let _ = child.wait();
        panic!("yiqi-hub did not refuse to start within {timeout:?}");
    };
    (status, reader.join().expect("the stderr reader ends"))
}

/// A running `yiqi-hub serve`, killed when dropped.
pub struct HubProcess {
    child: Child,
    pub url: String,
    pub data: PathBuf,
}

impl HubProcess {
    /// Starts a hub on `data` at a free loopback port and waits until it listens.
    pub fn start(data: &Path) -> HubProcess {
        HubProcess::start_on(data, "127.0.0.1:0")
    }

    /// Starts a hub on `data` listening on `listen` and waits until it listens.
    pub fn start_on(data: &Path, listen: &str) -> HubProcess {
        HubProcess::start_with(data, listen, &[])
    }

    /// Starts a hub on `data` at a free loopback port on the given storage backend.
    pub fn start_on_backend(data: &Path, backend: yiqi_store::Backend) -> HubProcess {
        HubProcess::start_with(data, "127.0.0.1:0", &["--storage-backend", backend.name()])
    }

    /// Starts a hub trusting `root` (base64url) instead of [`test_root`].
    pub fn start_with_root(data: &Path, listen: &str, root: &str) -> HubProcess {
        HubProcess::start_with(data, listen, &["--root", root])
    }

    /// Starts a hub on `data` listening on `listen`, with `extra` arguments to `serve`, and
    /// waits until it listens.
    pub fn start_with(data: &Path, listen: &str, extra: &[&str]) -> HubProcess {
        let mut child = hub_command(data, listen, extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("yiqi-hub starts");
        let lines = Lines::of(child.stdout.take().expect("stdout is piped"));
        const LISTENING: &str = "yiqi-hub listening on ";
        let Some(url) = lines
            .wait_for(LISTENING, STARTUP)
            .and_then(|line| Some(line.split_once(LISTENING)?.1.to_owned()))
        else {
            let _ = child.kill();
            panic!("yiqi-hub did not start listening: {:?}", child.wait());
        };
        HubProcess {
            child,
            url,
            data: data.to_path_buf(),
        }
    }

    /// Starts the hub again on the same folder and address (after [`HubProcess::kill`]).
    pub fn restart(&mut self) {
        self.kill();
        let address = self.url.trim_start_matches("http://").to_owned();
        *self = HubProcess::start_on(&self.data.clone(), &address);
    }

    /// SIGKILL: no shutdown code runs, as in a power cut of the process.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM, then waits for the exit status.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        terminate(&mut self.child)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for HubProcess {
    fn drop(&mut self) {
        self.kill();
    }
}
