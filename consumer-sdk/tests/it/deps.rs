//! The default dependency tree holds no AWS SDK crate and no Lambda runtime: a service that only
//! parses events stays light. The adapters bring theirs only behind their features.

use std::process::Command;

fn tree(features: &[&str]) -> Vec<String> {
    let mut cmd = Command::new(env!("CARGO"));
    cmd.current_dir(env!("CARGO_MANIFEST_DIR")).args([
        "tree",
        "-p",
        "consumer-sdk",
        "-e",
        "normal",
        "--prefix",
        "none",
        "--target",
        "all",
    ]);
    if !features.is_empty() {
        cmd.args(["--features", &features.join(",")]);
    }
    let out = cmd.output().expect("cargo tree runs");
    assert!(
        out.status.success(),
        "cargo tree failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_string)
        .collect()
}

fn forbidden(name: &str) -> bool {
    name.starts_with("aws-sdk-")
        || name == "aws-config"
        || name.starts_with("aws-smithy-")
        || name == "lambda_runtime"
        || name == "lambda_runtime_api_client"
        || name == "aws_lambda_events"
}

#[test]
fn the_default_tree_has_no_aws_sdk_and_no_lambda_runtime() {
    let crates = tree(&[]);
    assert!(crates.iter().any(|c| c == "cdc-models"), "{crates:?}");
    let bad: Vec<_> = crates.iter().filter(|c| forbidden(c)).collect();
    assert!(bad.is_empty(), "default dependency tree pulls in {bad:?}");
}

#[test]
fn the_adapters_bring_their_crates_only_behind_their_features() {
    // The check above would catch them: each feature really adds its crate.
    let sqs = tree(&["sqs"]);
    assert!(sqs.iter().any(|c| c == "aws-sdk-sqs"));
    let dedupe = tree(&["dedupe-dynamodb"]);
    assert!(dedupe.iter().any(|c| c == "aws-sdk-dynamodb"));
    let lambda = tree(&["lambda"]);
    assert!(lambda.iter().any(|c| c == "aws_lambda_events"));
    assert!(!lambda
        .iter()
        .any(|c| c.starts_with("aws-sdk-") || c == "lambda_runtime"));
}
