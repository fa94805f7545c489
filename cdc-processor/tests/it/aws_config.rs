//! The function's configuration as documented: every variable in `docs/configuration.md` and
//! `.env.example`, and `.env.example` itself a valid configuration.

use cdc_processor::aws::config::{Settings, VARIABLES};
use cdc_processor::config::PipelineConfig;
use std::collections::HashMap;

/// The seed's variables.
const SEED: &[&str] = &[
    "AWS_REGION",
    "AWS_ACCOUNT_ID",
    "KINESIS_STREAM_NAME",
    "KINESIS_BATCH_SIZE",
    "EVENT_BUS_NAME",
    "EVENT_SOURCE",
    "STATE_TABLE_NAME",
    "CHECKPOINT_TABLE_NAME",
    "ENABLE_DATA_REDACTION",
    "MAX_RETRY_ATTEMPTS",
];

fn read(path: &str) -> String {
    std::fs::read_to_string(testkit::workspace_root().join(path)).expect(path)
}

#[test]
fn the_configuration_page_lists_every_variable() {
    let doc = read("docs/configuration.md");
    for name in SEED.iter().chain(VARIABLES.iter().map(|v| &v.name)) {
        assert!(
            doc.contains(&format!("`{name}`")),
            "docs/configuration.md misses {name}"
        );
    }
}

#[test]
fn env_example_has_every_variable_and_is_a_valid_configuration() {
    let text = read(".env.example");
    for name in SEED.iter().chain(VARIABLES.iter().map(|v| &v.name)) {
        if *name == "AWS_LAMBDA_FUNCTION_NAME" {
            continue; // set by Lambda
        }
        assert!(
            text.contains(&format!("{name}=")),
            ".env.example misses {name}"
        );
    }
    let vars: HashMap<String, String> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let settings = Settings::from_lookup(|k| vars.get(k).cloned()).expect(".env.example settings");
    assert_eq!(settings.kinesis_stream_name, "coredb-cdc-stream");
    assert_eq!(settings.max_retry_attempts, 3);
    let config =
        PipelineConfig::from_lookup(|k| vars.get(k).cloned()).expect(".env.example pipeline");
    assert_eq!(config.event_bus_name(), "cdc-events");
    assert!(config.redaction().is_enabled());
}
