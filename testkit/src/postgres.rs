//! A throwaway PostgreSQL server for tests, beside [`crate::Moto`].
//!
//! The server binaries come from `$PG_BINDIR`, else `pg_config --bindir` (they are not on `PATH`
//! on Debian). `initdb` runs once per machine user into a template under the system temporary
//! directory; each [`Postgres::start`] copies the template (≈ 0.1 s), starts a server on a free
//! loopback port with `fsync=off` and `track_commit_timestamp=on`, and [`Drop`] stops it and removes
//! its data. PostgreSQL refuses to run as root, so as root every server command runs as the
//! `postgres` user through `runuser` (CI runs as root).
//!
//! A missing server is a test failure with instructions, never a silent skip.

use crate::free_port;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

/// A running PostgreSQL server; stopped and deleted on drop.
#[derive(Debug)]
pub struct Postgres {
    dir: PathBuf,
    port: u16,
}

fn bindir() -> PathBuf {
    if let Some(dir) = std::env::var_os("PG_BINDIR") {
        return PathBuf::from(dir);
    }
    let out = Command::new("pg_config")
        .arg("--bindir")
        .output()
        .expect("`pg_config` runs: install the PostgreSQL server (postgresql-15) or set PG_BINDIR");
    assert!(out.status.success(), "`pg_config --bindir` failed");
    PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// A command for a server binary, run as `postgres` when we are root.
fn server_command(program: &str) -> Command {
    let path = bindir().join(program);
    if is_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(path);
        c
    } else {
        Command::new(path)
    }
}

fn run(mut command: Command, what: &str) -> Output {
    let out = command
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("{what}: cannot run it: {e}"));
    assert!(
        out.status.success(),
        "{what} failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// A fresh directory under the system temporary directory, owned by the server's user.
fn fresh_dir(prefix: &str) -> PathBuf {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let dir = std::env::temp_dir().join(format!(
        "{prefix}-{}-{}-{nanos}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).expect("a temporary directory");
    if is_root() {
        run(
            {
                let mut c = Command::new("chown");
                c.arg("postgres:postgres").arg(&dir);
                c
            },
            "chown postgres",
        );
    }
    dir
}

/// The template data directory, created once (per machine user; shared by test processes).
fn template() -> &'static Path {
    static TEMPLATE: OnceLock<PathBuf> = OnceLock::new();
    TEMPLATE.get_or_init(|| {
        let uid = if is_root() { "root" } else { "user" };
        let target = std::env::temp_dir().join(format!("cdc-testkit-pg15-template-{uid}"));
        if target.join("data/PG_VERSION").exists() {
            return target;
        }
        // initdb into a private folder, then rename it into place: a concurrent test process
        // either wins the rename or finds the template complete.
        let staging = fresh_dir("cdc-testkit-pg-initdb");
        let mut c = server_command("initdb");
        c.arg("-D")
            .arg(staging.join("data"))
            .args(["-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8"])
            .args(["--locale=C.UTF-8"]);
        run(c, "initdb");
        if std::fs::rename(&staging, &target).is_err() {
            let _ = std::fs::remove_dir_all(&staging);
        }
        assert!(
            target.join("data/PG_VERSION").exists(),
            "the PostgreSQL template at {} is incomplete",
            target.display()
        );
        target
    })
}

impl Postgres {
    /// Copies the template and starts a server on a free loopback port.
    ///
    /// # Panics
    /// When the PostgreSQL 15 server binaries cannot be found or the server does not start.
    pub fn start() -> Postgres {
        let template = template();
        let mut last_err = String::new();
        for _ in 0..3 {
            let dir = fresh_dir("cdc-testkit-pg");
            let mut cp = if is_root() {
                let mut c = Command::new("runuser");
                c.args(["-u", "postgres", "--", "cp", "-a"]);
                c
            } else {
                let mut c = Command::new("cp");
                c.arg("-a");
                c
            };
            cp.arg(template.join("data")).arg(dir.join("data"));
            run(cp, "copying the PostgreSQL template");
            let port = free_port();
            let options = format!(
                "-k {} -p {port} -c listen_addresses=127.0.0.1 -c fsync=off \
                 -c synchronous_commit=off -c full_page_writes=off \
                 -c track_commit_timestamp=on -c max_connections=100",
                dir.display()
            );
            let out = server_command("pg_ctl")
                .arg("-D")
                .arg(dir.join("data"))
                .arg("-l")
                .arg(dir.join("server.log"))
                .args(["-w", "-t", "30", "-o", &options, "start"])
                .stdin(Stdio::null())
                .output()
                .expect("pg_ctl runs");
            if out.status.success() {
                return Postgres { dir, port };
            }
            last_err = format!(
                "{}\n{}",
                String::from_utf8_lossy(&out.stderr),
                std::fs::read_to_string(dir.join("server.log")).unwrap_or_default()
            );
            let _ = std::fs::remove_dir_all(&dir);
        }
        panic!("PostgreSQL did not start: {last_err}");
    }

    /// The server's port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// A connection string for the `postgres` superuser and database (no password: trust).
    pub fn url(&self) -> String {
        format!(
            "host=127.0.0.1 port={} user=postgres dbname=postgres",
            self.port
        )
    }

    /// The data directory.
    pub fn data_dir(&self) -> PathBuf {
        self.dir.join("data")
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let _ = server_command("pg_ctl")
            .arg("-D")
            .arg(self.dir.join("data"))
            .args(["-m", "immediate", "-w", "stop"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
