//! Every `cdc-ops` command end to end, through the built binary, against moto: the binary gets
//! `AWS_ENDPOINT_URL` and dummy credentials only (resource names are the SAM template's defaults,
//! the DLQ URL is found by name), as an operator's shell would give it.

use crate::support::*;
use anyhow::{Context, Result};
use cdc_ops::ops::queue_depth;
use cdc_ops::redrive::REDRIVE_PROCESSOR;
use cdc_processor::aws::dynamodb::{DynamoCheckpointStore, DynamoStateStore};
use cdc_processor::ports::{CheckpointKey, CheckpointStore};
use cdc_processor::sequence::Position;
use serde_json::Value;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

fn run(c: &mut Command) -> Output {
    c.output().expect("cdc-ops runs")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn json_out(o: &Output) -> Value {
    assert!(o.status.success(), "{}\n{}", stdout(o), stderr(o));
    serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}\n{}", stdout(o), stderr(o)))
}

fn code(o: &Output) -> i32 {
    o.status.code().expect("exited")
}

/// Neither stream of the command's output holds record contents.
fn assert_no_record_contents(o: &Output) {
    let all = format!("{}{}", stdout(o), stderr(o));
    assert!(!all.contains(BAD_RECORD_EMAIL), "{all}");
    assert!(!all.contains("priya"), "{all}");
    assert!(!all.contains("Priya"), "{all}");
    for t in big_tags() {
        assert!(!all.contains(&t), "{all}");
    }
    assert!(!all.contains("supervisor-visible-label"), "{all}");
}

async fn write_checkpoint(s: &Stack, processor: &str, shard: &str, seq: &str) {
    DynamoCheckpointStore::new(s.dynamodb(), CHECKPOINT_TABLE)
        .advance(
            &CheckpointKey {
                processor: processor.into(),
                stream: s.stream_arn.clone(),
                shard: shard.into(),
            },
            &Position {
                sequence: seq.parse().unwrap(),
                sub_sequence: None,
            },
        )
        .await
        .unwrap();
}

async fn position_of(s: &Stack, shard: &str) -> Option<String> {
    DynamoCheckpointStore::new(s.dynamodb(), CHECKPOINT_TABLE)
        .load(&CheckpointKey {
            processor: PROCESSOR.into(),
            stream: s.stream_arn.clone(),
            shard: shard.into(),
        })
        .await
        .unwrap()
        .map(|p| p.sequence.to_string())
}

/// Runs `cdc-ops ARGS` on a pseudo-terminal (util-linux `script`), typing `answer`.
fn on_terminal(s: &Stack, args: &str, answer: &str) -> Output {
    let which = Command::new("sh")
        .args(["-c", "command -v script"])
        .output()
        .expect("sh");
    assert!(
        which.status.success(),
        "this test needs util-linux `script` to give cdc-ops a terminal"
    );
    let cmdline = format!("{} {args}", env!("CARGO_BIN_EXE_cdc-ops"));
    let base = s.cdc_ops();
    let mut script = Command::new("script");
    script
        .args(["-qec", &cmdline, "/dev/null"])
        .env_clear()
        .envs(base.get_envs().filter_map(|(k, v)| Some((k, v?))))
        .env("PATH", "/usr/bin:/bin")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut p = script.spawn().expect("script");
    // Give cdc-ops time to ask before answering.
    std::thread::sleep(std::time::Duration::from_millis(1500));
    p.stdin
        .take()
        .unwrap()
        .write_all(answer.as_bytes())
        .unwrap();
    p.wait_with_output().expect("script output")
}

