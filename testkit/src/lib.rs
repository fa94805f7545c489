//! Test support shared by the workspace's integration tests.
//!
//! [`Moto`] starts moto in server mode (a real AWS API emulator, installed into `.venv` by
//! `scripts/setup.sh`) on `127.0.0.1` with a free port, and [`Moto::sdk_config`] builds an
//! `aws_config::SdkConfig` that reaches it through an endpoint override with dummy static
//! credentials — the real aws-sdk-rust clients, no real AWS. moto runs through
//! `testkit/moto_server.py`, which fixes one emulator bug: moto's Kinesis shard is not safe for
//! concurrent `PutRecords` calls (two records can get one sequence number, one is lost), while
//! the relay keeps several calls in flight as real Kinesis allows.
//!
//! [`Stack`] creates the pipeline's resources in moto (stream, bus with a rule into a queue, the
//! DynamoDB tables, the dead-letter queues, the HMAC key secret; optionally behind a
//! [`fault_proxy::FaultProxy`]) and the processor's environment for them: one builder for every
//! crate's tests and benchmarks.
//!
//! [`Postgres`] starts a throwaway PostgreSQL server the same way (see [`postgres`]).
//!
//! A missing emulator is a test failure with instructions, never a silent skip.

pub mod dynamodb;
pub mod fault_proxy;
mod http1;
pub mod lambda_runtime_api;
pub mod model_kinesis;
pub mod postgres;
pub mod stack;

pub use postgres::Postgres;
pub use stack::Stack;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running moto server; killed on drop.
#[derive(Debug)]
pub struct Moto {
    child: Child,
    port: u16,
}

/// The workspace root (this crate lives directly under it).
pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("testkit lives in the workspace root")
        .to_path_buf()
}

/// The example row of a table (`model-schemas/examples/<table>.json`): a JSON object with every
/// column, valid against the table's schema.
pub fn example_row(table: &str) -> serde_json::Map<String, serde_json::Value> {
    let path = workspace_root().join(format!("model-schemas/examples/{table}.json"));
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The command that starts the emulator: `$MOTO_SERVER` when set, else `testkit/moto_server.py`
/// (moto's server with its Kinesis shard race fixed, see that file) under `.venv`'s Python, else
/// `.venv/bin/moto_server`, else `moto_server` from `PATH`.
fn moto_command() -> (PathBuf, Vec<String>) {
    if let Ok(p) = std::env::var("MOTO_SERVER") {
        return (PathBuf::from(p), Vec::new());
    }
    let root = workspace_root();
    let python = root.join(".venv/bin/python");
    let script = root.join("testkit/moto_server.py");
    if python.exists() && script.exists() {
        return (python, vec![script.display().to_string()]);
    }
    let venv = root.join(".venv/bin/moto_server");
    if venv.exists() {
        return (venv, Vec::new());
    }
    (PathBuf::from("moto_server"), Vec::new())
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// One plain HTTP/1.1 request to the emulator (for its `/moto-api` control endpoints).
fn http(port: u16, method: &str, path: &str) -> std::io::Result<String> {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_millis(500))?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )?;
    let mut out = String::new();
    s.read_to_string(&mut out)?;
    Ok(out)
}

impl Moto {
    /// Starts moto on a free loopback port and waits until it answers.
    ///
    /// # Panics
    /// When `moto_server` cannot be started: run `scripts/setup.sh` (the README's test command
    /// does).
    pub fn start() -> Moto {
        let (bin, script) = moto_command();
        let mut last_err = String::new();
        for _ in 0..3 {
            let port = free_port();
            let child = Command::new(&bin)
                .args(&script)
                .args(["-H", "127.0.0.1", "-p", &port.to_string()])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap_or_else(|e| {
                    panic!(
                        "cannot start the AWS emulator `{}`: {e}. Run `scripts/setup.sh` (it installs moto[server] into .venv)",
                        bin.display()
                    )
                });
            let mut moto = Moto { child, port };
            let deadline = Instant::now() + Duration::from_secs(30);
            while Instant::now() < deadline {
                if let Ok(Some(status)) = moto.child.try_wait() {
                    last_err = format!("moto exited early with {status}");
                    break;
                }
                if http(port, "GET", "/moto-api/").is_ok_and(|r| r.starts_with("HTTP/1.")) {
                    return moto;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            if last_err.is_empty() {
                last_err = "moto did not answer within 30 s".to_string();
            }
        }
        panic!("cannot start the AWS emulator: {last_err}");
    }

    /// The emulator's endpoint URL (`http://127.0.0.1:PORT`).
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The emulator's port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Clears every emulated resource.
    pub fn reset(&self) {
        http(self.port, "POST", "/moto-api/reset").expect("moto reset");
    }

    /// An SDK config for the emulator: region `us-east-1`, dummy static credentials, endpoint
    /// override, rustls with ring.
    pub async fn sdk_config(&self) -> aws_config::SdkConfig {
        sdk_config_for(&self.endpoint()).await
    }
}

/// An SDK config reaching `endpoint` with dummy credentials (for the emulator or a fault proxy in
/// front of it).
pub async fn sdk_config_for(endpoint: &str) -> aws_config::SdkConfig {
    sdk_config_with(endpoint, None).await
}

/// [`sdk_config_for`], with this per-attempt timeout (and a 1 s connect timeout) when given.
async fn sdk_config_with(
    endpoint: &str,
    attempt_timeout: Option<Duration>,
) -> aws_config::SdkConfig {
    use aws_config::timeout::TimeoutConfig;
    use aws_smithy_http_client::tls;
    let http_client = aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(
            tls::rustls_provider::CryptoMode::Ring,
        ))
        .build_https();
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_types::region::Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .credentials_provider(aws_credential_types::Credentials::new(
            "testing", "testing", None, None, "static",
        ))
        .http_client(http_client);
    if let Some(attempt) = attempt_timeout {
        loader = loader.timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(1))
                .operation_attempt_timeout(attempt)
                .build(),
        );
    }
    loader.load().await
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
