//! The `yiqi-hub` binary's command line (this file also makes `cargo test` build the binary
//! that the end-to-end suites in `tests/` run).

use std::process::Command;

#[test]
fn refuses_a_bad_listen_address_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_yiqi-hub"))
        .args(["serve", "--listen", "not-an-address", "--data"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("listen address"));
}
