//! `schemathesis` against a running hub with data in it: every operation of `GET /openapi.json`,
//! with examples that fit the description and examples that violate it, checks that every answer
//! conforms to the description (status, media type, headers, body schema) and that nothing
//! answers 500.
//!
//! Needs `pip install -r tests/python/requirements.txt` (CI's .ci/run does it); without it the
//! test fails and says so.

use std::process::Command;
use yiqi_schema::keys::{generate, public_key_text};
use yiqi_tests::client::HubClient;
use yiqi_tests::process::HubProcess;
use yiqi_tests::records::signed_batch;

/// Examples per operation and data-generation method: enough to cross every parameter's edge,
/// few enough that the run takes well under a minute.
const MAX_EXAMPLES: &str = "40";

/// The schemathesis CLI of the `python3` that `pip install` filled (no reliance on `PATH`
/// holding pip's script directory).
fn schemathesis() -> Command {
    let mut command = Command::new("python3");
    command.args(["-m", "schemathesis.cli"]);
    command
}

/// Fails (never skips) when schemathesis is not installed.
fn require_schemathesis() {
    let probe = schemathesis().arg("--version").output();
    assert!(
        probe.as_ref().is_ok_and(|o| o.status.success()),
        "schemathesis is missing ({probe:?}): run `pip install -r tests/python/requirements.txt`"
    );
}

/// Registers a region and publishes records into it, so reads find something.
async fn publish(client: &HubClient, region: &str, count: u64) {
    let key = generate();
    let key_text = public_key_text(&key.verifying_key());
    assert_eq!(
        client.register(region, &key_text).await.unwrap(),
        "accepted"
    );
    let envelopes = signed_batch(&key, region, &format!("{region}-I-"), 0..count, 1);
    let (status, body) = client.publish(&envelopes).await.unwrap();
    assert_eq!(status, 200, "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_running_hub_conforms_to_its_openapi_description() {
    require_schemathesis();
    let dir = tempfile::tempdir().unwrap();
    let hub = HubProcess::start(dir.path());
    let client = HubClient::new(&hub.url);
    publish(&client, "CN-BJ", 40).await;
    publish(&client, "CN-GS", 20).await;
    let output = schemathesis()
        .args(["run", &format!("{}/openapi.json", hub.url)])
        .args(["--base-url", &hub.url])
        .args(["--experimental", "openapi-3.1"])
        .args(["--data-generation-method", "all"])
        .args(["--hypothesis-max-examples", MAX_EXAMPLES])
        .arg("--hypothesis-derandomize")
        .args(["--hypothesis-suppress-health-check", "all"])
        .args(["--request-timeout", "35000"])
        .args(["--workers", "2", "--no-color", "--show-trace"])
        .args(["-c", "not_a_server_error", "-c", "status_code_conformance"])
        .args([
            "-c",
            "content_type_conformance",
            "-c",
            "response_headers_conformance",
        ])
        .args(["-c", "response_schema_conformance"])
        .current_dir(dir.path())
        .output()
        .expect("python3 runs");
    let (stdout, stderr) = (
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr),
    );
    eprintln!("{stdout}");
    assert!(
        output.status.success(),
        "schemathesis found failures:\n{stdout}\n{stderr}"
    );
}