#[tokio::test]
async fn checkpoint_status_and_reset() -> Result<()> {
    let s = Stack::start().await?;
    let (s0, s1) = (s.shards[0].clone(), s.shards[1].clone());
    write_checkpoint(&s, PROCESSOR, &s0, "12").await;
    write_checkpoint(&s, PROCESSOR, &s1, "40").await;
    write_checkpoint(&s, REDRIVE_PROCESSOR, &format!("{s0}@abc"), "3").await;
    DynamoStateStore::new(s.dynamodb(), STATE_TABLE)
        .record_progress(
            &format!("{PROCESSOR}#{s0}"),
            &Position {
                sequence: "12".parse().unwrap(),
                sub_sequence: None,
            },
            5,
            chrono::Utc::now(),
        )
        .await?;

    // --- status, human ---
    let o = run(s.cdc_ops().args(["checkpoint", "status"]));
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    for needle in [
        "PROCESSOR",
        PROCESSOR,
        STREAM,
        s0.as_str(),
        s1.as_str(),
        "12",
        "40",
        "1 re-drive record(s)",
        &format!("{PROCESSOR}#{s0}"),
    ] {
        assert!(out.contains(needle), "{needle} missing in\n{out}");
    }
    assert!(
        !out.contains("@abc"),
        "re-drive records are hidden by default"
    );

    // --- status, JSON ---
    let v = json_out(&run(s.cdc_ops().args(["--json", "checkpoint", "status"])));
    assert_eq!(v["checkpoints"].as_array().unwrap().len(), 2);
    assert_eq!(v["redriveRecords"], 1);
    assert_eq!(v["state"][0]["processedCount"], 5);
    assert!(v["checkpoints"][0]["ageSeconds"].as_u64().unwrap() < 600);
    assert_eq!(v["checkpoints"][0]["stream"], s.stream_arn.as_str());
    let v = json_out(&run(s.cdc_ops().args([
        "checkpoint",
        "status",
        "--json",
        "--include-redrive",
    ])));
    assert_eq!(v["checkpoints"].as_array().unwrap().len(), 3);

    // --- reset without --yes and without a terminal: refused, nothing changed ---
    let o = run(s.cdc_ops().args([
        "checkpoint",
        "reset",
        "--processor",
        PROCESSOR,
        "--shard",
        &s0,
        "--to",
        "3",
    ]));
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    assert!(stderr(&o).contains("--yes"), "{}", stderr(&o));
    assert_eq!(position_of(&s, &s0).await.as_deref(), Some("12"));

    // --- on a terminal: "n" aborts, "y" moves the checkpoint (backwards) ---
    let args = format!("checkpoint reset --processor {PROCESSOR} --shard {s0} --to 3");
    let o = on_terminal(&s, &args, "n\n");
    let shown = format!("{}{}", stdout(&o), stderr(&o));
    assert!(shown.contains("[y/N]"), "{shown}");
    assert!(shown.contains("aborted"), "{shown}");
    assert_eq!(code(&o), 1, "{shown}");
    assert_eq!(position_of(&s, &s0).await.as_deref(), Some("12"));
    let o = on_terminal(&s, &args, "y\n");
    let shown = format!("{}{}", stdout(&o), stderr(&o));
    assert!(shown.contains("reset 1 checkpoint(s)"), "{shown}");
    assert_eq!(position_of(&s, &s0).await.as_deref(), Some("3"));
    assert_eq!(position_of(&s, &s1).await.as_deref(), Some("40"));

    // --- --yes, all shards of the processor (by default the deployed `cdc-processor`, as
    // `invoke` writes it), delete: re-drive records stay ---
    let v = json_out(&run(s.cdc_ops().args([
        "--json",
        "checkpoint",
        "reset",
        "--yes",
    ])));
    assert_eq!(v["reset"].as_array().unwrap().len(), 2);
    assert!(v["reset"][0]["to"].is_null());
    assert_eq!(position_of(&s, &s0).await, None);
    assert_eq!(position_of(&s, &s1).await, None);
    let items = s.checkpoint_items().await?;
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["processor"].as_s().unwrap(), REDRIVE_PROCESSOR);

    // --- create one with --to, --shard and --stream ---
    let o = run(s.cdc_ops().args([
        "checkpoint",
        "reset",
        "--processor",
        PROCESSOR,
        "--shard",
        &s1,
        "--to",
        "77/2",
        "--stream",
        &s.stream_arn,
        "--yes",
    ]));
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(position_of(&s, &s1).await.as_deref(), Some("77"));

    // --- nothing to reset ---
    let o = run(s
        .cdc_ops()
        .args(["checkpoint", "reset", "--processor", "nobody", "--yes"]));
    assert_eq!(code(&o), 2);
    assert!(
        stderr(&o).contains("no checkpoint of processor `nobody`"),
        "{}",
        stderr(&o)
    );
    Ok(())
}

