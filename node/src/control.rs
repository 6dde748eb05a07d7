//! The control channel: how `import`, `delete`, `show`, `export`, `rejected` and `republish` work
//! while `run` (or `serve`) holds the node folder.
//!
//! The store admits one process, so the process holding it runs these commands for the others.
//! It listens on a Unix socket in the node folder (`DIR/control.sock`, mode 0600: only the
//! folder's owner can connect, as only the owner can open the store). A command that finds the
//! folder in use connects, sends one JSON line `{"args": [...], "cwd": "..."}` (its own command
//! line and working directory, so relative paths mean what the operator meant), and prints the
//! frames that come back (`{"out": text}`, `{"err": text}`, whole lines each) until the last one,
//! `{"done": {"exit": N, "error": text|null}}`, gives its exit status. The holding process parses
//! the same command line and runs the same code as a command that opens the folder itself,
//! against the store it already holds (an import wakes its publisher at once).

use crate::error::NodeError;
use crate::node::Node;
use serde::{Deserialize, Serialize};
use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio::sync::watch;

/// The socket's name in the node folder.
pub const SOCKET: &str = "control.sock";

/// A command sent to the process that holds the folder.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Request {
    /// The command line after the program name.
    pub args: Vec<String>,
    /// The sender's working directory: relative paths in `args` are relative to it.
    pub cwd: PathBuf,
}

/// Runs one forwarded command against the holding process's node, writing what the command
/// prints to `out` and `err` (the binary supplies it: it knows its own command line).
pub type Handler = Arc<
    dyn Fn(&Node, Request, &mut dyn Write, &mut dyn Write) -> Result<(), NodeError> + Send + Sync,
>;

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Frame {
    Out(String),
    Err(String),
    Done { exit: u8, error: Option<String> },
}

fn send(mut stream: &UnixStream, frame: &Frame) -> std::io::Result<()> {
    let mut line = serde_json::to_vec(frame).map_err(std::io::Error::other)?;
    line.push(b'\n');
    stream.write_all(&line)
}

/// Writes a command's output to the socket as frames of whole lines, so a multi-byte character
/// is never split between two frames.
struct FrameWriter<'a> {
    stream: &'a UnixStream,
    stderr: bool,
    pending: Vec<u8>,
}

impl FrameWriter<'_> {
    fn emit(&mut self, upto: usize) -> std::io::Result<()> {
        let text = String::from_utf8_lossy(&self.pending[..upto]).into_owned();
        self.pending.drain(..upto);
        let frame = if self.stderr {
            Frame::Err(text)
        } else {
            Frame::Out(text)
        };
        send(self.stream, &frame)
    }
}

impl Write for FrameWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.pending.extend_from_slice(buf);
        // Large outputs (an export) go out in chunks of whole lines.
        if self.pending.len() >= 64 * 1024
            && let Some(last) = self.pending.iter().rposition(|&b| b == b'\n')
        {
            self.emit(last + 1)?;
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        self.emit(self.pending.len())
    }
}

/// Where the control socket of the folder `dir` is.
pub fn socket_path(dir: &Path) -> PathBuf {
    dir.join(SOCKET)
}

/// Serves forwarded commands on `DIR/control.sock` until `stopped`; the socket is removed
/// afterwards. A socket that cannot be made is logged, not fatal: the other commands then say
/// the folder is in use, as before.
pub(crate) async fn listen(
    node: Node,
    handler: Handler,
    dir: PathBuf,
    mut stopped: watch::Receiver<bool>,
) -> Result<(), NodeError> {
    let path = socket_path(&dir);
    // We hold the store, so a socket left here is a dead process's.
    let _ = std::fs::remove_file(&path);
    let listener = match bind(&path) {
        Ok(listener) => listener,
        Err(error) => {
            tracing::warn!(path = %path.display(), %error, "no control socket: other commands \
                           on this folder will say it is in use");
            return Ok(());
        }
    };
    while !*stopped.borrow() {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    let (node, handler) = (node.clone(), handler.clone());
                    tokio::task::spawn_blocking(move || answer(&node, &handler, stream));
                }
                Err(error) => tracing::warn!(%error, "control socket accept failed"),
            },
            _ = stopped.changed() => {}
        }
    }
    let _ = std::fs::remove_file(&path);
    Ok(())
}

fn bind(path: &Path) -> std::io::Result<tokio::net::UnixListener> {
    let listener = tokio::net::UnixListener::bind(path)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    Ok(listener)
}

