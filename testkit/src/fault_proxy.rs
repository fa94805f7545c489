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

use crate::http1::{self, Message};
use serde_json::Value;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::BufReader;
use tokio::net::{TcpListener, TcpStream};

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
    addr: SocketAddr,
    shared: Arc<Shared>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
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
        let std_listener =
            std::net::TcpListener::bind("127.0.0.1:0").expect("a free loopback port for the proxy");
        std_listener
            .set_nonblocking(true)
            .expect("non-blocking listener");
        let addr = std_listener.local_addr().expect("bound address");
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
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let s = shared.clone();
        let thread = std::thread::Builder::new()
            .name("fault-proxy".into())
            .spawn(move || {
                let rt = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .enable_all()
                    .build()
                    .expect("proxy runtime");
                rt.block_on(async move {
                    let listener = TcpListener::from_std(std_listener).expect("tokio listener");
                    tokio::select! {
                        _ = rx => {}
                        _ = accept_loop(listener, s) => {}
                    }
                });
                rt.shutdown_timeout(Duration::from_secs(1));
            })
            .expect("proxy thread");
        FaultProxy {
            addr,
            shared,
            shutdown: Some(tx),
            thread: Some(thread),
        }
    }

    /// The proxy's endpoint URL (`http://127.0.0.1:PORT`), to give the SDK clients.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
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

impl Drop for FaultProxy {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        let s = shared.clone();
        tokio::spawn(async move {
            let _ = serve(stream, s).await;
        });
    }
}

/// A distinct number per call (for the event ids of [`Fault::Succeed`]).
fn rand_id() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// The SQS action whose entries [`Fault::FailEntries`] can fail.
const SEND_MESSAGE_BATCH: &str = "AmazonSQS.SendMessageBatch";

/// What to do with a request, decided under the rules lock.
enum Decision {
    Pass,
    Apply(Fault, Vec<Option<String>>),
}

fn decide(shared: &Shared, target: &str, body: &[u8]) -> (Decision, Option<String>) {
    let mut rules = shared.rules.lock().expect("rules");
    for r in rules.iter_mut() {
        if !r.rule.matches(target, body) {
            continue;
        }
        if let Fault::FailEntries { .. } = r.rule.fault {
            if target != "AWSEvents.PutEvents" && target != SEND_MESSAGE_BATCH {
                continue;
            }
        }
        r.seen += 1;
        if r.seen <= r.rule.skip || r.rule.times.is_some_and(|t| r.fired >= t) {
            continue;
        }
        if r.rule.probability < 1.0 && r.rng.next_f64() >= r.rule.probability {
            continue;
        }
        r.fired += 1;
        let description = Some(r.rule.fault.describe());
        // Per-entry choices are made here, under the lock, so runs are repeatable.
        let choices = match &r.rule.fault {
            Fault::FailEntries {
                fraction, codes, ..
            } => {
                let n = serde_json::from_slice::<Value>(body)
                    .ok()
                    .and_then(|v| v["Entries"].as_array().map(Vec::len))
                    .unwrap_or(0);
                (0..n)
                    .map(|_| {
                        if r.rng.next_f64() < *fraction && !codes.is_empty() {
                            let c = codes[r.next_code % codes.len()].clone();
                            r.next_code += 1;
                            Some(c)
                        } else {
                            None
                        }
                    })
                    .collect()
            }
            _ => Vec::new(),
        };
        return (Decision::Apply(r.rule.fault.clone(), choices), description);
    }
    (Decision::Pass, None)
}

async fn serve(stream: TcpStream, shared: Arc<Shared>) -> std::io::Result<()> {
    stream.set_nodelay(true)?;
    let (rd, mut wr) = stream.into_split();
    let mut rd = BufReader::new(rd);
    // The order of the last answer written on this connection, and when it was written: if
    // the client closes the connection soon after without another request, it abandoned it.
    let mut last_answer: Option<(u64, std::time::Instant)> = None;
    loop {
        let head = http1::read_head(&mut rd).await;
        let mut req = match head {
            Ok(Some(req)) => req,
            Ok(None) | Err(_) => {
                if let Some((i, at)) = last_answer {
                    if at.elapsed() < ABANDON_GRACE {
                        mark_abandoned(&shared, i);
                    }
                }
                return head.map(|_| ());
            }
        };
        if req
            .header("expect")
            .is_some_and(|v| v.eq_ignore_ascii_case("100-continue"))
        {
            use tokio::io::AsyncWriteExt;
            wr.write_all(b"HTTP/1.1 100 Continue\r\n\r\n").await?;
        }
        http1::read_body(&mut rd, &mut req, false).await?;
        shared.requests.fetch_add(1, Ordering::SeqCst);
        let close = req.wants_close();
        let (resp, order) = handle(&shared, req).await;
        let Some(resp) = resp else {
            return Ok(());
        };
        if let Err(e) = http1::write_message(&mut wr, &resp, close).await {
            mark_abandoned(&shared, order);
            return Err(e);
        }
        last_answer = Some((order, std::time::Instant::now()));
        if close {
            return Ok(());
        }
    }
}