#[tokio::test]
async fn health_check_prints_the_checks_and_exits_by_status() -> Result<()> {
    let s = Stack::start().await?;
    for shard in &s.shards {
        write_checkpoint(&s, PROCESSOR, shard, "1").await;
    }
    let o = run(s.cdc_ops().args(["health", "check"]));
    let out = stdout(&o);
    assert_eq!(code(&o), 0, "{out}\n{}", stderr(&o));
    for needle in [
        "CHECK",
        "eventBus",
        "stream",
        "deadLetterQueue",
        "checkpointAge",
        CHECKPOINT_TABLE,
        DLQ,
        "overall: healthy",
    ] {
        assert!(out.contains(needle), "{needle} missing in\n{out}");
    }
    let v = json_out(&run(s.cdc_ops().args(["health", "check", "--json"])));
    assert_eq!(v["status"], "healthy");
    assert!(v["checks"].as_array().unwrap().len() >= 7);

    s.sqs()
        .send_message()
        .queue_url(&s.dlq)
        .message_body("{}")
        .send()
        .await?;
    let o = run(s.cdc_ops().args(["health", "check"]));
    assert_eq!(code(&o), 3, "{}", stdout(&o));
    assert!(stdout(&o).contains("overall: degraded"));

    s.dynamodb()
        .delete_table()
        .table_name(STATE_TABLE)
        .send()
        .await?;
    let o = run(s.cdc_ops().args(["--json", "health", "check"]));
    assert_eq!(code(&o), 1);
    let v: Value = serde_json::from_slice(&o.stdout)?;
    assert_eq!(v["status"], "unhealthy");
    let failed: Vec<&str> = v["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["status"] == "fail")
        .map(|c| c["target"].as_str().unwrap())
        .collect();
    assert_eq!(failed, vec![STATE_TABLE]);
    Ok(())
}

#[tokio::test]
async fn dlq_list_peeks_and_dlq_process_redrives() -> Result<()> {
    let s = Stack::start().await?;
    let processor = s.processor(&[("MAX_EVENT_SIZE_BYTES", "1536")]).await?;
    let events = s
        .put_and_read(&[("agents#1", big_agent()), ("users#1", BAD_RECORD.to_vec())])
        .await?;
    s.process(&processor, &events).await?;
    assert_eq!(queue_depth(&s.sqs(), &s.dlq).await?, 2);

    // --- list: metadata only, nothing deleted ---
    let o = run(s.cdc_ops().args(["dlq", "list"]));
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    for needle in [
        "cdc-pipeline-dlq (2 shown)",
        "MESSAGE ID",
        "ENTRY_TOO_LARGE",
        "PARSE_ERROR",
        "agents",
        "coredb-trigger",
        &s.shards[0],
    ] {
        assert!(out.contains(needle), "{needle} missing in\n{out}");
    }
    assert_no_record_contents(&o);

    // Not even with every log target at TRACE: the AWS SDK would print the dead letters it
    // receives (their records, base64 included), so its targets are capped.
    let o = run(s.cdc_ops().env("RUST_LOG", "trace").args(["dlq", "list"]));
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("TRACE") || stderr(&o).contains("DEBUG"),
        "no logs at all?"
    );
    assert_no_record_contents(&o);
    let all = format!("{}{}", stdout(&o), stderr(&o));
    let events_json = serde_json::to_value(&events)?;
    let data: Vec<&str> = events_json
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| e.get("Records").and_then(Value::as_array))
        .flatten()
        .filter_map(|r| r.pointer("/kinesis/data").and_then(Value::as_str))
        .collect();
    assert_eq!(data.len(), 2);
    for d in data {
        assert!(
            !all.contains(&d[..d.len().min(40)]),
            "record data in the output"
        );
    }
    let v = json_out(&run(s.cdc_ops().args(["dlq", "list", "--json"])));
    let msgs = v["messages"].as_array().unwrap();
    assert_eq!(msgs.len(), 2, "the listing deleted nothing");
    for m in msgs {
        assert_eq!(m["attempts"], 1);
        assert_eq!(
            m["receiveCount"], 3,
            "the two listings above received each once"
        );
        assert!(m.get("originalEvent").is_none());
    }
    let too_large = msgs
        .iter()
        .find(|m| m["code"] == "ENTRY_TOO_LARGE")
        .unwrap();
    assert_eq!(too_large["table"], "agents");
    assert_eq!(too_large["sourceFormat"], "coredb-trigger");

    // --- process: the fixed limit publishes the agent, the bad record comes back ---
    let o = run(s
        .cdc_ops()
        .env("DLQ_MAX_ATTEMPTS", "3")
        .args(["dlq", "process", "--json", "--yes"]));
    assert_no_record_contents(&o);
    let v = json_out(&o);
    let msgs = v["messages"].as_array().unwrap();
    assert_eq!(msgs.len(), 2, "{v}");
    let published = msgs
        .iter()
        .find(|m| m["outcome"]["outcome"] == "published")
        .context("one published")?;
    assert!(published["deleted"].as_bool().unwrap());
    let again = msgs
        .iter()
        .find(|m| m["outcome"]["outcome"] == "dead-lettered-again")
        .context("one dead-lettered again")?;
    assert_eq!(again["outcome"]["attempts"], 2);
    assert_eq!(again["outcome"]["code"], "PARSE_ERROR");
    let routed = s.drain(&s.routed).await?;
    assert_eq!(routed.len(), 1);
    assert_eq!(
        routed[0]["detail"]["eventId"],
        published["outcome"]["eventId"]
    );
    assert_eq!(queue_depth(&s.sqs(), &s.dlq).await?, 1);

    // --- without --yes and without a terminal: refused, nothing changed ---
    let o = run(s
        .cdc_ops()
        .env("DLQ_MAX_ATTEMPTS", "3")
        .args(["dlq", "process"]));
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    assert!(
        stderr(&o).contains("about 1 dead letter(s)"),
        "{}",
        stderr(&o)
    );
    assert!(stderr(&o).contains("re-run with --yes"), "{}", stderr(&o));
    assert_eq!(queue_depth(&s.sqs(), &s.dlq).await?, 1);
    // …declined on a terminal: nothing changed either.
    let o = on_terminal(&s, "dlq process", "n\n");
    assert_eq!(code(&o), 1, "{}", stdout(&o));
    assert!(
        stdout(&o).contains("Re-drive them? [y/N]"),
        "{}",
        stdout(&o)
    );
    assert_eq!(queue_depth(&s.sqs(), &s.dlq).await?, 1);

    // --- process again (human, confirmed): the bad record reaches DLQ_MAX_ATTEMPTS, is parked ---
    let o = run(s
        .cdc_ops()
        .env("DLQ_MAX_ATTEMPTS", "3")
        .args(["dlq", "process", "-y"]));
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("cdc-pipeline-dlq (1 processed)"), "{out}");
    assert!(out.contains("parked"), "{out}");
    assert!(out.contains("PARSE_ERROR"), "{out}");
    assert_no_record_contents(&o);
    assert!(
        s.drain(&s.routed).await?.is_empty(),
        "nothing published twice"
    );
    assert_eq!(queue_depth(&s.sqs(), &s.dlq).await?, 0);

    let v = json_out(&run(s.cdc_ops().args([
        "dlq",
        "list",
        "--parking",
        "--json",
    ])));
    let parked = v["messages"].as_array().unwrap();
    assert_eq!(parked.len(), 1);
    assert_eq!(parked[0]["attempts"], 3);
    assert_eq!(parked[0]["code"], "PARSE_ERROR");

    // --- an empty queue ---
    let o = run(s.cdc_ops().args(["dlq", "process", "--yes"]));
    assert!(stdout(&o).contains("(0 processed)"), "{}", stdout(&o));
    Ok(())
}

