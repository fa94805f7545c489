//! `cdc-ops invoke`: a function's handler, run in-process on an event file.

use crate::*;
// ------------------------------------------------------------------------------------------------
// invoke
// ------------------------------------------------------------------------------------------------

/// The template's function name for a short or full name.
pub(crate) fn function_name(f: &str) -> Result<&'static str> {
    Ok(match f {
        "cdc-processor" | "processor" => "cdc-processor",
        "health-check" | "cdc-health-check" => "cdc-health-check",
        "dead-letter-processor" | "cdc-dead-letter-processor" => "cdc-dead-letter-processor",
        other => bail!(
            "unknown function `{other}`: cdc-processor, health-check or dead-letter-processor"
        ),
    })
}

pub(crate) fn read_event(path: &Path) -> Result<Value> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("{} is not JSON", path.display()))
}

pub(crate) fn typed_event<T: serde::de::DeserializeOwned>(
    value: Value,
    path: &Path,
    what: &str,
) -> Result<T> {
    // The error names the position and category only (the event may hold record contents).
    serde_json::from_value(value).map_err(|e| {
        anyhow::anyhow!(
            "{} is not {what} ({:?} error)",
            path.display(),
            e.classify()
        )
    })
}

pub(crate) fn print_metrics(lines: &Arc<Mutex<Vec<String>>>) {
    for l in lines.lock().expect("metrics lock").iter() {
        eprintln!("{l}");
    }
}

pub(crate) async fn invoke(ctx: &mut Ctx, args: &InvokeArgs) -> Result<ExitCode> {
    let function = function_name(&args.function)?;
    let event = match args.event_path()? {
        Some(p) => Some((read_event(p)?, p)),
        None if function == "cdc-health-check" => None,
        None => bail!("an event file (--event FILE) is required for {function}"),
    };
    ctx.set_function(function);
    let (sink, lines) = MetricsSink::memory();
    let response: Value = match function {
        "cdc-processor" => {
            ctx.resolve_queue("DLQ_QUEUE_URL", "cdc-pipeline-dlq")
                .await?;
            let state = AppState::init(ctx.lookup(), &ctx.sdk, sink).await?;
            let (value, path) = event.expect("required above");
            // Read as the deployed function reads it: a record whose `data` is not base64 is
            // that record's PARSE_ERROR, not a failure of the whole event.
            if !value.get("Records").is_some_and(Value::is_array) {
                bail!(
                    "{} is not a Lambda Kinesis event (no `Records` array)",
                    path.display()
                );
            }
            let payload = typed_event(value, path, "a Lambda Kinesis event")?;
            let response =
                processor_handler(&state, LambdaEvent::new(payload, LambdaContext::default()))
                    .await
                    .map_err(|e| anyhow::anyhow!("handler error: {e}"))?;
            serde_json::to_value(response)?
        }
        "cdc-health-check" => {
            ctx.resolve_queue("DLQ_QUEUE_URL", "cdc-pipeline-dlq")
                .await?;
            let checker = HealthChecker::init(ctx.lookup(), &ctx.sdk, sink)?;
            let payload = event.map(|(v, _)| v).unwrap_or_else(|| json!({}));
            let report = health::handler(
                &checker,
                LambdaEvent::new(payload, LambdaContext::default()),
            )
            .await
            .map_err(|e| anyhow::anyhow!("handler error: {e}"))?;
            serde_json::to_value(report)?
        }
        _ => {
            ctx.resolve_queue("DLQ_QUEUE_URL", "cdc-pipeline-dlq")
                .await?;
            ctx.resolve_queue("DLQ_PARKING_QUEUE_URL", "cdc-pipeline-dlq-parking")
                .await?;
            let redriver = Redriver::init(ctx.lookup(), &ctx.sdk, sink).await?;
            let (value, path) = event.expect("required above");
            let payload = typed_event(value, path, "an SQS event")?;
            let response = redrive::handler(
                &redriver,
                LambdaEvent::new(payload, LambdaContext::default()),
            )
            .await
            .map_err(|e| anyhow::anyhow!("handler error: {e}"))?;
            serde_json::to_value(response)?
        }
    };
    // The metrics the function would have logged, on stderr; the response on stdout.
    print_metrics(&lines);
    print_json(&response)?;
    Ok(ExitCode::SUCCESS)
}