/// Marks the exchange with this [`Exchange::order`] abandoned (it may have been cleared).
fn mark_abandoned(shared: &Shared, order: u64) {
    let mut log = shared.log.lock().expect("log");
    if let Some(ex) = log.iter_mut().rev().find(|e| e.order == order) {
        ex.abandoned = true;
    }
}

fn error_message(status: u16, code: &str, message: &str) -> Message {
    let short = code.rsplit('#').next().unwrap_or(code);
    let body = serde_json::json!({"__type": code, "message": message}).to_string();
    http1::json_response(
        status,
        http1::reason(status),
        &[("x-amzn-ErrorType", short)],
        body.into_bytes(),
    )
}

async fn forward(upstream: SocketAddr, req: &Message) -> std::io::Result<Message> {
    let io = async {
        let stream = TcpStream::connect(upstream).await?;
        stream.set_nodelay(true)?;
        let (rd, mut wr) = stream.into_split();
        let mut out = req.clone();
        out.start = {
            let (method, path) = req.request_line();
            format!("{method} {path} HTTP/1.1")
        };
        http1::write_message(&mut wr, &out, true).await?;
        let mut rd = BufReader::new(rd);
        http1::read_message(&mut rd, true).await?.ok_or_else(|| {
            std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "upstream closed without answering",
            )
        })
    };
    tokio::time::timeout(Duration::from_secs(60), io)
        .await
        .unwrap_or_else(|_| {
            Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "upstream did not answer within 60 s",
            ))
        })
}

fn details_of(body: &[u8]) -> Vec<String> {
    serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|v| {
            v["Entries"].as_array().map(|a| {
                a.iter()
                    .map(|e| e["Detail"].as_str().unwrap_or_default().to_string())
                    .collect()
            })
        })
        .unwrap_or_default()
}

/// Per entry of a PutEvents answer: accepted (an `EventId`, no `ErrorCode`)?
fn accepted_of(body: &[u8], n: usize) -> Vec<bool> {
    let v: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    (0..n)
        .map(|i| {
            let e = &v["Entries"][i];
            e.get("ErrorCode").is_none_or(Value::is_null) && e.get("EventId").is_some()
        })
        .collect()
}