fn write_json(dir: &Path, name: &str, v: &impl serde::Serialize) -> String {
    let p = dir.join(name);
    std::fs::write(&p, serde_json::to_vec(v).unwrap()).unwrap();
    p.display().to_string()
}

#[tokio::test]
async fn invoke_runs_each_function_on_an_event_file() -> Result<()> {
    let s = Stack::start().await?;
    let dir = tempfile::tempdir()?;

    // --- cdc-processor on a Kinesis event ---
    let events = s
        .put_and_read(&[("agents#1", insert("agents", example("agents")))])
        .await?;
    assert_eq!(events.len(), 1);
    let file = write_json(dir.path(), "kinesis.json", &events[0]);
    let o = run(s
        .cdc_ops()
        .args(["invoke", "--function", "cdc-processor", "--event", &file]));
    let v = json_out(&o);
    assert_eq!(v["batchItemFailures"], serde_json::json!([]));
    assert!(stderr(&o).contains("\"RecordsIn\":1"), "{}", stderr(&o));
    assert_eq!(s.drain(&s.routed).await?.len(), 1);
    // Its checkpoint is the deployed processor's (default name cdc-processor).
    let shard = events[0].records[0]
        .event_id
        .as_deref()
        .unwrap()
        .split(':')
        .next()
        .unwrap()
        .to_string();
    assert!(position_of(&s, &shard).await.is_some());
    // A second invoke of the same event publishes nothing again.
    let o = run(s
        .cdc_ops()
        .args(["invoke", "--function", "cdc-processor", "--event", &file]));
    json_out(&o);
    assert!(s.drain(&s.routed).await?.is_empty());

    // --- health-check, with and without an event ---
    let scheduled = write_json(
        dir.path(),
        "scheduled.json",
        &serde_json::json!({"version": "0", "source": "aws.events", "detail-type": "Scheduled Event", "detail": {}}),
    );
    let o = run(s.cdc_ops().args([
        "invoke",
        "--function",
        "health-check",
        "--event",
        &scheduled,
    ]));
    let v = json_out(&o);
    assert!(v["status"].is_string());
    assert!(stderr(&o).contains("HealthCheckFailed"), "{}", stderr(&o));
    let v = json_out(&run(s.cdc_ops().args([
        "invoke",
        "--function",
        "cdc-health-check",
    ])));
    assert!(v["checks"].as_array().unwrap().len() >= 6);

    // --- dead-letter-processor on an SQS event ---
    let small_limit = s.processor(&[("MAX_EVENT_SIZE_BYTES", "1536")]).await?;
    let events = s.put_and_read(&[("agents#2", big_agent())]).await?;
    // Only the new record is handled: the first is below the checkpoint.
    s.process(&small_limit, &events).await?;
    let (sqs_event, _) = s.receive_event(&s.dlq).await?;
    assert_eq!(sqs_event.records.len(), 1);
    let file = write_json(dir.path(), "sqs.json", &sqs_event);
    let o = run(s.cdc_ops().args([
        "invoke",
        "--function",
        "dead-letter-processor",
        "--event",
        &file,
    ]));
    let v = json_out(&o);
    assert_eq!(v["batchItemFailures"], serde_json::json!([]));
    assert!(
        stderr(&o).contains("\"RedrivePublished\":1"),
        "{}",
        stderr(&o)
    );
    assert_eq!(s.drain(&s.routed).await?.len(), 1);
    assert_no_record_contents(&o);

    // --- the documented command: the shipped sample event (its stream is the template's
    // default, so the checkpoint it writes is the one the health check reads) ---
    let sample = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../events/sample-cdc-event.json"
    );
    let o = run(s
        .cdc_ops()
        .args(["invoke", "--function", "cdc-processor", "--event", sample]));
    let v = json_out(&o);
    assert_eq!(v["batchItemFailures"], serde_json::json!([]), "{v}");
    let err = stderr(&o);
    assert!(err.contains("\"RecordsIn\":18"), "{err}");
    assert!(err.contains("\"Published\":11"), "{err}");
    assert_no_record_contents(&o);
    // The consumer's rule takes users, agents and orders of the 11.
    let routed = s.drain(&s.routed).await?;
    assert!(!routed.is_empty());
    for e in &routed {
        let table = e["detail"]["table"].as_str().unwrap_or_default();
        assert!(TABLES.contains(&table), "{table}");
    }
    assert!(position_of(&s, "shardId-000000000000").await.is_some());
    // The positional spelling is the same command; everything is below the checkpoint now.
    let o = run(s.cdc_ops().args(["invoke", sample]));
    json_out(&o);
    assert!(stderr(&o).contains("\"Skipped\":18"), "{}", stderr(&o));
    assert!(s.drain(&s.routed).await?.is_empty());

    // --- wrong function, wrong event ---
    let o = run(s
        .cdc_ops()
        .args(["invoke", "--function", "state-manager", "--event", &file]));
    assert_eq!(code(&o), 2);
    assert!(stderr(&o).contains("unknown function"), "{}", stderr(&o));
    let o = run(s.cdc_ops().args([
        "invoke",
        "--function",
        "cdc-processor",
        "--event",
        &scheduled,
    ]));
    assert_eq!(code(&o), 2);
    assert!(
        stderr(&o).contains("is not a Lambda Kinesis event"),
        "{}",
        stderr(&o)
    );
    Ok(())
}

