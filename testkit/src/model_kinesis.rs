//! A Kinesis `PutRecords` endpoint that answers itself after a model latency: every record
//! accepted, sequence numbers increasing. For measuring a writer (the capture relay) where moto's
//! own CPU cost per call would set the figure instead of the writer; not an emulator (only
//! `PutRecords`, nothing is stored unless asked, every other action is a 400).
//!
//! ```no_run
//! let kinesis = testkit::model_kinesis::ModelKinesis::start(std::time::Duration::from_millis(20));
//! // point the SDK (AWS_ENDPOINT_URL) at kinesis.endpoint(); then:
//! let (calls, records) = (kinesis.calls(), kinesis.records());
//! ```

use crate::http1::{self, Message};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};
use tokio::io::BufReader;
use tokio::net::TcpStream;

#[derive(Debug, Default)]
struct Shared {
    calls: AtomicU64,
    records: AtomicU64,
    keep_bodies: std::sync::atomic::AtomicBool,
    bodies: Mutex<Vec<(SystemTime, Vec<u8>)>>,
}

/// The endpoint; stops on drop.
#[derive(Debug)]
pub struct ModelKinesis {
    server: http1::Server,
    shared: Arc<Shared>,
}

impl ModelKinesis {
    /// Starts it on a free loopback port, on its own thread; each `PutRecords` is answered
    /// `latency` after its request arrived (calls in flight overlap, as at Kinesis).
    ///
    /// # Panics
    /// When no loopback port can be bound.
    pub fn start(latency: Duration) -> ModelKinesis {
        let shared = Arc::new(Shared::default());
        let s = shared.clone();
        let server = http1::Server::start("model-kinesis", 0, move |stream| {
            serve(stream, s.clone(), latency)
        });
        ModelKinesis { server, shared }
    }

    /// The endpoint URL (`AWS_ENDPOINT_URL`).
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.server.addr())
    }

    /// `PutRecords` calls answered.
    pub fn calls(&self) -> u64 {
        self.shared.calls.load(Ordering::SeqCst)
    }

    /// Records accepted.
    pub fn records(&self) -> u64 {
        self.shared.records.load(Ordering::SeqCst)
    }

    /// Keeps each `PutRecords` request body from now on, with the time its answer was written.
    pub fn keep_bodies(&self) {
        self.shared.keep_bodies.store(true, Ordering::SeqCst);
    }

    /// The kept bodies (JSON `PutRecords` requests, data base64) with their answer times; taken.
    pub fn take_bodies(&self) -> Vec<(SystemTime, Vec<u8>)> {
        std::mem::take(&mut *self.shared.bodies.lock().expect("bodies"))
    }
}

async fn serve(stream: TcpStream, shared: Arc<Shared>, latency: Duration) -> std::io::Result<()> {
    stream.set_nodelay(true)?;
    let (rd, mut wr) = stream.into_split();
    let mut rd = BufReader::new(rd);
    loop {
        let Some(req) = http1::read_message(&mut rd, false).await? else {
            return Ok(());
        };
        let arrived = tokio::time::Instant::now();
        let resp = if req.header("x-amz-target") == Some("Kinesis_20131202.PutRecords") {
            put_records(&req, &shared)
        } else {
            let body = br#"{"__type":"UnknownOperationException","message":"model Kinesis answers PutRecords only"}"#;
            http1::json_response(400, http1::reason(400), &[], body.to_vec())
        };
        tokio::time::sleep_until(arrived + latency).await;
        if shared.keep_bodies.load(Ordering::SeqCst) {
            shared
                .bodies
                .lock()
                .expect("bodies")
                .push((SystemTime::now(), req.body));
        }
        http1::write_message(&mut wr, &resp, false).await?;
    }
}

fn put_records(req: &Message, shared: &Shared) -> Message {
    let n = serde_json::from_slice::<serde_json::Value>(&req.body)
        .ok()
        .and_then(|v| v["Records"].as_array().map(Vec::len))
        .unwrap_or(0) as u64;
    let first = shared.records.fetch_add(n, Ordering::SeqCst);
    shared.calls.fetch_add(1, Ordering::SeqCst);
    let records: Vec<serde_json::Value> = (first..first + n)
        .map(|i| {
            serde_json::json!({
                "SequenceNumber": format!("4959033827149025660855969253836157109592157598{i:010}"),
                "ShardId": "shardId-000000000000"
            })
        })
        .collect();
    let body = serde_json::json!({"FailedRecordCount": 0, "Records": records}).to_string();
    http1::json_response(200, "OK", &[], body.into_bytes())
}
