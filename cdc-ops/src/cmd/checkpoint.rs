//! `cdc-ops checkpoint status|reset`: the checkpoint table, read and rewound.

use crate::*;
// ------------------------------------------------------------------------------------------------
// checkpoint status / reset
// ------------------------------------------------------------------------------------------------

pub(crate) async fn checkpoint_status(
    ctx: &Ctx,
    processor: Option<&str>,
    include_redrive: bool,
) -> Result<ExitCode> {
    let ddb = ctx.dynamodb();
    let checkpoint_table = ctx.table("CHECKPOINT_TABLE_NAME");
    let state_table = ctx.table("STATE_TABLE_NAME");
    let all = list_checkpoints(&ddb, &checkpoint_table).await?;
    let redrive_records = all.iter().filter(|r| r.is_redrive_record()).count();
    let rows: Vec<&CheckpointRow> = all
        .iter()
        .filter(|r| include_redrive || !r.is_redrive_record())
        .filter(|r| processor.is_none_or(|p| r.processor == p))
        .collect();
    let state: Vec<_> = list_state(&ddb, &state_table)
        .await?
        .into_iter()
        .filter(|s| {
            processor.is_none_or(|p| s.processor == p || s.processor.starts_with(&format!("{p}#")))
        })
        .collect();
    let now = chrono::Utc::now();
    if ctx.json {
        let checkpoints: Vec<Value> = rows
            .iter()
            .map(|r| {
                let mut v = serde_json::to_value(r).unwrap_or(Value::Null);
                v["ageSeconds"] = json!(r.age(now).map(|a| a.as_secs()));
                v
            })
            .collect();
        print_json(&json!({
            "checkpointTable": checkpoint_table,
            "stateTable": state_table,
            "checkpoints": checkpoints,
            "redriveRecords": redrive_records,
            "state": state,
        }))?;
        return Ok(ExitCode::SUCCESS);
    }
    println!("Checkpoints (table {checkpoint_table})");
    if rows.is_empty() {
        println!("  none");
    } else {
        print_table(
            &["PROCESSOR", "STREAM", "SHARD", "SEQUENCE", "UPDATED", "AGE"],
            &rows
                .iter()
                .map(|r| {
                    vec![
                        r.processor.clone(),
                        short_stream(&r.stream).to_string(),
                        r.shard.clone(),
                        match (&r.sequence_number, r.sub_sequence_number) {
                            (Some(s), Some(sub)) => format!("{s}/{sub}"),
                            (s, _) => or_dash(s.as_ref()),
                        },
                        or_dash(r.updated_at.map(|t| t.format("%Y-%m-%dT%H:%M:%SZ"))),
                        or_dash(r.age(now).map(human_duration)),
                    ]
                })
                .collect::<Vec<_>>(),
        );
    }
    if !include_redrive && redrive_records > 0 {
        println!(
            "  ({redrive_records} re-drive record(s) of the dead-letter processor not shown: --include-redrive)"
        );
    }
    println!();
    println!("State (table {state_table})");
    if state.is_empty() {
        println!("  none");
    } else {
        print_table(
            &["PROCESSOR#SHARD", "LAST SEQUENCE", "PROCESSED", "UPDATED"],
            &state
                .iter()
                .map(|s| {
                    vec![
                        s.processor.clone(),
                        or_dash(s.last_processed_sequence.as_ref()),
                        or_dash(s.processed_count),
                        or_dash(s.last_updated.map(|t| t.format("%Y-%m-%dT%H:%M:%SZ"))),
                    ]
                })
                .collect::<Vec<_>>(),
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// Asks on the terminal; `Ok(false)` when the operator declines. Refuses when stdin is not a
/// terminal.
pub(crate) fn confirm(question: &str, what: &str) -> Result<bool> {
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        bail!(
            "refusing to {what} without confirmation: stdin is not a terminal; re-run with --yes"
        );
    }
    eprint!("{question} [y/N] ");
    std::io::stderr().flush()?;
    let mut answer = String::new();
    stdin.lock().read_line(&mut answer)?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes" | "YES" | "Yes"))
}

pub(crate) async fn checkpoint_reset(
    ctx: &Ctx,
    processor: &str,
    shard: Option<&str>,
    to: Option<&str>,
    stream: Option<&str>,
    yes: bool,
) -> Result<ExitCode> {
    let ddb = ctx.dynamodb();
    let table = ctx.table("CHECKPOINT_TABLE_NAME");
    let to = to.map(parse_position).transpose()?;
    let rows = list_checkpoints(&ddb, &table).await?;
    let plans = plan_reset(&rows, processor, shard, to.as_ref(), stream)?;
    if !ctx.json || !yes {
        eprintln!("Checkpoint reset (table {table}):");
        for p in &plans {
            eprintln!(
                "  {} {} {}: {} -> {}",
                p.key.processor,
                short_stream(&p.key.stream),
                p.key.shard,
                p.from.as_deref().unwrap_or("(none)"),
                p.to.as_deref().unwrap_or("(deleted: nothing is skipped)")
            );
        }
    }
    if !yes
        && !confirm(
            &format!("Reset {} checkpoint(s)?", plans.len()),
            "change checkpoints",
        )?
    {
        eprintln!("aborted: nothing changed");
        return Ok(ExitCode::from(1));
    }
    let ttl_days: u64 = ctx
        .var("CHECKPOINT_TTL_DAYS")
        .and_then(|d| d.parse().ok())
        .unwrap_or(30);
    for p in &plans {
        apply_reset(
            &ddb,
            &table,
            &p.key,
            to.as_ref(),
            Duration::from_secs(ttl_days * 86_400),
        )
        .await?;
    }
    if ctx.json {
        print_json(&json!({ "table": table, "reset": plans }))?;
    } else {
        println!("reset {} checkpoint(s)", plans.len());
    }
    Ok(ExitCode::SUCCESS)
}
