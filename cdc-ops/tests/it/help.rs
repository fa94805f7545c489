//! `--help` of every binary exits 0 without AWS: no region, no credentials, no endpoint, no Lambda
//! runtime API in the environment; an unknown flag exits 2 with a usage message instead of
//! reaching for AWS.

use std::process::Command;

const BINARIES: [(&str, &str); 3] = [
    ("cdc-ops", env!("CARGO_BIN_EXE_cdc-ops")),
    ("health-check", env!("CARGO_BIN_EXE_health-check")),
    (
        "dead-letter-processor",
        env!("CARGO_BIN_EXE_dead-letter-processor"),
    ),
];

fn bare(bin: &str) -> Command {
    let mut c = Command::new(bin);
    c.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .current_dir(std::env::temp_dir());
    c
}

#[test]
fn help_exits_zero_without_aws() {
    for (name, bin) in BINARIES {
        let out = bare(bin).arg("--help").output().expect("binary runs");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{name} --help: {stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(stdout.contains("Usage:"), "{name} --help printed {stdout}");
        assert!(!stdout.contains("npm run"), "{name} --help names npm run");
    }
}

#[test]
fn unknown_flags_exit_two_without_aws() {
    for (name, bin) in BINARIES {
        let out = bare(bin)
            .arg("--no-such-flag")
            .output()
            .expect("binary runs");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{name}: {stderr}");
        assert!(stderr.contains("--no-such-flag"), "{name}: {stderr}");
        assert!(
            !stderr.contains("AWS_REGION"),
            "{name} reached for AWS: {stderr}"
        );
    }
}
