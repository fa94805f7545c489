//! A fault-injecting HTTP proxy on `127.0.0.1`, in front of the AWS emulator.
//!
//! The SDK clients under test reach moto through the proxy (their endpoint is
//! [`FaultProxy::endpoint`]); every request is matched against [`Rule`]s by its AWS action — the
//! `X-Amz-Target` header of the JSON protocols (`AWSEvents.PutEvents`,
//! `DynamoDB_20120810.PutItem`, `AmazonSQS.SendMessageBatch`, …) and optionally a piece of its
//! body (a table name) — and the first rule that fires decides what happens ([`Fault`]):
//!
//! | fault | reaches moto? | the client sees |
//! |---|---|---|
//! | [`Fault::Error`] | no | an AWS JSON error (`__type`, `message`) with the chosen status: 5xx, throttling, `ConditionalCheckFailedException`, … |
//! | [`Fault::Reset`] | no | the connection closed without an answer (an I/O error) |
//! | [`Fault::Blackhole`] | no | no answer for the given time, then a closed connection (a timeout when it is longer than the client's) |
//! | [`Fault::SlowAnswer`] | **yes** | moto's answer, held back for the given time: with a shorter client timeout the write happened but the client does not know (a retry duplicates it) |
//! | [`Fault::Succeed`] | no | after the given time, a well-formed success of its own: `PutEvents` every entry accepted, DynamoDB `PutItem`/`UpdateItem`/`DeleteItem` `{}` (for benchmarks: the latency without the emulator's CPU time) |
//! | [`Fault::FailEntries`] | the entries not failed, or all of them | a `PutEvents` answer in which a fraction of entries carry an `ErrorCode` (`ThrottlingException`, `InternalFailure`, …) and `FailedEntryCount` counts them; on SQS `SendMessageBatch`, an answer listing a fraction of the messages under `Failed` (with the code) |
//!
//! `FailEntries` has two modes. **Honest** (`forward_failed: false`): the failed entries are taken
//! out of the request before it is forwarded, so moto never sees them, and put back into the
//! answer, at their positions, as failed — what EventBridge does. **Lying** (`forward_failed:
//! true`): every entry is forwarded and accepted by moto, and the answer still says some failed —
//! the worst case for duplicates (an entry published and retried anyway).
//!
//! Whatever the fault, the proxy keeps the ground truth in its [`Exchange`] log: for `PutEvents`,
//! which entries moto actually accepted ([`EntryFate`]), in the order moto answered, and what the
//! client was told. Tests count publications from this log rather than from what the code under
//! test believes. With [`FaultProxy::capture_bodies`] on, request and response bodies are kept too
//! (for scanning everything the pipeline sends, e.g. the PII canary sweep).
//!
//! Rules are bounded ([`Rule::times`], [`Rule::skip`], [`Rule::probability`] with a seeded
//! generator), so a test's fault heals and the run ends. Only loopback addresses are used.

mod handle;

use crate::http1;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What the proxy does to a request a rule fires on.
#[derive(Clone, Debug, PartialEq)]
pub enum Fault {
    /// Answer without forwarding: this HTTP status with an AWS JSON error body
    /// `{"__type": code, "message": message}` (and the `x-amzn-ErrorType` header).
    Error {
        /// HTTP status (e.g. 500, 503, 400).
        status: u16,
        /// AWS error code (e.g. `ThrottlingException`, `ConditionalCheckFailedException`).
        code: String,
        /// Error message.
        message: String,
    },
    /// Close the connection without forwarding or answering.
    Reset,
    /// Hold the connection this long without forwarding, then close it.
    Blackhole(Duration),
    /// Forward at once, hold moto's answer this long, then send it.
    SlowAnswer(Duration),
    /// Answer success without forwarding, after this long: a `PutEvents` answer accepting every
    /// entry (each with a fresh `EventId`), `{}` for other actions (what DynamoDB's `PutItem`,
    /// `UpdateItem` and `DeleteItem` answer without return values). For benchmarks that model
    /// AWS latency without the emulator's own CPU time; nothing reaches moto.
    Succeed(Duration),
    /// `PutEvents` and SQS `SendMessageBatch` only (other actions pass): fail each entry with
    /// probability `fraction`, with one of `codes` (chosen in turn); see the module docs for the
    /// two modes.
    FailEntries {
        /// Probability that an entry fails (0.0–1.0).
        fraction: f64,
        /// Per-entry error codes to use, in turn.
        codes: Vec<String>,
        /// Forward the "failed" entries anyway (lying mode) instead of holding them back.
        forward_failed: bool,
    },
}

