//! The ops functions as documented and deployed: every variable they read is documented; the SAM
//! template gives each function the variables it requires and only variables the code reads; the
//! health-check alarm watches the metric, namespace and dimension the function emits; the CLI's
//! commands and the seed's npm scripts are in docs/ops.md.

use cdc_ops::health::{self, CheckResult, CheckStatus, HealthReport, HealthStatus};
use cdc_ops::redrive;
use cdc_processor::aws::config::VARIABLES as SHARED;
use serde_json::Value;

fn read(path: &str) -> String {
    std::fs::read_to_string(testkit::workspace_root().join(path)).expect(path)
}

/// The variables `PipelineConfig::from_lookup` reads (its doc comment's table).
const PIPELINE: &[&str] = &[
    "EVENT_SOURCE",
    "EVENT_BUS_NAME",
    "ENABLE_DATA_REDACTION",
    "REDACTION_HMAC_KEY",
    "CDC_TABLES",
    "CDC_SOURCE_FORMAT",
    "CDC_TABLE_OVERRIDES",
    "MAX_EVENT_SIZE_BYTES",
    "MAX_REQUEST_SIZE_BYTES",
    "DMS_BEFORE_IMAGE_FIELD",
    "DEBEZIUM_EPOCH_UNIT",
    "PUBLISH_CONCURRENCY",
];

/// The text of one top-level resource (or `Function` in `Globals`): from the line `  Name:` to the
/// next line indented by two spaces or less.
fn block(template: &str, name: &str) -> String {
    let header = format!("  {name}:");
    let mut lines = template.lines().skip_while(|l| *l != header);
    let first = lines
        .next()
        .unwrap_or_else(|| panic!("{name} not in the template"));
    let body = lines.take_while(|l| {
        l.trim().is_empty() || l.trim_start().starts_with('#') || l.starts_with("   ")
    });
    std::iter::once(first)
        .chain(body)
        .collect::<Vec<_>>()
        .join("\n")
}

