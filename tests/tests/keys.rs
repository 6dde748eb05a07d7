//! Region keys come from a root the hub does not hold: a hub refuses to start without one, and a
//! hub cannot admit a region key that no root or region key signed.

use std::process::{Command, Stdio};
use yiqi_schema::keys::{generate, public_key_text};
use yiqi_schema::protocol::keys::KeyStatus;
use yiqi_tests::client::HubClient;
use yiqi_tests::process::{HubProcess, binary, test_root, test_root_public};

#[test]
fn a_hub_without_a_root_key_refuses_to_start_and_says_how_to_make_one() {
    let data = tempfile::tempdir().unwrap();
    let output = Command::new(binary("yiqi-hub"))
        .args(["serve", "--listen", "127.0.0.1:0", "--data"])
        .arg(data.path())
        .env_remove("YIQI_ROOT_KEY")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("no root key") && stderr.contains("yiqi-node keygen --out root.pem"),
        "{stderr}"
    );
}

#[tokio::test]
async fn a_hub_started_with_another_root_cannot_admit_a_key() {
    let data = tempfile::tempdir().unwrap();
    // This hub trusts a root of its own, not the federation's.
    let other_root = public_key_text(&generate().verifying_key());
    let hub = HubProcess::start_with_root(data.path(), "127.0.0.1:0", &other_root);
    let client = HubClient::new(&hub.url);
    let region_key = public_key_text(&generate().verifying_key());
    // Signed by the federation's root, which this hub does not know: for CN-BJ, which has no
    // keys, nothing but this hub's root could sign it.
    let result = client
        .key_record("CN-BJ", &region_key, KeyStatus::Active, &test_root())
        .await
        .unwrap();
    assert_eq!(result["status"], "rejected", "{result}");
    assert_eq!(result["error"]["code"], "unknown_key");
    assert_eq!(result["error"]["pointer"], "/signature/key");
    let (_, regions) = client.get("/v1/regions").await.unwrap();
    assert_eq!(regions["regions"], serde_json::json!([]));
    let (_, health) = client.get("/healthz").await.unwrap();
    assert_eq!(health["last_seq"], 0, "nothing was logged");
    assert_ne!(other_root, test_root_public());
}