impl Fault {
    /// An AWS error answer.
    pub fn error(status: u16, code: &str, message: &str) -> Fault {
        Fault::Error {
            status,
            code: code.to_string(),
            message: message.to_string(),
        }
    }

    /// `503 ServiceUnavailable`.
    pub fn unavailable() -> Fault {
        Fault::error(503, "ServiceUnavailable", "injected: service unavailable")
    }

    /// `500 InternalFailure`.
    pub fn internal_error() -> Fault {
        Fault::error(500, "InternalFailure", "injected: internal failure")
    }

    /// `400 ThrottlingException`.
    pub fn throttling() -> Fault {
        Fault::error(400, "ThrottlingException", "injected: rate exceeded")
    }

    /// DynamoDB's `400 ConditionalCheckFailedException` (the write is not made).
    pub fn conditional_check_failed() -> Fault {
        Fault::error(
            400,
            "com.amazonaws.dynamodb.v20120810#ConditionalCheckFailedException",
            "injected: the conditional request failed",
        )
    }

    /// Fails a fraction of `PutEvents` entries (or SQS `SendMessageBatch` messages) without
    /// forwarding them (honest mode).
    pub fn fail_entries(fraction: f64, codes: &[&str]) -> Fault {
        Fault::FailEntries {
            fraction,
            codes: codes.iter().map(|c| c.to_string()).collect(),
            forward_failed: false,
        }
    }

    /// Fails a fraction of `PutEvents` entries in the answer although moto accepted them (lying
    /// mode).
    pub fn lie_about_entries(fraction: f64, codes: &[&str]) -> Fault {
        Fault::FailEntries {
            fraction,
            codes: codes.iter().map(|c| c.to_string()).collect(),
            forward_failed: true,
        }
    }

    fn describe(&self) -> String {
        match self {
            Fault::Error { status, code, .. } => {
                let code = code.rsplit('#').next().unwrap_or(code);
                format!("{status} {code}")
            }
            Fault::Reset => "reset".into(),
            Fault::Blackhole(d) => format!("blackhole {} ms", d.as_millis()),
            Fault::SlowAnswer(d) => format!("slow answer {} ms", d.as_millis()),
            Fault::Succeed(d) => format!("answered by the proxy after {} ms", d.as_millis()),
            Fault::FailEntries {
                fraction,
                forward_failed,
                ..
            } => format!(
                "{}% entries failed{}",
                (fraction * 100.0).round(),
                if *forward_failed { " (lying)" } else { "" }
            ),
        }
    }
}

/// Which requests a rule applies to, and how often it fires.
#[derive(Clone, Debug)]
pub struct Rule {
    target: String,
    body_contains: Option<String>,
    fault: Fault,
    skip: u64,
    times: Option<u64>,
    probability: f64,
    seed: u64,
}

impl Rule {
    /// A rule for requests whose `X-Amz-Target` is `target`. `"Prefix.*"` matches every action
    /// of a service (e.g. `"DynamoDB_20120810.*"`), `"*"` every request. Fires on every match
    /// until bounded.
    pub fn new(target: &str, fault: Fault) -> Rule {
        Rule {
            target: target.to_string(),
            body_contains: None,
            fault,
            skip: 0,
            times: None,
            probability: 1.0,
            seed: 0x9E37_79B9_7F4A_7C15,
        }
    }

    /// Only requests whose body contains this text (e.g. a table or queue name).
    pub fn body_contains(mut self, text: &str) -> Rule {
        self.body_contains = Some(text.to_string());
        self
    }

