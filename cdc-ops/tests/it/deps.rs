//! Each crate's allowed dependencies (ARCHITECTURE.md), checked with `cargo tree`: the library
//! crates carry no CLI-only crate, `cdc-ops` sits on top of `cdc-processor`, nothing at run time
//! depends on `codegen` or on `cdc-ops`, the processor Lambda carries no JSON Schema validator,
//! and consumer-sdk's default tree has no AWS SDK crate and no Lambda runtime (its adapters bring
//! theirs only behind their features).

use std::process::Command;

/// Names of the crates in `package`'s normal (non-dev, non-build) dependency tree, with `depth`.
fn tree(package: &str, depth: Option<u32>, only_features: Option<&str>) -> Vec<String> {
    let mut cmd = Command::new(env!("CARGO"));
    cmd.current_dir(env!("CARGO_MANIFEST_DIR")).args([
        "tree",
        "-p",
        package,
        "-e",
        "normal,no-proc-macro",
        "--prefix",
        "none",
        "--target",
        "all",
    ]);
    if let Some(d) = depth {
        cmd.args(["--depth", &d.to_string()]);
    }
    if let Some(features) = only_features {
        cmd.args(["--no-default-features", "--features", features]);
    }
    let out = cmd.output().expect("cargo tree runs");
    assert!(
        out.status.success(),
        "cargo tree -p {package} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_string)
        .collect()
}

const WORKSPACE: &[&str] = &[
    "codegen",
    "cdc-models",
    "cdc-processor",
    "cdc-ops",
    "cdc-capture",
    "consumer-sdk",
    "xtask",
    "testkit",
];

/// The workspace crates `package` depends on directly (itself excluded).
fn workspace_deps(package: &str) -> Vec<String> {
    let mut deps: Vec<String> = tree(package, Some(1), None)
        .into_iter()
        .filter(|c| c != package && WORKSPACE.contains(&c.as_str()))
        .collect();
    deps.sort();
    deps.dedup();
    deps
}

#[test]
fn workspace_crates_depend_only_on_what_the_architecture_allows() {
    let allowed: &[(&str, &[&str])] = &[
        ("cdc-models", &[]),
        ("consumer-sdk", &["cdc-models"]),
        ("cdc-processor", &["cdc-models"]),
        ("cdc-ops", &["cdc-models", "cdc-processor"]),
        // The relay ships outbox rows as bytes: it needs no model or pipeline code at run time.
        ("cdc-capture", &[]),
    ];
    for (package, ok) in allowed {
        let deps = workspace_deps(package);
        let bad: Vec<_> = deps.iter().filter(|d| !ok.contains(&d.as_str())).collect();
        assert!(
            bad.is_empty(),
            "{package} depends on {bad:?}; allowed: {ok:?}"
        );
    }
    // The check can fail: cdc-ops really depends on the pipeline library.
    assert_eq!(workspace_deps("cdc-ops"), ["cdc-models", "cdc-processor"]);
}

#[test]
fn library_crates_carry_no_cli_only_dependencies() {
    let cli_only = ["clap", "anyhow", "dotenvy"];
    // cdc-processor's own binary (the processor Lambda and its `local`/`validate` CLI) needs clap
    // and anyhow behind its `cli` feature; the library as cdc-ops uses it (`aws` only) must not.
    for (package, features) in [
        ("cdc-models", None),
        ("consumer-sdk", None),
        ("cdc-processor", Some("aws")),
    ] {
        let crates = tree(package, None, features);
        let bad: Vec<_> = crates
            .iter()
            .filter(|c| cli_only.contains(&c.as_str()))
            .collect();
        assert!(bad.is_empty(), "{package} pulls in CLI-only crates {bad:?}");
    }
    // …and the operator crate does carry them (the check above would see them).
    let ops = tree("cdc-ops", Some(1), None);
    assert!(ops.iter().any(|c| c == "clap"), "{ops:?}");
}

/// AWS SDK and Lambda runtime crates: none in consumer-sdk's default tree.
fn aws_or_lambda_runtime(name: &str) -> bool {
    name.starts_with("aws-sdk-")
        || name == "aws-config"
        || name.starts_with("aws-smithy-")
        || name == "lambda_runtime"
        || name == "lambda_runtime_api_client"
        || name == "aws_lambda_events"
}

#[test]
fn consumer_sdks_default_tree_has_no_aws_sdk_and_no_lambda_runtime() {
    let crates = tree("consumer-sdk", None, None);
    assert!(crates.iter().any(|c| c == "cdc-models"), "{crates:?}");
    let bad: Vec<_> = crates.iter().filter(|c| aws_or_lambda_runtime(c)).collect();
    assert!(bad.is_empty(), "default dependency tree pulls in {bad:?}");
}

#[test]
fn consumer_sdks_adapters_bring_their_crates_only_behind_their_features() {
    // The check above would catch them: each feature really adds its crate.
    let sqs = tree("consumer-sdk", None, Some("sqs"));
    assert!(sqs.iter().any(|c| c == "aws-sdk-sqs"));
    let dedupe = tree("consumer-sdk", None, Some("dedupe-dynamodb"));
    assert!(dedupe.iter().any(|c| c == "aws-sdk-dynamodb"));
    let lambda = tree("consumer-sdk", None, Some("lambda"));
    assert!(lambda.iter().any(|c| c == "aws_lambda_events"));
    assert!(!lambda
        .iter()
        .any(|c| c.starts_with("aws-sdk-") || c == "lambda_runtime"));
}

#[test]
fn the_processor_lambda_carries_no_json_schema_validator_or_regex_engine() {
    // The record path's nested checks are generated (`cdc_models::NestedSchema`) and the Lambdas
    // read `RUST_LOG` as `filter::Targets`: jsonschema (2.4 MB of code), its regex engines and
    // EnvFilter's stay with the CLIs (issue 21 item 7). `regex-lite` (the AWS SDK's) is not one.
    let not_in_lambda = [
        "jsonschema",
        "fancy-regex",
        "regex",
        "regex-automata",
        "regex-syntax",
        "matchers",
    ];
    let crates = tree("cdc-processor-lambda", None, None);
    let bad: Vec<_> = crates
        .iter()
        .filter(|c| not_in_lambda.contains(&c.as_str()))
        .collect();
    assert!(bad.is_empty(), "the processor Lambda carries {bad:?}");
    // …and the `validate` CLI does carry jsonschema (the check above would see it).
    let cli = tree("cdc-processor", None, Some("cli"));
    assert!(cli.iter().any(|c| c == "jsonschema"), "{cli:?}");
}
