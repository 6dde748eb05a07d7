//! Load generation shared by the benchmarks: open-loop at a fixed rate (latency measured from the
//! scheduled start, so a slow answer cannot hide the queue behind it) and closed-loop saturation.

use hdrhistogram::Histogram;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Latency percentiles in milliseconds and the rate actually achieved.
#[derive(Debug, Clone, Copy)]
pub struct Latency {
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub achieved_per_s: f64,
}

fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 120_000_000, 3).expect("valid histogram bounds")
}

fn summarise(h: &Histogram<u64>, elapsed: Duration) -> Latency {
    Latency {
        p50_ms: h.value_at_quantile(0.50) as f64 / 1_000.0,
        p99_ms: h.value_at_quantile(0.99) as f64 / 1_000.0,
        achieved_per_s: h.len() as f64 / elapsed.as_secs_f64(),
    }
}

/// Issues `request(i)` at `rate` per second for `duration` on the tokio runtime.
///
/// The requests are paced by a thread of their own with `std::thread::sleep` (tens of
/// microseconds late at most) rather than by tokio's timer, whose 1 ms granularity would start
/// each request up to a millisecond after its scheduled time and charge that to the server.
pub async fn open_loop_async<F, Fut>(rate: f64, duration: Duration, request: F) -> Latency
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let request = Arc::new(request);
    let recorded = Arc::new(Mutex::new(histogram()));
    let interval = Duration::from_secs_f64(1.0 / rate);
    let count = (rate * duration.as_secs_f64()) as usize;
    let runtime = tokio::runtime::Handle::current();
    let start = Instant::now();
    let pacing = {
        let recorded = recorded.clone();
        tokio::task::spawn_blocking(move || {
            (0..count)
                .map(|i| {
                    let scheduled = start + interval * i as u32;
                    if let Some(wait) = scheduled.checked_duration_since(Instant::now()) {
                        std::thread::sleep(wait);
                    }
                    let (request, recorded) = (request.clone(), recorded.clone());
                    runtime.spawn(async move {
                        request(i).await;
                        let micros = scheduled.elapsed().as_micros() as u64;
                        recorded
                            .lock()
                            .expect("lock")
                            .saturating_record(micros.max(1));
                    })
                })
                .collect::<Vec<_>>()
        })
    };
    for task in pacing.await.unwrap_or_default() {
        let _ = task.await;
    }
    let h = recorded.lock().expect("lock").clone();
    summarise(&h, start.elapsed())
}

/// Issues `request(i)` at `rate` per second for `duration` from `workers` threads.
pub fn open_loop_threads<S: Send + 'static>(
    rate: f64,
    duration: Duration,
    workers: Vec<S>,
    request: impl Fn(&mut S, usize) + Send + Sync + 'static,
) -> Latency {
    let count = (rate * duration.as_secs_f64()) as usize;
    let interval = Duration::from_secs_f64(1.0 / rate);
    let (sender, receiver) = shared_channel();
    let request = Arc::new(request);
    let recorded = Arc::new(Mutex::new(histogram()));
    let start = Instant::now();
    let handles: Vec<_> = workers
        .into_iter()
        .map(|mut state| {
            let (receiver, request, recorded) =
                (receiver.clone(), request.clone(), recorded.clone());
            std::thread::spawn(move || {
                while let Ok((i, scheduled)) = receiver.lock().expect("lock").recv() {
                    request(&mut state, i);
                    let micros = scheduled.elapsed().as_micros() as u64;
                    recorded
                        .lock()
                        .expect("lock")
                        .saturating_record(micros.max(1));
                }
            })
        })
        .collect();
    for i in 0..count {
        let scheduled = start + interval * i as u32;
        if let Some(wait) = scheduled.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        let _ = sender.send((i, scheduled));
    }
    drop(sender);
    for handle in handles {
        let _ = handle.join();
    }
    let h = recorded.lock().expect("lock").clone();
    summarise(&h, start.elapsed())
}

type Scheduled = (usize, Instant);

fn shared_channel() -> (
    std::sync::mpsc::Sender<Scheduled>,
    Arc<Mutex<std::sync::mpsc::Receiver<Scheduled>>>,
) {
    let (sender, receiver) = std::sync::mpsc::channel();
    (sender, Arc::new(Mutex::new(receiver)))
}

/// Runs `request` back to back from `workers` threads for `duration`; requests per second.
pub fn closed_loop_threads<S: Send + 'static>(
    duration: Duration,
    workers: Vec<S>,
    request: impl Fn(&mut S, usize) + Send + Sync + 'static,
) -> f64 {
    let request = Arc::new(request);
    let start = Instant::now();
    let handles: Vec<_> = workers
        .into_iter()
        .enumerate()
        .map(|(w, mut state)| {
            let request = request.clone();
            std::thread::spawn(move || {
                let mut done = 0usize;
                while start.elapsed() < duration {
                    request(&mut state, w * 1_000_000 + done);
                    done += 1;
                }
                done
            })
        })
        .collect();
    let total: usize = handles.into_iter().map(|h| h.join().unwrap_or(0)).sum();
    total as f64 / start.elapsed().as_secs_f64()
}

/// Runs `request` back to back from `concurrency` tasks for `duration`; requests per second.
pub async fn closed_loop_async<F, Fut>(duration: Duration, concurrency: usize, request: F) -> f64
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let request = Arc::new(request);
    let start = tokio::time::Instant::now();
    let tasks: Vec<_> = (0..concurrency)
        .map(|w| {
            let request = request.clone();
            tokio::spawn(async move {
                let mut done = 0usize;
                while start.elapsed() < duration {
                    request(w * 1_000_000 + done).await;
                    done += 1;
                }
                done
            })
        })
        .collect();
    let mut total = 0;
    for task in tasks {
        total += task.await.unwrap_or(0);
    }
    total as f64 / start.elapsed().as_secs_f64()
}