    /// Lets the first `n` matching requests through untouched.
    pub fn skip(mut self, n: u64) -> Rule {
        self.skip = n;
        self
    }

    /// Fires at most `n` times, then never again.
    pub fn times(mut self, n: u64) -> Rule {
        self.times = Some(n);
        self
    }

    /// Fires on a matching request with this probability (a seeded generator: runs repeat).
    pub fn probability(mut self, p: f64) -> Rule {
        self.probability = p.clamp(0.0, 1.0);
        self
    }

    /// Seeds the rule's generator (probability and `FailEntries` choices).
    pub fn seed(mut self, seed: u64) -> Rule {
        self.seed = seed.max(1);
        self
    }

    fn matches(&self, target: &str, body: &[u8]) -> bool {
        let target_ok = if self.target == "*" {
            true
        } else if let Some(prefix) = self.target.strip_suffix('*') {
            target.starts_with(prefix)
        } else {
            target == self.target
        };
        target_ok
            && self.body_contains.as_ref().is_none_or(|needle| {
                body.windows(needle.len().max(1))
                    .any(|w| w == needle.as_bytes())
            })
    }
}

/// A small deterministic generator (xorshift64*).
#[derive(Clone, Debug)]
struct Rng(u64);

impl Rng {
    fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[derive(Debug)]
struct RuleState {
    id: u64,
    rule: Rule,
    seen: u64,
    fired: u64,
    rng: Rng,
    next_code: usize,
}

/// Identifies a rule added with [`FaultProxy::add_rule`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct RuleId(u64);

/// What became of one `PutEvents` entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EntryFate {
    /// The entry's `Detail` as sent.
    pub detail: String,
    /// moto received the entry.
    pub reached_upstream: bool,
    /// moto accepted it (its result has an `EventId`): the entry is published.
    pub accepted: bool,
    /// The error code the client was told for this entry (`None`: success, or no answer).
    pub client_error: Option<String>,
}

/// One request through the proxy.
#[derive(Clone, Debug)]
pub struct Exchange {
    /// Order in which the request was decided: when moto answered it, or when the fault replaced
    /// the answer. Publications in this order are the order in which moto accepted them.
    pub order: u64,
    /// The `X-Amz-Target` header (empty for other protocols).
    pub target: String,
    /// The fault applied, described (`None`: passed through).
    pub fault: Option<String>,
    /// Whether the request (or part of it) was forwarded to moto.
    pub forwarded: bool,
    /// moto's status code, when forwarded and answered.
    pub upstream_status: Option<u16>,
    /// Whether the client was answered without delay. `false` for a reset or blackholed
    /// connection and for a slow answer (which the client may have given up on).
    pub answered_promptly: bool,
    /// The status the client was (or would be) told; `None` when the connection was closed.
    pub client_status: Option<u16>,
    /// The client gave up on the answer: writing it failed, or the client closed the connection
    /// within [`ABANDON_GRACE`] of the answer without sending another request on it — what an
    /// SDK client does when its attempt timeout fires (it drops the connection and retries).
    /// A request the client abandoned may still have reached moto: its publications are
    /// unacknowledged even though the proxy answered at once.
    pub abandoned: bool,
    /// For `PutEvents`: each entry of the request and what became of it.
    pub entries: Vec<EntryFate>,
    /// The request body, when capturing.
    pub request_body: Option<Vec<u8>>,
    /// The response body sent to the client, when capturing.
    pub response_body: Option<Vec<u8>>,
}

impl Exchange {
    /// The entries moto accepted while the client was not told so: no prompt answer (reset,
    /// blackhole, slow answer), an answer the client abandoned (its attempt timed out first, see
    /// [`Exchange::abandoned`]) or an answer that said the entry failed (lying mode). A retry may
    /// publish these again, under the same event id.
    pub fn unacknowledged_publications(&self) -> impl Iterator<Item = &EntryFate> {
        self.entries.iter().filter(move |f| {
            f.accepted && (!self.answered_promptly || self.abandoned || f.client_error.is_some())
        })
    }
}

