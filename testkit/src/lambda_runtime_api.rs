//! A Lambda Runtime API emulator on `127.0.0.1`, to run a function binary the way Lambda does.
//!
//! A function built on `lambda_runtime` polls `GET /2018-06-01/runtime/invocation/next` at
//! `AWS_LAMBDA_RUNTIME_API` and posts the result to `…/invocation/{id}/response` (or `/error`).
//! [`RuntimeApi`] serves that protocol: a test queues an event with [`RuntimeApi::invoke`], starts
//! (or has started) the real binary with [`RuntimeApi::lambda_env`] in its environment, and waits for
//! the result with [`RuntimeApi::wait`]. Killing the process mid-invocation and invoking the same
//! event again on a fresh process is what Lambda does after a crash.

use crate::http1::{self, Message};
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::io::BufReader;
use tokio::net::TcpStream;

/// How an invocation ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum InvocationResult {
    /// The function's response payload.
    Response(Vec<u8>),
    /// The function reported an error (the error payload).
    Error(Vec<u8>),
}

#[derive(Debug, Default)]
struct State {
    queue: VecDeque<(String, Vec<u8>)>,
    taken: Vec<String>,
    results: HashMap<String, InvocationResult>,
    init_errors: Vec<Vec<u8>>,
    next_id: u64,
}

#[derive(Debug, Default)]
struct Shared {
    state: Mutex<State>,
    changed: Condvar,
    queued: tokio::sync::Notify,
}

/// The emulator; stops on drop.
#[derive(Debug)]
pub struct RuntimeApi {
    server: http1::Server,
    shared: Arc<Shared>,
}

impl RuntimeApi {
    /// Starts the emulator on a free loopback port, on its own thread.
    ///
    /// # Panics
    /// When no loopback port can be bound.
    pub fn start() -> RuntimeApi {
        let shared = Arc::new(Shared::default());
        let s = shared.clone();
        let server = http1::Server::start("lambda-runtime-api", 0, move |stream| {
            serve(stream, s.clone())
        });
        RuntimeApi { server, shared }
    }

    /// The value of `AWS_LAMBDA_RUNTIME_API` (`127.0.0.1:PORT`).
    pub fn address(&self) -> String {
        self.server.addr().to_string()
    }

