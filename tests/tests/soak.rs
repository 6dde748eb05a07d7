//! One minute of `yiqi-bench soak`: three nodes import, publish and sync continuously, searches
//! run, and the hub is SIGKILLed and restarted twice; nothing acknowledged is lost, the feed is
//! gapless and every mirror equals the hub. The last 20 seconds publish edits only, as the full
//! run's memory window does.

use std::time::Duration;
use yiqi_tests::bench::soak::{Options, run};

#[test]
fn a_minute_of_load_with_two_hub_kills_loses_nothing() {
    let outcome = run(&Options {
        duration: Duration::from_secs(60),
        kill_every: Duration::from_secs(20),
        rate: 300.0,
        search_rate: 20.0,
        sync_every: Duration::from_secs(4),
        steady_after: Some(Duration::from_secs(40)),
        json: None,
    })
    .unwrap();
    assert!(outcome.sound(), "{outcome:?}");
    assert_eq!(outcome.kills, 2);
    assert!(outcome.published > 1_000, "{outcome:?}");
}
