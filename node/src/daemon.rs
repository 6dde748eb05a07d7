//! `run`: publishing and syncing continuously until told to stop.
//!
//! With `listen` set in `config.toml`, `run` also serves the read routes ([`crate::serve`]): the
//! index is brought up to the store before the loops start, then sync keeps it current.
//!
//! Two loops share the node: the publisher sends the outbox whenever it is not empty (woken at
//! once by an in-process import, and checking every few seconds otherwise) and puts held versions
//! whose cause may be gone back into it ([`crate::held::CureSchedule`]); the follower
//! long-polls the feed. A third rewrites the status snapshot every [`SNAPSHOT_EVERY`], which
//! `status` reads while `run` holds the store. When the hub is unreachable each loop logs it and tries again later,
//! never giving up. On stop, a loop finishes the batch it is committing (commits have no await
//! point inside, and page writes run to completion on their own thread), so the store is
//! flushed and consistent when `run` returns.

use crate::error::NodeError;
use crate::held::CureSchedule;
use crate::node::Node;
use crate::publish::PublishOptions;
use crate::serve;
use crate::sync::SyncOptions;
use std::future::Future;
use std::time::Duration;
use tokio::sync::watch;

/// How often the publisher looks at an empty outbox, and how long a loop rests after a failure.
const IDLE: Duration = Duration::from_secs(5);
/// How often `run` rewrites the status snapshot (`status.json`).
pub const SNAPSHOT_EVERY: Duration = Duration::from_secs(2);
/// How long the follower waits for the hub to sign a checkpoint covering entries it already
/// serves (the hub signs at most 200 ms after a commit, and at least once a second).
const CHECKPOINT_LAG: Duration = Duration::from_millis(250);
/// The feed long-poll, in seconds (the hub allows up to 30).
pub const LONG_POLL_SECS: u64 = 25;

#[derive(Debug, Clone)]
pub struct RunOptions {
    pub publish: PublishOptions,
    pub sync: SyncOptions,
}

impl Node {
    /// Publishes and syncs until `stop` completes; returns once both loops have stopped.
    pub async fn run(
        &self,
        options: &RunOptions,
        stop: impl Future<Output = ()>,
    ) -> Result<(), NodeError> {
        let (stopping, stopped) = watch::channel(false);
        let serving = match &self.config.listen {
            Some(address) => {
                let listener = serve::bind(address).await?;
                let catalogue = self.start_serving(&listener).await?;
                Some((listener, catalogue))
            }
            None => None,
        };
        let serve = async {
            let Some((listener, catalogue)) = serving else {
                return Ok(());
            };
            tokio::try_join!(
                serve::serve_http(listener, catalogue, stopped.clone()),
                self.probe_hub_loop(stopped.clone())
            )
            .map(|_| ())
        };
        let loops = async {
            tokio::try_join!(
                self.publish_loop(&options.publish, stopped.clone()),
                self.sync_loop(&options.sync, stopped.clone()),
                self.snapshot_loop(stopped.clone()),
                self.control_loop(stopped.clone()),
                serve
            )
        };
        until_stopped(loops, stop, stopping, "finishing the current batch").await?;
        self.flush_index().await
    }

    async fn publish_loop(
        &self,
        options: &PublishOptions,
        mut stopped: watch::Receiver<bool>,
    ) -> Result<(), NodeError> {
        let mut cure = CureSchedule::default();
        while !*stopped.borrow() {
            cure.tick(self)?;
            if self.db.counter(crate::db::N_OUTBOX)? == 0 {
                tokio::select! {
                    () = self.outbox_filled.notified() => {}
                    () = tokio::time::sleep(IDLE) => {}
                    _ = stopped.changed() => {}
                }
                continue;
            }
            let outcome = tokio::select! {
                outcome = self.publish(options) => outcome,
                _ = stopped.changed() => break,
            };
            match outcome {
                Ok(report) => tracing::info!(
                    accepted = report.accepted,
                    duplicate = report.duplicate,
                    rejected = report.rejected,
                    "published"
                ),
                Err(NodeError::Hub(why)) => {
                    tracing::warn!(%why, "publishing paused");
                    rest(&mut stopped).await;
                }
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    async fn sync_loop(
        &self,
        options: &SyncOptions,
        mut stopped: watch::Receiver<bool>,
    ) -> Result<(), NodeError> {
        while !*stopped.borrow() {
            let outcome = tokio::select! {
                outcome = self.sync(options) => outcome,
                _ = stopped.changed() => break,
            };
            if outcome.is_ok()
                && let Some(index) = self.live_index()
            {
                index.note_synced();
            }
            match outcome {
                Ok(report) if report.applied + report.quarantined > 0 => tracing::info!(
                    applied = report.applied,
                    quarantined = report.quarantined,
                    cursor = report.cursor,
                    "synced"
                ),
                // The feed is ahead of the hub's last checkpoint: the next one follows within
                // about a second, so look again shortly rather than spin on the long-poll.
                Ok(report) if report.waiting => pause(&mut stopped, CHECKPOINT_LAG).await,
                Ok(_) => {}
                Err(NodeError::Hub(why)) => {
                    tracing::warn!(%why, "sync paused");
                    rest(&mut stopped).await;
                }
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}

impl Node {
    /// Rewrites the status snapshot until stopped; a failure to write it is logged, not fatal.
    pub(crate) async fn snapshot_loop(
        &self,
        mut stopped: watch::Receiver<bool>,
    ) -> Result<(), NodeError> {
        while !*stopped.borrow() {
            if let Err(error) = self.write_snapshot().await {
                tracing::warn!(%error, "status snapshot not written");
            }
            tokio::select! {
                () = tokio::time::sleep(SNAPSHOT_EVERY) => {}
                _ = stopped.changed() => {}
            }
        }
        Ok(())
    }
}

/// Waits a while before trying again, or until stopped.
async fn rest(stopped: &mut watch::Receiver<bool>) {
    pause(stopped, IDLE).await;
}

async fn pause(stopped: &mut watch::Receiver<bool>, how_long: Duration) {
    tokio::select! {
        () = tokio::time::sleep(how_long) => {}
        _ = stopped.changed() => {}
    }
}

/// Runs `loops` until `stop` completes, then tells them (through `stopping`) to finish what they
/// are doing, and returns once they have: the stop sequence of `run` and `serve`.
pub(crate) async fn until_stopped<T>(
    loops: impl Future<Output = Result<T, NodeError>>,
    stop: impl Future<Output = ()>,
    stopping: watch::Sender<bool>,
    finishing: &str,
) -> Result<T, NodeError> {
    let signal = async {
        stop.await;
        tracing::info!("stopping: {finishing}");
        let _ = stopping.send(true);
        std::future::pending::<()>().await;
    };
    tokio::select! {
        result = loops => result,
        () = signal => unreachable!("the stop branch never completes"),
    }
}