/// Decides, forwards and logs one request; returns the answer (`None`: close the connection) and
/// the exchange's [`Exchange::order`].
async fn handle(shared: &Shared, req: Message) -> (Option<Message>, u64) {
    let target = req.header("x-amz-target").unwrap_or("").to_string();
    let is_put_events = target == "AWSEvents.PutEvents";
    let (decision, fault_name) = decide(shared, &target, &req.body);
    let capture = shared.capture.load(Ordering::SeqCst);
    let details = if is_put_events {
        details_of(&req.body)
    } else {
        Vec::new()
    };
    let mut ex = Exchange {
        order: 0,
        target: target.clone(),
        fault: fault_name,
        forwarded: false,
        upstream_status: None,
        answered_promptly: true,
        client_status: None,
        abandoned: false,
        entries: details
            .iter()
            .map(|d| EntryFate {
                detail: d.clone(),
                reached_upstream: false,
                accepted: false,
                client_error: None,
            })
            .collect(),
        request_body: capture.then(|| req.body.clone()),
        response_body: None,
    };
    let bad_gateway = |e: std::io::Error| {
        error_message(
            502,
            "ProxyUpstreamError",
            &format!("fault proxy: upstream failed: {e}"),
        )
    };

    let (response, delay) = match decision {
        Decision::Pass => {
            let resp = match forward(shared.upstream, &req).await {
                Ok(r) => {
                    ex.forwarded = true;
                    ex.upstream_status = Some(r.status());
                    if is_put_events {
                        let ok = accepted_of(&r.body, ex.entries.len());
                        for (f, a) in ex.entries.iter_mut().zip(ok) {
                            f.reached_upstream = true;
                            f.accepted = a && r.status() == 200;
                        }
                    }
                    r
                }
                Err(e) => bad_gateway(e),
            };
            (Some(resp), None)
        }
        Decision::Apply(fault, choices) => match fault {
            Fault::Error {
                status,
                code,
                message,
            } => (Some(error_message(status, &code, &message)), None),
            Fault::Reset => {
                ex.answered_promptly = false;
                (None, None)
            }
            Fault::Blackhole(d) => {
                ex.answered_promptly = false;
                (None, Some(d))
            }
            Fault::SlowAnswer(d) => {
                ex.answered_promptly = false;
                let resp = match forward(shared.upstream, &req).await {
                    Ok(r) => {
                        ex.forwarded = true;
                        ex.upstream_status = Some(r.status());
                        if is_put_events {
                            let ok = accepted_of(&r.body, ex.entries.len());
                            for (f, a) in ex.entries.iter_mut().zip(ok) {
                                f.reached_upstream = true;
                                f.accepted = a && r.status() == 200;
                            }
                        }
                        r
                    }
                    Err(e) => bad_gateway(e),
                };
                (Some(resp), Some(d))
            }
            Fault::Succeed(d) => {
                let body = if is_put_events {
                    let entries: Vec<Value> = (0..ex.entries.len())
                        .map(|_| {
                            let n = shared.order.load(Ordering::Relaxed);
                            serde_json::json!({"EventId": format!("proxy-{n:016x}-{:08x}", rand_id())})
                        })
                        .collect();
                    serde_json::json!({"FailedEntryCount": 0, "Entries": entries}).to_string()
                } else {
                    "{}".to_string()
                };
                (
                    Some(http1::json_response(200, "OK", &[], body.into_bytes())),
                    Some(d),
                )
            }
            Fault::FailEntries { forward_failed, .. } if !is_put_events => {
                let resp = fail_messages(shared, &req, &mut ex, &choices, forward_failed).await;
                (Some(resp.unwrap_or_else(bad_gateway)), None)
            }
            Fault::FailEntries { forward_failed, .. } => {
                let resp = fail_entries(shared, &req, &mut ex, &choices, forward_failed).await;
                (Some(resp.unwrap_or_else(bad_gateway)), None)
            }
        },
    };
    ex.client_status = response.as_ref().map(Message::status);
    if let (Some(r), true) = (&response, capture) {
        ex.response_body = Some(r.body.clone());
    }
    let order = shared.order.fetch_add(1, Ordering::SeqCst);
    ex.order = order;
    if shared.logging.load(Ordering::SeqCst) {
        shared.log.lock().expect("log").push(ex);
    }
    if let Some(d) = delay {
        tokio::time::sleep(d).await;
    }
    (response, order)
}

/// `FailEntries` on a `PutEvents` request: forwards the kept entries (or all, lying) and builds
/// the answer with the chosen entries failed at their positions.
async fn fail_entries(
    shared: &Shared,
    req: &Message,
    ex: &mut Exchange,
    choices: &[Option<String>],
    forward_failed: bool,
) -> std::io::Result<Message> {
    let mut json: Value = serde_json::from_slice(&req.body)
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?;
    let all: Vec<Value> = json["Entries"].as_array().cloned().unwrap_or_default();
    let failed = |i: usize| choices.get(i).cloned().flatten();
    let to_send: Vec<usize> = (0..all.len())
        .filter(|&i| forward_failed || failed(i).is_none())
        .collect();
    // moto's result per original index, for the entries it received.
    let mut upstream_results: Vec<Option<Value>> = vec![None; all.len()];
    let mut upstream_status = 200;
    if !to_send.is_empty() {
        json["Entries"] = Value::Array(to_send.iter().map(|&i| all[i].clone()).collect());
        let mut fwd = req.clone();
        fwd.body = serde_json::to_vec(&json)?;
        let resp = forward(shared.upstream, &fwd).await?;
        ex.forwarded = true;
        ex.upstream_status = Some(resp.status());
        upstream_status = resp.status();
        if resp.status() != 200 {
            // A whole-call failure from moto: pass it on unchanged.
            for &i in &to_send {
                ex.entries[i].reached_upstream = true;
            }
            return Ok(resp);
        }
        let v: Value = serde_json::from_slice(&resp.body).unwrap_or(Value::Null);
        for (k, &i) in to_send.iter().enumerate() {
            let r = v["Entries"][k].clone();
            ex.entries[i].reached_upstream = true;
            ex.entries[i].accepted =
                r.get("ErrorCode").is_none_or(Value::is_null) && r.get("EventId").is_some();
            upstream_results[i] = Some(r);
        }
    }
    let mut out = Vec::with_capacity(all.len());
    let mut failed_count = 0;
    for (i, upstream) in upstream_results.into_iter().enumerate() {
        let r = match failed(i) {
            Some(code) => {
                ex.entries[i].client_error = Some(code.clone());
                serde_json::json!({"ErrorCode": code, "ErrorMessage": format!("injected {code}")})
            }
            None => upstream.unwrap_or_else(|| {
                serde_json::json!({"ErrorCode": "InternalFailure", "ErrorMessage": "fault proxy: no upstream result"})
            }),
        };
        if r.get("ErrorCode").is_some_and(|c| !c.is_null()) {
            failed_count += 1;
            if ex.entries[i].client_error.is_none() {
                ex.entries[i].client_error = r["ErrorCode"].as_str().map(str::to_string);
            }
        }
        out.push(r);
    }
    let body = serde_json::json!({"FailedEntryCount": failed_count, "Entries": out}).to_string();
    Ok(http1::json_response(
        upstream_status,
        http1::reason(upstream_status),
        &[],
        body.into_bytes(),
    ))
}