#[tokio::test]
async fn logs_tail_runs_or_prints_the_aws_cli_command() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let bin = env!("CARGO_BIN_EXE_cdc-ops");
    // --print: only the command.
    let o = run(Command::new(bin).env_clear().args([
        "logs",
        "tail",
        "--function",
        "health-check",
        "--print",
    ]));
    assert!(o.status.success());
    assert_eq!(
        stdout(&o).trim(),
        "aws logs tail /aws/lambda/cdc-health-check --follow"
    );
    let v = json_out(&run(Command::new(bin).env_clear().args([
        "--json",
        "--name-prefix",
        "staging-",
        "logs",
        "tail",
        "--function",
        "dead-letter-processor",
        "--since",
        "10m",
        "--no-follow",
        "--print",
    ])));
    assert_eq!(
        v["command"],
        serde_json::json!([
            "aws",
            "logs",
            "tail",
            "/aws/lambda/staging-cdc-dead-letter-processor",
            "--since",
            "10m"
        ])
    );

    // No AWS CLI on PATH: printed, with a note.
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty)?;
    let o = run(Command::new(bin)
        .env_clear()
        .env("PATH", &empty)
        .args(["logs", "tail"]));
    assert!(o.status.success());
    assert_eq!(
        stdout(&o).trim(),
        "aws logs tail /aws/lambda/cdc-processor --follow"
    );
    assert!(stderr(&o).contains("not on PATH"), "{}", stderr(&o));

    // An AWS CLI v1 (no `logs tail`) counts as none.
    let v1 = dir.path().join("v1");
    std::fs::create_dir(&v1)?;
    std::fs::write(
        v1.join("aws"),
        "#!/bin/sh\necho 'aws-cli/1.45.11 Python/3.11' >&2\nexit 0\n",
    )?;
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(v1.join("aws"), std::fs::Permissions::from_mode(0o755))?;
    }
    let o = run(Command::new(bin)
        .env_clear()
        .env("PATH", format!("{}:/usr/bin:/bin", v1.display()))
        .args(["logs", "tail"]));
    assert!(o.status.success());
    assert_eq!(
        stdout(&o).trim(),
        "aws logs tail /aws/lambda/cdc-processor --follow"
    );
    assert!(stderr(&o).contains("needs v2"), "{}", stderr(&o));

    // An AWS CLI v2 on PATH is run with the arguments (here a stand-in that records them).
    let fake = dir.path().join("fake");
    std::fs::create_dir(&fake)?;
    let record = dir.path().join("args.txt");
    let script = fake.join("aws");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\nif [ \"$1\" = --version ]; then echo aws-cli/2.15.0; exit 0; fi\necho \"$@ endpoint=$AWS_ENDPOINT_URL\" > {}\n",
            record.display()
        ),
    )?;
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755))?;
    let o = run(Command::new(bin)
        .env_clear()
        .env("PATH", format!("{}:/usr/bin:/bin", fake.display()))
        .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
        .args(["logs", "tail", "--function", "cdc-processor"]));
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        std::fs::read_to_string(&record)?.trim(),
        "logs tail /aws/lambda/cdc-processor --follow endpoint=http://127.0.0.1:9"
    );
    Ok(())
}
