//! What the proxy does with a connection and each request on it: match the rules, forward to moto
//! or answer in the fault's place, and log the [`Exchange`] with each entry's fate.

use super::{EntryFate, Exchange, Fault, Shared, ABANDON_GRACE};
use crate::http1::{self, Message};
use serde_json::Value;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::BufReader;
use tokio::net::TcpStream;

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

pub(super) async fn serve(stream: TcpStream, shared: Arc<Shared>) -> std::io::Result<()> {
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
            let resp = forward_logged(shared, &req, &mut ex, is_put_events).await;
            (Some(resp.unwrap_or_else(bad_gateway)), None)
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
                let resp = forward_logged(shared, &req, &mut ex, is_put_events).await;
                (Some(resp.unwrap_or_else(bad_gateway)), Some(d))
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

/// Forwards the whole request to moto and logs what moto answered (for `PutEvents`, which entries
/// it accepted).
async fn forward_logged(
    shared: &Shared,
    req: &Message,
    ex: &mut Exchange,
    is_put_events: bool,
) -> std::io::Result<Message> {
    let r = forward(shared.upstream, req).await?;
    ex.forwarded = true;
    ex.upstream_status = Some(r.status());
    if is_put_events {
        let ok = accepted_of(&r.body, ex.entries.len());
        for (f, a) in ex.entries.iter_mut().zip(ok) {
            f.reached_upstream = true;
            f.accepted = a && r.status() == 200;
        }
    }
    Ok(r)
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