#[derive(Debug)]
struct Shared {
    upstream: SocketAddr,
    rules: Mutex<Vec<RuleState>>,
    next_rule: AtomicU64,
    log: Mutex<Vec<Exchange>>,
    order: AtomicU64,
    capture: AtomicBool,
    logging: AtomicBool,
    requests: AtomicU64,
}

/// How soon after an answer a client's closing of the connection (with no further request on it)
/// counts as abandoning that answer. An SDK client whose attempt timed out drops the connection at
/// once (a loaded machine may delay that by a scheduling slice); one that read the answer keeps the
/// connection in its pool for reuse (idle timeout 90 s), so a close within this time is the
/// client not having read the answer.
pub const ABANDON_GRACE: Duration = Duration::from_secs(5);

/// The proxy; stops on drop.
#[derive(Debug)]
pub struct FaultProxy {
    server: http1::Server,
    shared: Arc<Shared>,
}

impl FaultProxy {
    /// Starts a proxy on a free `127.0.0.1` port forwarding to `upstream`
    /// (`http://127.0.0.1:PORT`, e.g. [`crate::Moto::endpoint`]). It runs on its own thread.
    ///
    /// # Panics
    /// When `upstream` is not an `http://` loopback address or no port can be bound.
    pub fn start(upstream: &str) -> FaultProxy {
        let upstream: SocketAddr = upstream
            .strip_prefix("http://")
            .and_then(|a| a.trim_end_matches('/').parse().ok())
            .filter(|a: &SocketAddr| a.ip().is_loopback())
            .unwrap_or_else(|| panic!("upstream must be http://127.0.0.1:PORT, got {upstream}"));
        let shared = Arc::new(Shared {
            upstream,
            rules: Mutex::new(Vec::new()),
            next_rule: AtomicU64::new(1),
            log: Mutex::new(Vec::new()),
            order: AtomicU64::new(0),
            capture: AtomicBool::new(false),
            logging: AtomicBool::new(true),
            requests: AtomicU64::new(0),
        });
        let s = shared.clone();
        let server = http1::Server::start("fault-proxy", 2, move |stream| {
            handle::serve(stream, s.clone())
        });
        FaultProxy { server, shared }
    }

    /// The proxy's endpoint URL (`http://127.0.0.1:PORT`), to give the SDK clients.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.server.addr())
    }

    /// Adds a rule after the existing ones (the first rule that fires on a request decides).
    pub fn add_rule(&self, rule: Rule) -> RuleId {
        let id = self.shared.next_rule.fetch_add(1, Ordering::SeqCst);
        let seed = rule.seed;
        self.shared.rules.lock().expect("rules").push(RuleState {
            id,
            rule,
            seen: 0,
            fired: 0,
            rng: Rng(seed),
            next_code: 0,
        });
        RuleId(id)
    }

    /// Removes a rule.
    pub fn remove_rule(&self, id: RuleId) {
        self.shared
            .rules
            .lock()
            .expect("rules")
            .retain(|r| r.id != id.0);
    }

    /// Removes every rule: requests pass through again.
    pub fn clear_rules(&self) {
        self.shared.rules.lock().expect("rules").clear();
    }

    /// How many times a rule fired so far (0 for a removed rule).
    pub fn fired(&self, id: RuleId) -> u64 {
        self.shared
            .rules
            .lock()
            .expect("rules")
            .iter()
            .find(|r| r.id == id.0)
            .map_or(0, |r| r.fired)
    }

    /// Keeps request and response bodies in the log from now on (or stops).
    pub fn capture_bodies(&self, on: bool) {
        self.shared.capture.store(on, Ordering::SeqCst);
    }

    /// Keeps exchanges in the log (the default) or not: a benchmark that only counts requests
    /// with [`FaultProxy::fired`] turns it off so the log does not grow with every entry's
    /// detail.
    pub fn keep_log(&self, on: bool) {
        self.shared.logging.store(on, Ordering::SeqCst);
    }

    /// The exchanges so far, in [`Exchange::order`].
    pub fn exchanges(&self) -> Vec<Exchange> {
        let mut log = self.shared.log.lock().expect("log").clone();
        log.sort_by_key(|e| e.order);
        log
    }

    /// Requests received so far.
    pub fn requests(&self) -> u64 {
        self.shared.requests.load(Ordering::SeqCst)
    }

    /// `PutEvents` entries moto accepted so far (a cheap progress counter).
    pub fn accepted_entries(&self) -> usize {
        self.shared
            .log
            .lock()
            .expect("log")
            .iter()
            .map(|e| e.entries.iter().filter(|f| f.accepted).count())
            .sum()
    }

    /// Forgets the exchanges logged so far.
    pub fn clear_log(&self) {
        self.shared.log.lock().expect("log").clear();
    }
}

