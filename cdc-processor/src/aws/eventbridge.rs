//! [`Publisher`] on EventBridge `PutEvents`.
//!
//! One call per publish-plan batch (≤ 10 entries, within the request size limit). When the answer
//! has `FailedEntryCount > 0`, only the failed entries are sent again, decided per entry by its
//! `ErrorCode`:
//!
//! | per-entry code | outcome |
//! |---|---|
//! | `ThrottlingException`, `InternalFailure` (and the other transient codes of [`is_transient_code`]) | retried with backoff; still failing after `MAX_RETRY_ATTEMPTS` retries → [`PublishOutcome::Failed`] (reported to Lambda, retried in order) |
//! | `InvalidArgument`, `MalformedDetail`, `AccessDeniedException`, anything else | [`PublishOutcome::Rejected`] (dead-lettered as `EVENTBRIDGE_ERROR`) |
//!
//! A whole call that fails with a transient SDK error (timeout, I/O, throttling, 5xx) is retried on
//! the same policy; one that fails otherwise (missing bus, access denied on the bus, validation of
//! the request) is a problem of the deployment rather than of the records, so its entries are
//! [`PublishOutcome::Failed`]: reported, never dropped nor dead-lettered.
//!
//! Retries use `backon`'s exponential backoff with jitter (base 100 ms, doubling, capped at 5 s).
//! The SDK's own retries are off on this client so one policy governs and every retry is counted.
//!
//! With [`EventBridgePublisher::with_adaptive_concurrency`], every attempt first takes a permit
//! of one [`AdaptiveLimit`] (AIMD, see [`super::aimd`]): throttling and attempt timeouts lower
//! how many calls are in flight together, successes raise it back.

use super::aimd::{AdaptiveLimit, Signal};
use super::metrics::PublishStats;
use super::{classify, is_transient_code, truncate, CallError, RetryPolicy};
use crate::ports::{PreparedEntry, PublishOutcome, Publisher};
use aws_sdk_eventbridge::types::PutEventsRequestEntry;
use backon::Retryable;
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// Publishes to one event bus.
#[derive(Clone, Debug)]
pub struct EventBridgePublisher {
    client: aws_sdk_eventbridge::Client,
    bus: String,
    retry: RetryPolicy,
    stats: Arc<PublishStats>,
    limit: Option<Arc<AdaptiveLimit>>,
}

/// Why an attempt asks for another one: some entries (or the whole call) failed transiently.
#[derive(Debug)]
struct Transient {
    code: String,
    message: String,
}

/// The entries still to send and the outcomes decided so far.
struct Progress {
    outcomes: Vec<Option<PublishOutcome>>,
    /// Indices (into the caller's slice) still to send, in order.
    pending: Vec<usize>,
    /// The last transient failure of each pending entry.
    last_failure: Vec<Option<(String, String)>>,
}

/// The invocation's X-Ray trace header: `_X_AMZN_TRACE_ID`, which the Lambda runtime sets for
/// each invocation when tracing is on (`Tracing: Active` or an upstream sampled trace).
fn trace_header() -> Option<String> {
    std::env::var("_X_AMZN_TRACE_ID")
        .ok()
        .filter(|t| !t.trim().is_empty())
}

impl EventBridgePublisher {
    /// A publisher sending to `bus` (name or ARN) with `client` (built with the SDK's retries off,
    /// see [`super::config::Clients`]).
    pub fn new(
        client: aws_sdk_eventbridge::Client,
        bus: impl Into<String>,
        retry: RetryPolicy,
        stats: Arc<PublishStats>,
    ) -> Self {
        EventBridgePublisher {
            client,
            bus: bus.into(),
            retry,
            stats,
            limit: None,
        }
    }

    /// Bounds the `PutEvents` calls in flight together (over every shard this publisher serves) by
    /// an AIMD limit starting at, and never above, `max`: halved on throttling and attempt
    /// timeouts, raised by successes (see [`super::aimd`]).
    pub fn with_adaptive_concurrency(mut self, max: usize) -> Self {
        self.limit = Some(Arc::new(AdaptiveLimit::new(max)));
        self
    }

    /// The adaptive limit, when there is one.
    pub fn concurrency_limit(&self) -> Option<&AdaptiveLimit> {
        self.limit.as_deref()
    }

    /// `trace`: the invocation's X-Ray trace header, passed through to the entry (`TraceHeader`).
    fn request_entry(&self, e: &PreparedEntry, trace: Option<&str>) -> PutEventsRequestEntry {
        PutEventsRequestEntry::builder()
            .set_trace_header(trace.map(str::to_string))
            .event_bus_name(&self.bus)
            .source(&*e.source)
            .detail_type(e.detail_type)
            .detail(&e.detail)
            .set_time(e.time.map(|t| {
                aws_smithy_types::DateTime::from_secs_and_nanos(
                    t.timestamp(),
                    t.timestamp_subsec_nanos(),
                )
            }))
            .build()
    }