/// `FailEntries` on an SQS `SendMessageBatch` request: forwards the messages not failed (or all,
/// lying) and answers with the chosen ones under `Failed` (`SenderFault: false`, the code), the
/// others as moto answered them. Whether a failed message reached moto is in
/// [`Exchange::forwarded`] only (SQS batches have no per-entry log).
async fn fail_messages(
    shared: &Shared,
    req: &Message,
    ex: &mut Exchange,
    choices: &[Option<String>],
    forward_failed: bool,
) -> std::io::Result<Message> {
    let mut json: Value = serde_json::from_slice(&req.body)
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?;
    let all: Vec<Value> = json["Entries"].as_array().cloned().unwrap_or_default();
    let failed = |i: usize| choices.get(i).cloned().flatten();
    let to_send: Vec<Value> = (0..all.len())
        .filter(|&i| forward_failed || failed(i).is_none())
        .map(|i| all[i].clone())
        .collect();
    let mut successful = Vec::new();
    let mut failures = Vec::new();
    let mut status = 200;
    if !to_send.is_empty() {
        json["Entries"] = Value::Array(to_send);
        let mut fwd = req.clone();
        fwd.body = serde_json::to_vec(&json)?;
        let resp = forward(shared.upstream, &fwd).await?;
        ex.forwarded = true;
        ex.upstream_status = Some(resp.status());
        status = resp.status();
        if resp.status() != 200 {
            return Ok(resp);
        }
        let v: Value = serde_json::from_slice(&resp.body).unwrap_or(Value::Null);
        let failed_ids: Vec<&str> = (0..all.len())
            .filter(|&i| failed(i).is_some())
            .filter_map(|i| all[i]["Id"].as_str())
            .collect();
        for ok in v["Successful"].as_array().into_iter().flatten() {
            if !ok["Id"].as_str().is_some_and(|id| failed_ids.contains(&id)) {
                successful.push(ok.clone());
            }
        }
        failures.extend(v["Failed"].as_array().into_iter().flatten().cloned());
    }
    for (i, entry) in all.iter().enumerate() {
        if let Some(code) = failed(i) {
            failures.push(serde_json::json!({
                "Id": entry["Id"], "SenderFault": false, "Code": code,
                "Message": format!("injected {code}"),
            }));
        }
    }
    let body = serde_json::json!({"Successful": successful, "Failed": failures}).to_string();
    Ok(http1::json_response(
        status,
        http1::reason(status),
        &[],
        body.into_bytes(),
    ))
}

/// An SDK config that reaches `endpoint` (the proxy) with dummy credentials, the slim rustls
/// client, and this per-attempt timeout (connect timeout 1 s) — so "slower than the client
/// timeout" faults stay short in tests.
pub async fn sdk_config_with_timeout(
    endpoint: &str,
    attempt_timeout: Duration,
) -> aws_config::SdkConfig {
    use aws_config::timeout::TimeoutConfig;
    use aws_smithy_http_client::tls;
    let http_client = aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(
            tls::rustls_provider::CryptoMode::Ring,
        ))
        .build_https();
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_types::region::Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .credentials_provider(aws_credential_types::Credentials::new(
            "testing", "testing", None, None, "static",
        ))
        .http_client(http_client)
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(1))
                .operation_attempt_timeout(attempt_timeout)
                .build(),
        )
        .load()
        .await
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