/// An SDK config that reaches `endpoint` (the proxy) with dummy credentials, the slim rustls
/// client, and this per-attempt timeout (connect timeout 1 s) — so "slower than the client
/// timeout" faults stay short in tests.
pub async fn sdk_config_with_timeout(
    endpoint: &str,
    attempt_timeout: Duration,
) -> aws_config::SdkConfig {
    crate::sdk_config_with(endpoint, Some(attempt_timeout)).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_match_targets_and_bodies() {
        let r = Rule::new("DynamoDB_20120810.*", Fault::Reset).body_contains("ckpt");
        assert!(r.matches("DynamoDB_20120810.PutItem", b"{\"TableName\":\"ckpt\"}"));
        assert!(!r.matches("DynamoDB_20120810.PutItem", b"{\"TableName\":\"state\"}"));
        assert!(!r.matches("AWSEvents.PutEvents", b"ckpt"));
        assert!(Rule::new("*", Fault::Reset).matches("", b""));
        assert!(Rule::new("AWSEvents.PutEvents", Fault::Reset).matches("AWSEvents.PutEvents", b""));
    }

    /// A client that drops the connection before the answer (its timeout) abandoned it; one that
    /// reads the answer and keeps the connection did not.
    #[test]
    fn answers_the_client_gave_up_on_are_abandoned() {
        use std::io::{Read, Write};
        // Nothing listens upstream: `Succeed` answers without forwarding.
        let proxy = FaultProxy::start("http://127.0.0.1:9");
        proxy.add_rule(Rule::new(
            "AWSEvents.PutEvents",
            Fault::Succeed(Duration::from_millis(300)),
        ));
        let body = r#"{"Entries":[{"Detail":"{\"eventId\":\"a\"}"}]}"#;
        let request = format!(
            "POST / HTTP/1.1\r\nhost: x\r\nx-amz-target: AWSEvents.PutEvents\r\ncontent-type: application/x-amz-json-1.1\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        );
        let addr = proxy.endpoint().trim_start_matches("http://").to_string();
        // Gives up before the answer.
        let mut gone = std::net::TcpStream::connect(&addr).unwrap();
        gone.write_all(request.as_bytes()).unwrap();
        drop(gone);
        // Reads the answer and keeps the connection.
        let mut kept = std::net::TcpStream::connect(&addr).unwrap();
        kept.write_all(request.as_bytes()).unwrap();
        let mut buf = [0u8; 4096];
        let mut got = Vec::new();
        while !String::from_utf8_lossy(&got).contains("FailedEntryCount") {
            let n = kept.read(&mut buf).unwrap();
            assert!(n > 0, "answered");
            got.extend_from_slice(&buf[..n]);
        }
        std::thread::sleep(Duration::from_millis(200));
        let log = proxy.exchanges();
        assert_eq!(log.len(), 2);
        assert_eq!(log.iter().filter(|e| e.abandoned).count(), 1, "{log:?}");
        assert!(log
            .iter()
            .all(|e| e.answered_promptly && e.client_status == Some(200)));
        drop(kept);
    }

    #[test]
    fn generator_is_uniform_enough() {
        let mut g = Rng(7);
        let n = 10_000;
        let hits = (0..n).filter(|_| g.next_f64() < 0.3).count();
        assert!((2_700..3_300).contains(&hits), "{hits}");
    }
}