    /// The variables the Lambda runtime sets for a function (runtime API address, name, memory,
    /// version), to add to the binary's environment.
    pub fn lambda_env(&self, function_name: &str) -> Vec<(String, String)> {
        [
            ("AWS_LAMBDA_RUNTIME_API", self.address()),
            ("AWS_LAMBDA_FUNCTION_NAME", function_name.to_string()),
            ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "512".to_string()),
            ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST".to_string()),
            (
                "AWS_LAMBDA_LOG_GROUP_NAME",
                format!("/aws/lambda/{function_name}"),
            ),
            ("AWS_LAMBDA_LOG_STREAM_NAME", "test".to_string()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect()
    }

    /// Queues an invocation with this payload; returns its request id.
    pub fn invoke(&self, payload: Vec<u8>) -> String {
        let mut st = self.shared.state.lock().expect("state");
        st.next_id += 1;
        let id = format!("req-{:08}", st.next_id);
        st.queue.push_back((id.clone(), payload));
        drop(st);
        self.shared.queued.notify_waiters();
        self.shared.queued.notify_one();
        id
    }

    /// Whether a function process has taken the invocation (called `next` and got it).
    pub fn taken(&self, id: &str) -> bool {
        self.shared
            .state
            .lock()
            .expect("state")
            .taken
            .iter()
            .any(|t| t == id)
    }

    /// Waits up to `timeout` for the invocation's result.
    pub fn wait(&self, id: &str, timeout: Duration) -> Option<InvocationResult> {
        let deadline = Instant::now() + timeout;
        let mut st = self.shared.state.lock().expect("state");
        loop {
            if let Some(r) = st.results.get(id) {
                return Some(r.clone());
            }
            let now = Instant::now();
            if now >= deadline {
                return None;
            }
            st = self
                .shared
                .changed
                .wait_timeout(st, (deadline - now).min(Duration::from_millis(200)))
                .expect("state")
                .0;
        }
    }

    /// The result of an invocation, if it has one.
    pub fn result(&self, id: &str) -> Option<InvocationResult> {
        self.shared
            .state
            .lock()
            .expect("state")
            .results
            .get(id)
            .cloned()
    }

    /// Init errors the function reported.
    pub fn init_errors(&self) -> Vec<Vec<u8>> {
        self.shared.state.lock().expect("state").init_errors.clone()
    }
}

fn empty(status: u16) -> Message {
    http1::json_response(status, http1::reason(status), &[], b"{}".to_vec())
}

async fn serve(stream: TcpStream, shared: Arc<Shared>) -> std::io::Result<()> {
    stream.set_nodelay(true)?;
    let (rd, mut wr) = stream.into_split();
    let mut rd = BufReader::new(rd);
    loop {
        let Some(req) = http1::read_message(&mut rd, false).await? else {
            return Ok(());
        };
        let (method, path) = req.request_line();
        let path = path.to_string();
        let resp = if method == "GET" && path.ends_with("/runtime/invocation/next") {
            // A poller whose process died must not be handed an invocation: stop waiting when
            // its connection closes.
            use tokio::io::AsyncBufReadExt;
            tokio::select! {
                m = next(&shared) => m,
                r = rd.fill_buf() => {
                    if r.map(|b| b.is_empty()).unwrap_or(true) {
                        return Ok(());
                    }
                    next(&shared).await
                }
            }
        } else if method == "POST" && path.ends_with("/response") {
            finish(
                &shared,
                &path,
                "/response",
                InvocationResult::Response(req.body),
            )
        } else if method == "POST" && path.ends_with("/error") && path.contains("/invocation/") {
            finish(&shared, &path, "/error", InvocationResult::Error(req.body))
        } else if method == "POST" && path.ends_with("/runtime/init/error") {
            shared
                .state
                .lock()
                .expect("state")
                .init_errors
                .push(req.body);
            shared.changed.notify_all();
            empty(202)
        } else {
            empty(404)
        };
        http1::write_message(&mut wr, &resp, false).await?;
    }
}

/// Long-polls until an invocation is queued, then hands it out.
async fn next(shared: &Shared) -> Message {
    loop {
        let notified = shared.queued.notified();
        {
            let mut st = shared.state.lock().expect("state");
            if let Some((id, payload)) = st.queue.pop_front() {
                st.taken.push(id.clone());
                drop(st);
                let deadline = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .map(|d| d.as_millis() + 900_000)
                    .unwrap_or_default()
                    .to_string();
                let mut m = http1::json_response(200, "OK", &[], payload);
                m.headers.push(("lambda-runtime-aws-request-id".into(), id));
                m.headers
                    .push(("lambda-runtime-deadline-ms".into(), deadline));
                m.headers.push((
                    "lambda-runtime-invoked-function-arn".into(),
                    "arn:aws:lambda:us-east-1:123456789012:function:cdc-processor".into(),
                ));
                m.headers.push((
                    "lambda-runtime-trace-id".into(),
                    "Root=1-00000000-000000000000000000000000;Sampled=0".into(),
                ));
                return m;
            }
        }
        notified.await;
    }
}

fn finish(shared: &Shared, path: &str, suffix: &str, result: InvocationResult) -> Message {
    let id = path
        .strip_suffix(suffix)
        .and_then(|p| p.rsplit('/').next())
        .unwrap_or("")
        .to_string();
    shared
        .state
        .lock()
        .expect("state")
        .results
        .insert(id, result);
    shared.changed.notify_all();
    empty(202)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    fn request(addr: &str, raw: &str) -> String {
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        s.write_all(raw.as_bytes()).unwrap();
        let mut buf = vec![0u8; 65536];
        let n = s.read(&mut buf).unwrap();
        String::from_utf8_lossy(&buf[..n]).to_string()
    }

    #[test]
    fn serves_an_invocation_and_takes_its_response() {
        let api = RuntimeApi::start();
        let id = api.invoke(b"{\"hello\":1}".to_vec());
        let got = request(
            &api.address(),
            "GET /2018-06-01/runtime/invocation/next HTTP/1.1\r\nhost: x\r\n\r\n",
        );
        assert!(got.contains("lambda-runtime-aws-request-id: req-"), "{got}");
        assert!(got.ends_with("{\"hello\":1}"), "{got}");
        assert!(api.taken(&id));
        let body = "{\"ok\":true}";
        let got = request(
            &api.address(),
            &format!(
                "POST /2018-06-01/runtime/invocation/{id}/response HTTP/1.1\r\nhost: x\r\ncontent-length: {}\r\n\r\n{body}",
                body.len()
            ),
        );
        assert!(got.starts_with("HTTP/1.1 202"), "{got}");
        assert_eq!(
            api.wait(&id, Duration::from_secs(1)),
            Some(InvocationResult::Response(body.as_bytes().to_vec()))
        );
    }

    #[test]
    fn a_poll_waits_for_the_next_invocation() {
        let api = RuntimeApi::start();
        let addr = api.address();
        let poll = std::thread::spawn(move || {
            request(
                &addr,
                "GET /2018-06-01/runtime/invocation/next HTTP/1.1\r\nhost: x\r\n\r\n",
            )
        });
        std::thread::sleep(Duration::from_millis(200));
        api.invoke(b"{}".to_vec());
        let got = poll.join().unwrap();
        assert!(got.starts_with("HTTP/1.1 200"), "{got}");
    }
}