    /// One `PutEvents` call with the pending entries; updates `progress`.
    async fn attempt(
        &self,
        entries: &[PreparedEntry],
        progress: &Mutex<Progress>,
    ) -> Result<(), Transient> {
        let pending = progress.lock().expect("progress lock").pending.clone();
        if pending.is_empty() {
            return Ok(());
        }
        let trace = trace_header();
        let request: Vec<PutEventsRequestEntry> = pending
            .iter()
            .map(|&i| self.request_entry(&entries[i], trace.as_deref()))
            .collect();
        let permit = match &self.limit {
            Some(l) => Some(l.acquire().await),
            None => None,
        };
        let started = Instant::now();
        let result = self
            .client
            .put_events()
            .set_entries(Some(request))
            .send()
            .await;
        self.stats.record_call(started.elapsed(), pending.len());
        if let Some(permit) = permit {
            permit.finish(load_signal(&result));
        }

        let mut p = progress.lock().expect("progress lock");
        match result {
            Ok(out) => {
                let results = out.entries();
                let mut still = Vec::new();
                let mut first: Option<(String, String)> = None;
                for (k, &i) in pending.iter().enumerate() {
                    let (code, message) = match results.get(k) {
                        Some(r) if r.error_code().is_none() => {
                            p.outcomes[i] = Some(PublishOutcome::Published);
                            continue;
                        }
                        Some(r) => (
                            r.error_code().unwrap_or_default().to_string(),
                            truncate(r.error_message().unwrap_or_default(), 512),
                        ),
                        // Fewer results than entries: treat the missing ones as not published.
                        None => (
                            "InternalFailure".to_string(),
                            "PutEvents returned no result for this entry".to_string(),
                        ),
                    };
                    if is_transient_code(&code) {
                        first.get_or_insert_with(|| (code.clone(), message.clone()));
                        p.last_failure[i] = Some((code, message));
                        still.push(i);
                    } else {
                        p.outcomes[i] = Some(PublishOutcome::Rejected { code, message });
                    }
                }
                p.pending = still;
                match first {
                    None => Ok(()),
                    Some((code, message)) => Err(Transient { code, message }),
                }
            }
            Err(err) => {
                let CallError {
                    transient,
                    code,
                    message,
                } = classify(&err);
                if transient {
                    for &i in &pending {
                        p.last_failure[i] = Some((code.clone(), message.clone()));
                    }
                    Err(Transient { code, message })
                } else {
                    tracing::error!(
                        error.code = %code,
                        error.message = %message,
                        entries = pending.len(),
                        "PutEvents failed; the entries are reported for retry"
                    );
                    for &i in &pending {
                        p.outcomes[i] = Some(PublishOutcome::Failed {
                            code: code.clone(),
                            message: message.clone(),
                        });
                    }
                    p.pending.clear();
                    Ok(())
                }
            }
        }
    }
}

/// What a `PutEvents` attempt's outcome says about the load: throttling (of the call or of an
/// entry) and timeouts are congestion.
fn load_signal<R>(
    result: &Result<
        aws_sdk_eventbridge::operation::put_events::PutEventsOutput,
        aws_smithy_runtime_api::client::result::SdkError<
            aws_sdk_eventbridge::operation::put_events::PutEventsError,
            R,
        >,
    >,
) -> Signal {
    use aws_smithy_runtime_api::client::result::SdkError;
    use aws_smithy_types::error::metadata::ProvideErrorMetadata;
    match result {
        Ok(out) => {
            if out
                .entries()
                .iter()
                .any(|e| e.error_code() == Some("ThrottlingException"))
            {
                Signal::Congested
            } else {
                Signal::Success
            }
        }
        Err(SdkError::TimeoutError(_)) => Signal::Congested,
        Err(SdkError::DispatchFailure(f)) if f.is_timeout() => Signal::Congested,
        Err(SdkError::ServiceError(se))
            if matches!(
                se.err().code(),
                Some("ThrottlingException" | "ThrottledException" | "TooManyRequestsException")
            ) =>
        {
            Signal::Congested
        }
        Err(_) => Signal::Neutral,
    }
}