/// Reads one request, runs it, sends its output and its end.
fn answer(node: &Node, handler: &Handler, stream: tokio::net::UnixStream) {
    let stream = match stream.into_std().and_then(|s| {
        s.set_nonblocking(false)?;
        Ok(s)
    }) {
        Ok(stream) => stream,
        Err(error) => return tracing::warn!(%error, "control connection lost"),
    };
    let mut line = String::new();
    let request = BufReader::new(&stream)
        .read_line(&mut line)
        .map_err(|e| NodeError::Usage(e.to_string()))
        .and_then(|_| {
            serde_json::from_str::<Request>(&line)
                .map_err(|e| NodeError::Usage(format!("unreadable control request: {e}")))
        });
    let mut out = FrameWriter {
        stream: &stream,
        stderr: false,
        pending: Vec::new(),
    };
    let mut err = FrameWriter {
        stream: &stream,
        stderr: true,
        pending: Vec::new(),
    };
    let result = request.and_then(|request| {
        tracing::info!(args = ?request.args, "running a command for another process");
        handler(node, request, &mut out, &mut err)
    });
    let done = match result {
        Ok(()) => Frame::Done {
            exit: 0,
            error: None,
        },
        Err(error) => Frame::Done {
            exit: error.exit_status(),
            error: Some(error.to_string()),
        },
    };
    let sent = out
        .flush()
        .and_then(|()| err.flush())
        .and_then(|()| send(&stream, &done));
    if let Err(error) = sent {
        tracing::warn!(%error, "the other process left before the command's end");
    }
}

/// Runs `request` in the process holding the folder `dir`, copying its output to `out` and
/// `err`. When nothing answers on the socket, the folder's `in_use` error is returned as it is.
pub fn forward(
    dir: &Path,
    request: &Request,
    in_use: NodeError,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<(), NodeError> {
    let Ok(mut stream) = UnixStream::connect(socket_path(dir)) else {
        return Err(in_use);
    };
    let mut line = serde_json::to_vec(request).map_err(|e| NodeError::Usage(e.to_string()))?;
    line.push(b'\n');
    stream
        .write_all(&line)
        .map_err(|e| NodeError::io("the control socket", e))?;
    let lost = || {
        NodeError::Usage(
            "the yiqi-node process holding the folder stopped before the command ended; run it \
             again"
                .into(),
        )
    };
    for line in BufReader::new(&stream).lines() {
        let line = line.map_err(|_| lost())?;
        let frame: Frame = serde_json::from_str(&line).map_err(|_| lost())?;
        let written = match frame {
            Frame::Out(text) => out.write_all(text.as_bytes()),
            Frame::Err(text) => err.write_all(text.as_bytes()),
            Frame::Done { exit: 0, .. } => return Ok(()),
            Frame::Done { exit, error } => {
                return Err(NodeError::from_exit_status(exit, error.unwrap_or_default()));
            }
        };
        written.map_err(|e| NodeError::io("stdout", e))?;
    }
    Err(lost())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::node;

    #[tokio::test]
    async fn a_forwarded_command_prints_through_the_holder_and_keeps_its_exit_status() {
        let dir = tempfile::tempdir().unwrap();
        let handler: Handler = Arc::new(|node, request, out, err| {
            writeln!(err, "为 {} 运行", node.region()).unwrap();
            match request.args.first().map(String::as_str) {
                Some("ok") => {
                    // More than one frame's worth, with multi-byte characters throughout.
                    for i in 0..5_000 {
                        writeln!(out, "行 {i} 仪器").unwrap();
                    }
                    Ok(())
                }
                _ => Err(NodeError::Invalid("no such record".into())),
            }
        });
        let (stopping, stopped) = watch::channel(false);
        let server = tokio::spawn(listen(
            node("CN-GS"),
            handler,
            dir.path().to_path_buf(),
            stopped,
        ));
        let socket = socket_path(dir.path());
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while !socket.exists() {
            assert!(
                std::time::Instant::now() < deadline,
                "the socket never appeared"
            );
            tokio::task::yield_now().await;
        }
        let path = dir.path().to_path_buf();
        let (ok, failed) = tokio::task::spawn_blocking(move || {
            let run = |args: &[&str]| {
                let request = Request {
                    args: args.iter().map(|s| s.to_string()).collect(),
                    cwd: PathBuf::from("/"),
                };
                let (mut out, mut err) = (Vec::new(), Vec::new());
                let result = forward(
                    &path,
                    &request,
                    NodeError::InUse("in use".into()),
                    &mut out,
                    &mut err,
                );
                (
                    result,
                    String::from_utf8(out).unwrap(),
                    String::from_utf8(err).unwrap(),
                )
            };
            (run(&["ok"]), run(&["show"]))
        })
        .await
        .unwrap();
        assert!(ok.0.is_ok());
        assert_eq!(ok.1.lines().count(), 5_000);
        assert!(ok.1.ends_with("行 4999 仪器\n") && ok.2 == "为 CN-GS 运行\n");
        let error = failed.0.unwrap_err();
        assert!(matches!(&error, NodeError::Invalid(m) if m == "no such record"));
        stopping.send(true).unwrap();
        server.await.unwrap().unwrap();
        assert!(!socket.exists(), "the socket goes with the process");
        let nobody = forward(
            dir.path(),
            &Request {
                args: vec![],
                cwd: PathBuf::from("/"),
            },
            NodeError::InUse("in use".into()),
            &mut Vec::new(),
            &mut Vec::new(),
        );
        assert!(matches!(nobody, Err(NodeError::InUse(_))));
    }
}
