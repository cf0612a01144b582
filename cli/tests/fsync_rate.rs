//! `stan-fsync-rate` as a process: a short measurement in a temp directory
//! prints its rate and leaves nothing behind.

use std::process::Command;

const TOOL: &str = env!("CARGO_BIN_EXE_stan-fsync-rate");

#[test]
fn measures_a_directory() {
    let dir = std::env::temp_dir().join(format!("stan-fsync-rate-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let out = Command::new(TOOL)
        .args([
            "--dir",
            dir.to_str().unwrap(),
            "--seconds",
            "300ms",
            "--count",
            "50",
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{out:?}");
    let rate: f64 = stdout
        .lines()
        .find_map(|l| l.strip_prefix("syncs/s: "))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no rate in {stdout}"));
    assert!(rate > 0.0, "{stdout}");
    assert!(stdout.contains("appends of 136 bytes"), "{stdout}");
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 0);
    std::fs::remove_dir(&dir).unwrap();
}

#[test]
fn a_bad_command_line_is_refused() {
    let out = Command::new(TOOL)
        .args(["--sync", "never"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}
