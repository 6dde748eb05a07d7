//! Driving `yiqi-node` as a platform operator would: one command at a time, or in the
//! background (killed when dropped).

use crate::process::{Lines, binary, terminate};
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};

/// A node's data folder and the commands run on it.
pub struct NodeCli {
    pub data: PathBuf,
}

/// What a finished command said.
pub struct Ran {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl From<Output> for Ran {
    fn from(output: Output) -> Ran {
        Ran {
            code: output.status.code(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }
}

impl NodeCli {
    pub fn new(data: &Path) -> NodeCli {
        NodeCli {
            data: data.to_path_buf(),
        }
    }

    /// `yiqi-node --data <folder> <args>` with warnings-only logs and no stdin, not yet started.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(binary("yiqi-node"));
        command
            .arg("--data")
            .arg(&self.data)
            .args(args)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null());
        command
    }

    /// Runs a command to completion.
    pub fn run(&self, args: &[&str]) -> Ran {
        self.command(args).output().expect("yiqi-node runs").into()
    }

    /// Runs a command that must succeed; panics with its output otherwise.
    pub fn ok(&self, args: &[&str]) -> String {
        let ran = self.run(args);
        assert_eq!(
            ran.code,
            Some(0),
            "yiqi-node {args:?} failed\nstdout: {}\nstderr: {}",
            ran.stdout,
            ran.stderr
        );
        ran.stdout
    }

    /// `init` pinning the test root, returning the node's public key.
    pub fn init(&self, region: &str, hub: &str) -> String {
        let root = crate::process::test_root_public();
        self.ok(&["init", "--region", region, "--hub", hub, "--root", &root]);
        self.ok(&["pubkey"]).trim().to_owned()
    }

    /// `status --json`.
    pub fn status(&self) -> Value {
        serde_json::from_str(&self.ok(&["status", "--json"])).expect("status --json is JSON")
    }

    /// `show ID`: the stored envelope.
    pub fn show(&self, id: &str) -> Value {
        serde_json::from_str(&self.ok(&["show", id])).expect("show prints JSON")
    }

    /// `export --region R` (NDJSON) as parsed records.
    pub fn export(&self, region: Option<&str>) -> Vec<Value> {
        let mut args = vec!["export", "--format", "ndjson"];
        if let Some(region) = region {
            args.extend(["--region", region]);
        }
        self.ok(&args)
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| serde_json::from_str(l).expect("export lines are JSON"))
            .collect()
    }

    /// Starts `serve --listen 127.0.0.1:0` and waits until it announces its address.
    pub fn serve(&self) -> Running {
        self.start_listening(&["serve", "--listen", "127.0.0.1:0"])
    }

    /// Starts a command that prints `yiqi-node serving on http://ADDR` once it answers, and
    /// waits for that line (`serve`, or `run` with `listen` configured).
    pub fn start_listening(&self, args: &[&str]) -> Running {
        let mut child = self
            .command(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("yiqi-node starts");
        let stdout = child.stdout.take().expect("stdout is piped");
        let mut lines = BufReader::new(stdout).lines();
        let url = loop {
            match lines.next() {
                Some(Ok(line)) => {
                    if let Some(url) = line.strip_prefix("yiqi-node serving on ") {
                        break url.to_owned();
                    }
                }
                _ => {
                    let status = child.wait();
                    panic!("yiqi-node {args:?} exited before serving: {status:?}");
                }
            }
        };
        // Keep draining stdout so the child never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        Running {
            child,
            url: Some(url),
        }
    }

    /// Starts any command in the background; killed when the handle drops.
    pub fn spawn(&self, args: &[&str]) -> Running {
        let child = self
            .command(args)
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("yiqi-node starts");
        Running { child, url: None }
    }

    /// Starts a command in the background with `RUST_LOG=filter`; its log lines (stderr) can be
    /// waited for.
    pub fn spawn_logged(&self, args: &[&str], filter: &str) -> (Running, Lines) {
        let mut child = self
            .command(args)
            .env("RUST_LOG", filter)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("yiqi-node starts");
        let log = Lines::of(child.stderr.take().expect("stderr is piped"));
        (Running { child, url: None }, log)
    }
}

/// A `yiqi-node` command running in the background.
pub struct Running {
    child: Child,
    /// `http://ADDR` of a command that serves.
    pub url: Option<String>,
}

impl Running {
    /// Waits for the command to end; its exit code.
    pub fn wait(&mut self) -> Option<i32> {
        self.child.wait().expect("the node exits").code()
    }

    /// SIGTERM, then the exit status.
    pub fn terminate(&mut self) -> ExitStatus {
        terminate(&mut self.child)
    }

    /// SIGKILL: no shutdown code runs.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.kill();
    }
}
