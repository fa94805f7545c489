//! The checks behind the fuzz targets, as plain functions: the targets in `fuzz/fuzz_targets/`
//! call them with libFuzzer's inputs, and `cdc-processor/tests/fuzz_regressions.rs` replays every
//! input kept in `fuzz/regressions/<target>/` (and the seeds) through them in the normal test
//! suite. Each function panics when an invariant breaks.
#![allow(dead_code)]

pub mod decode_record;
pub mod image_readers;
pub mod kpl_deaggregate;
pub mod normalize_value;
pub mod pipeline_batch;
pub mod validate_row;

/// A check: panics when an invariant breaks on this input.
pub type Check = fn(&[u8]);

/// Every check, by target name.
pub const ALL: &[(&str, Check)] = &[
    ("decode_record", decode_record::run),
    ("image_readers", image_readers::run),
    ("kpl_deaggregate", kpl_deaggregate::run),
    ("normalize_value", normalize_value::run),
    ("pipeline_batch", pipeline_batch::run),
    ("validate_row", validate_row::run),
];

use cdc_processor::config::{PipelineConfig, Redaction};
use serde_json::Value;
use std::future::Future;
use std::sync::OnceLock;
use std::task::{Context, Poll, Waker};

/// Prefix of a `hash` pseudonym (`docs/cdc-event.md`).
const HASH_PREFIX: &str = "hmac-sha256:";

/// A pipeline configuration with redaction on and every column of every table published (so
/// redaction, not projection, is what keeps personal data out).
pub fn config() -> &'static PipelineConfig {
    static CONFIG: OnceLock<PipelineConfig> = OnceLock::new();
    CONFIG.get_or_init(|| {
        let mut c = PipelineConfig::new(
            Redaction::with_key(b"fuzz-hmac-key-0123456789abcdef-0123".to_vec())
                .expect("key is long enough"),
        );
        for t in cdc_models::Table::ALL {
            c.set_table_override(
                t.name(),
                cdc_processor::config::TableOverride {
                    event_type: None,
                    include_fields: Some(vec!["*".to_string()]),
                },
            )
            .expect("known table");
        }
        c
    })
}

/// Runs a future whose awaits are all ready (the in-memory ports); panics if it ever waits.
pub fn block_on<F: Future>(f: F) -> F::Output {
    let mut f = std::pin::pin!(f);
    let mut cx = Context::from_waker(Waker::noop());
    for _ in 0..1_000_000 {
        if let Poll::Ready(v) = f.as_mut().poll(&mut cx) {
            return v;
        }
    }
    panic!("the pipeline waited on an in-memory port");
}

/// Every JSON number of a published detail is one EventBridge accepts: an i64 or a finite f64.
pub fn numbers_fit_eventbridge(v: &Value) -> bool {
    match v {
        Value::Number(n) => n.is_i64() || n.as_f64().is_some_and(f64::is_finite) && !n.is_u64(),
        Value::Array(a) => a.iter().all(numbers_fit_eventbridge),
        Value::Object(o) => o.values().all(numbers_fit_eventbridge),
        _ => true,
    }
}

/// The published detail honours the redaction policy of every column of its table.
pub fn redaction_holds(detail: &Value) {
    use cdc_models::{RedactPolicy, Table};
    let table = Table::from_name(detail["table"].as_str().expect("table")).expect("known table");
    for image in ["before", "after"] {
        let Some(row) = detail[image].as_object() else {
            continue;
        };
        for f in table.meta().fields {
            let Some(policy) = f.policy else { continue };
            let v = row.get(f.name);
            match policy {
                RedactPolicy::Remove => {
                    assert!(v.is_none(), "{}.{} published", table.name(), f.name)
                }
                RedactPolicy::Mask => assert!(
                    v.is_none_or(|v| v.is_null() || v == cdc_models::MASK),
                    "{}.{} not masked",
                    table.name(),
                    f.name
                ),
                RedactPolicy::Hash => assert!(
                    v.is_none_or(|v| v.is_null()
                        || v.as_str().is_some_and(
                            |s| s.starts_with(HASH_PREFIX) && s.len() == HASH_PREFIX.len() + 64
                        )),
                    "{}.{} not hashed",
                    table.name(),
                    f.name
                ),
                RedactPolicy::Partial { keep_last } => assert!(
                    v.is_none_or(|v| v.is_null()
                        || v.as_str().is_some_and(|s| {
                            // A value no longer than `keepLast` is hidden whole (issue 22, 13).
                            let n = s.chars().count();
                            let keep = usize::from(keep_last);
                            let keep = if n <= keep { 0 } else { keep };
                            s.chars().take(n - keep).all(|c| c == '*')
                        })),
                    "{}.{} not partially masked",
                    table.name(),
                    f.name
                ),
                _ => {}
            }
        }
    }
}