/// The environment variable names set in a block (`NAME: value` lines in ALL_CAPS).
fn env_names(block: &str) -> Vec<String> {
    block
        .lines()
        .filter_map(|l| {
            let t = l.trim_start();
            let (name, _) = t.split_once(':')?;
            (name.len() > 2
                && name
                    .bytes()
                    .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_'))
            .then(|| name.to_string())
        })
        .collect()
}

#[test]
fn every_ops_variable_is_documented() {
    let config = read("docs/configuration.md");
    let health_doc = read("docs/lambdas/health-check.md");
    let redrive_doc = read("docs/lambdas/dead-letter-processor.md");
    let ops = read("docs/ops.md");
    for v in health::VARIABLES {
        let name = format!("`{}`", v.name);
        assert!(health_doc.contains(&name), "health-check.md misses {name}");
        assert!(config.contains(&name), "configuration.md misses {name}");
    }
    for v in redrive::VARIABLES {
        let name = format!("`{}`", v.name);
        assert!(
            redrive_doc.contains(&name),
            "dead-letter-processor.md misses {name}"
        );
        assert!(config.contains(&name), "configuration.md misses {name}");
    }
    for name in [
        "DLQ_QUEUE_URL",
        "DLQ_PARKING_QUEUE_URL",
        "CDC_PROCESSOR_NAME",
    ] {
        assert!(ops.contains(&format!("`{name}`")), "ops.md misses {name}");
    }
}

#[test]
fn the_template_gives_each_function_what_it_reads() {
    let t = read("deploy/template.yaml");
    let globals = env_names(&block(&t, "Function"));
    let known: Vec<&str> = SHARED
        .iter()
        .chain(health::VARIABLES)
        .chain(redrive::VARIABLES)
        .map(|v| v.name)
        .chain(PIPELINE.iter().copied())
        .collect();
    for (function, own) in [
        ("CdcProcessorFunction", &[][..]),
        ("HealthCheckFunction", health::VARIABLES),
        ("DeadLetterProcessorFunction", redrive::VARIABLES),
    ] {
        let b = block(&t, function);
        let mut env = globals.clone();
        env.extend(env_names(&b));
        for name in &env {
            assert!(
                known.contains(&name.as_str()),
                "{function} gets {name}, which no code reads"
            );
        }
        // Required variables (set by Lambda: AWS_REGION).
        for v in SHARED.iter().chain(own).filter(|v| v.required) {
            assert!(
                v.name == "AWS_REGION" || env.iter().any(|n| n == v.name),
                "{function} does not get {}",
                v.name
            );
        }
    }
    // The health check gets no key, the re-drive gets the secret.
    assert!(!env_names(&block(&t, "HealthCheckFunction"))
        .iter()
        .any(|n| n.starts_with("REDACTION_HMAC_KEY")));
    assert!(env_names(&block(&t, "DeadLetterProcessorFunction"))
        .contains(&"REDACTION_HMAC_KEY_SECRET_ARN".to_string()));
    // The re-drive may park letters.
    let role = block(&t, "DeadLetterProcessorRole");
    assert!(
        role.contains("Resource: !GetAtt DeadLetterParkingQueue.Arn"),
        "{role}"
    );
}

/// `KinesisEnhancedFanOut`: off by default; on, the processor's Kinesis event source reads through
/// the stack's stream consumer and its role may subscribe to that consumer; off, it reads the
/// stream and gets no such grant. (`scripts/check_template_options.py`, run by
/// `scripts/ci-template.sh`, checks the same on the SAM expansion with the conditions resolved.)
#[test]
fn enhanced_fan_out_is_an_option_off_by_default() {
    let t = read("deploy/template.yaml");
    let param = block(&t, "KinesisEnhancedFanOut");
    assert!(param.contains("Default: \"false\""), "{param}");
    assert!(
        param.contains("AllowedValues: [\"true\", \"false\"]"),
        "{param}"
    );
    assert!(
        t.lines()
            .any(|l| l == "  EnhancedFanOut: !Equals [!Ref KinesisEnhancedFanOut, \"true\"]"),
        "no EnhancedFanOut condition"
    );
    let consumer = block(&t, "CdcStreamConsumer");
    for needle in [
        "Type: AWS::Kinesis::StreamConsumer",
        "Condition: EnhancedFanOut",
        "StreamARN: !If [CreateStream, !GetAtt CdcStream.Arn, !Ref ExistingKinesisStreamArn]",
    ] {
        assert!(
            consumer.contains(needle),
            "consumer lacks {needle}:\n{consumer}"
        );
    }
    // The mapping's source: `!If [EnhancedFanOut, <on>, <off>]`, as three list lines.
    let function = block(&t, "CdcProcessorFunction");
    let lines: Vec<&str> = function.lines().map(str::trim).collect();
    let at = lines
        .iter()
        .position(|l| *l == "Stream: !If")
        .expect("the Kinesis event's Stream is an !If");
    let stream = "!If [CreateStream, !GetAtt CdcStream.Arn, !Ref ExistingKinesisStreamArn]";
    for (setting, source) in [
        (true, "!GetAtt CdcStreamConsumer.ConsumerARN"),
        (false, stream),
    ] {
        assert_eq!(lines[at + 1], "- EnhancedFanOut");
        let chosen = if setting {
            lines[at + 2]
        } else {
            lines[at + 3]
        };
        assert_eq!(
            chosen.strip_prefix("- "),
            Some(source),
            "KinesisEnhancedFanOut={setting}"
        );
    }
    // The role: the stream as before; the consumer only under the condition.
    let role = block(&t, "CdcProcessorRole");
    assert!(role.contains(&format!("Resource: {stream}")), "{role}");
    let grant = role
        .split("- !If")
        .find(|part| part.contains("kinesis:SubscribeToShard"))
        .expect("a conditional enhanced fan-out grant");
    for needle in [
        "- EnhancedFanOut",
        "Action: [kinesis:SubscribeToShard, kinesis:DescribeStreamConsumer]",
        "Resource: !GetAtt CdcStreamConsumer.ConsumerARN",
        "- !Ref AWS::NoValue",
    ] {
        assert!(grant.contains(needle), "grant lacks {needle}:\n{grant}");
    }
    // Its cost is documented where it is deployed.
    let deploy = read("docs/deploy.md");
    assert!(deploy.contains("`KinesisEnhancedFanOut`") && deploy.contains("**Cost.**"));
}

#[test]
fn the_health_alarm_watches_what_the_function_emits() {
    let t = read("deploy/template.yaml");
    let alarm = block(&t, "HealthCheckFailedAlarm");
    let namespace = env_names(&block(&t, "Function"))
        .contains(&"METRICS_NAMESPACE".to_string())
        .then(|| {
            block(&t, "Function")
                .lines()
                .find_map(|l| l.trim().strip_prefix("METRICS_NAMESPACE: "))
                .unwrap()
                .to_string()
        })
        .expect("Globals set METRICS_NAMESPACE");
    for needle in [
        format!("Namespace: {namespace}"),
        "MetricName: HealthCheckFailed".into(),
        "- Name: FunctionName".into(),
        "Value: !Ref HealthCheckFunction".into(),
        "TreatMissingData: breaching".into(),
    ] {
        assert!(alarm.contains(&needle), "alarm lacks {needle}:\n{alarm}");
    }
    // The function emits exactly that: namespace, the metric, dimension FunctionName alone.
    let report = HealthReport {
        status: HealthStatus::Healthy,
        checked_at: chrono::Utc::now(),
        duration_ms: 1,
        checks: vec![CheckResult {
            name: "eventBus".into(),
            target: "cdc-events".into(),
            status: CheckStatus::Ok,
            latency_ms: 1,
            message: String::new(),
            details: Default::default(),
        }],
    };
    let line: Value =
        serde_json::from_str(&report.emf_lines(&namespace, "cdc-health-check")[0]).unwrap();
    let declared = &line["_aws"]["CloudWatchMetrics"][0];
    assert_eq!(declared["Namespace"], namespace.as_str());
    assert_eq!(
        declared["Dimensions"],
        serde_json::json!([["FunctionName"]])
    );
    assert!(declared["Metrics"]
        .as_array()
        .unwrap()
        .iter()
        .any(|m| m["Name"] == "HealthCheckFailed"));
    assert_eq!(line["HealthCheckFailed"], 0);
}

#[test]
fn the_cli_and_the_seed_scripts_are_documented() {
    let ops = read("docs/ops.md");
    for script in [
        "checkpoint:status",
        "checkpoint:reset",
        "health:check",
        "dlq:process",
        "invoke:local",
        "logs:tail",
    ] {
        assert!(
            ops.contains(&format!("`{script}")),
            "ops.md misses {script}"
        );
    }
    for command in [
        "checkpoint status",
        "checkpoint reset",
        "health check",
        "dlq list",
        "dlq process",
        "invoke",
        "logs tail",
        "replay kinesis",
        "replay archive",
    ] {
        assert!(
            ops.contains(&format!("### `{command}")),
            "ops.md has no section for `{command}`"
        );
    }
    for issue in [
        "Events not appearing in EventBridge",
        "High Lambda latency",
        "Checkpoint desync",
    ] {
        assert!(ops.contains(issue), "ops.md troubleshooting misses {issue}");
    }
    for page in [
        "docs/lambdas/cdc-processor.md",
        "docs/lambdas/health-check.md",
        "docs/lambdas/dead-letter-processor.md",
    ] {
        let text = read(page);
        for section in [
            "## Trigger",
            "## Configuration",
            "## Metrics",
            "## Alarms",
            "## Runbook",
        ] {
            assert!(text.contains(section), "{page} has no {section}");
        }
        assert!(
            text.contains("error categor"),
            "{page} has no behaviour per error category"
        );
    }
}