impl Publisher for EventBridgePublisher {
    async fn publish(&self, entries: &[PreparedEntry]) -> Vec<PublishOutcome> {
        if entries.is_empty() {
            return Vec::new();
        }
        let progress = Mutex::new(Progress {
            outcomes: vec![None; entries.len()],
            pending: (0..entries.len()).collect(),
            last_failure: vec![None; entries.len()],
        });
        let max_delay = self.retry.max_delay;
        let stats = &self.stats;
        let result = (|| self.attempt(entries, &progress))
            .retry(self.retry.backoff())
            .sleep(tokio::time::sleep)
            .adjust(move |_, d| d.map(|d| d.min(max_delay)))
            .notify(|e: &Transient, delay| {
                stats.record_retry();
                tracing::warn!(
                    error.code = %e.code,
                    delay_ms = delay.as_millis() as u64,
                    "PutEvents: transient failure, retrying the failed entries"
                );
            })
            .await;
        let mut p = progress.into_inner().expect("progress lock");
        if let Err(last) = result {
            tracing::warn!(
                error.code = %last.code,
                entries = p.pending.len(),
                "PutEvents: entries still failing after the retries; reported for retry"
            );
            for i in std::mem::take(&mut p.pending) {
                let (code, message) = p.last_failure[i]
                    .take()
                    .unwrap_or((last.code.clone(), last.message.clone()));
                p.outcomes[i] = Some(PublishOutcome::Failed { code, message });
            }
        }
        p.outcomes
            .into_iter()
            .map(|o| {
                o.unwrap_or(PublishOutcome::Failed {
                    code: "InternalFailure".into(),
                    message: "no outcome".into(),
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_eventbridge::operation::put_events::PutEventsError;
    use aws_smithy_runtime_api::client::result::SdkError;
    use aws_smithy_runtime_api::http::{Response, StatusCode};
    use aws_smithy_types::body::SdkBody;
    use aws_smithy_types::error::ErrorMetadata;

    fn service_error(code: &str, status: u16) -> SdkError<PutEventsError, Response> {
        SdkError::service_error(
            PutEventsError::generic(ErrorMetadata::builder().code(code).message("m").build()),
            Response::new(StatusCode::try_from(status).unwrap(), SdkBody::empty()),
        )
    }

    #[test]
    fn call_errors_are_classified() {
        assert!(classify(&service_error("ThrottlingException", 400)).transient);
        assert!(classify(&service_error("InternalException", 500)).transient);
        assert!(classify(&service_error("Whatever", 503)).transient);
        assert!(classify(&service_error("Whatever", 429)).transient);
        let e = classify(&service_error("ResourceNotFoundException", 400));
        assert!(!e.transient);
        assert_eq!(e.code, "ResourceNotFoundException");
        assert!(!classify(&service_error("AccessDeniedException", 400)).transient);
        assert!(!classify(&service_error("ValidationException", 400)).transient);
    }

    #[test]
    fn entries_carry_the_invocations_trace_header() {
        use crate::decode::EventId;
        let conf = aws_sdk_eventbridge::Config::builder()
            .behavior_version(aws_sdk_eventbridge::config::BehaviorVersion::latest())
            .region(aws_sdk_eventbridge::config::Region::new("us-east-1"))
            .build();
        let publisher = EventBridgePublisher::new(
            aws_sdk_eventbridge::Client::from_conf(conf),
            "cdc-events",
            RetryPolicy::default(),
            Arc::new(PublishStats::default()),
        );
        let entry = PreparedEntry {
            event_id: EventId::from_bytes(&[7; 16]),
            source: "cdc-pipeline".into(),
            detail_type: "CDC.TableChange",
            detail: "{}".into(),
            time: None,
            size: 0,
            ordering_key: crate::ports::OrderingKey::Table(cdc_models::Table::Users),
        };
        let trace = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1";
        let with = publisher.request_entry(&entry, Some(trace));
        assert_eq!(with.trace_header(), Some(trace));
        assert_eq!(with.event_bus_name(), Some("cdc-events"));
        assert_eq!(publisher.request_entry(&entry, None).trace_header(), None);
    }

    #[test]
    fn entry_codes_are_classified() {
        assert!(is_transient_code("ThrottlingException"));
        assert!(is_transient_code("InternalFailure"));
        for c in [
            "InvalidArgument",
            "MalformedDetail",
            "AccessDeniedException",
            "NotAuthorizedForSourceException",
        ] {
            assert!(!is_transient_code(c), "{c}");
        }
    }

    #[test]
    fn backoff_follows_the_policy() {
        use backon::BackoffBuilder;
        let p = RetryPolicy {
            max_retries: 7,
            ..RetryPolicy::default()
        };
        let delays: Vec<_> = p.backoff().build().collect();
        assert_eq!(delays.len(), 7);
        for (n, d) in delays.iter().enumerate() {
            // base · 2ⁿ capped at 5 s, plus jitter below the same amount.
            let floor = (p.base_delay * 2u32.pow(n as u32)).min(p.max_delay);
            assert!(*d >= floor && *d < floor * 2, "retry {n}: {d:?}");
        }
    }
}
