//! `cdc-ops health check`: the `health-check` function's checks, run with the operator's credentials.

use crate::*;
// ------------------------------------------------------------------------------------------------
// health check
// ------------------------------------------------------------------------------------------------

pub(crate) async fn health_check(ctx: &mut Ctx) -> Result<ExitCode> {
    if let Err(e) = ctx.resolve_queue("DLQ_QUEUE_URL", "cdc-pipeline-dlq").await {
        // A missing queue is a failed check (below), like every other missing resource; only
        // what stops every check (no credentials, no network) ends the command here.
        match e.chain().find_map(|c| c.downcast_ref::<OpsError>()) {
            Some(OpsError::NotFound { .. }) => {
                // A URL of the missing queue (in no account): its check reports it missing.
                let base = env("AWS_ENDPOINT_URL_SQS")
                    .or_else(|| env("AWS_ENDPOINT_URL"))
                    .unwrap_or_else(|| {
                        format!("https://sqs.{}.amazonaws.com", ctx.table("AWS_REGION"))
                    });
                let url = format!(
                    "{}/000000000000/{}cdc-pipeline-dlq",
                    base.trim_end_matches('/'),
                    ctx.prefix
                );
                ctx.defaults.insert("DLQ_QUEUE_URL", url);
            }
            _ => return Err(e),
        }
    }
    ctx.set_function("cdc-health-check");
    let checker = HealthChecker::init(ctx.lookup(), &ctx.sdk, MetricsSink::memory().0)?;
    let report = checker.check().await;
    if ctx.json {
        print_json(&report)?;
    } else {
        print_table(
            &["CHECK", "TARGET", "STATUS", "LATENCY", "RESULT"],
            &report
                .checks
                .iter()
                .map(|c| {
                    vec![
                        c.name.clone(),
                        short_queue(&c.target).to_string(),
                        c.status.as_str().to_uppercase(),
                        format!("{} ms", c.latency_ms),
                        c.message.clone(),
                    ]
                })
                .collect::<Vec<_>>(),
        );
        let problems = report
            .checks
            .iter()
            .filter(|c| c.status != CheckStatus::Ok)
            .count();
        println!();
        println!(
            "overall: {} ({} checks, {} not ok, {} ms)",
            report.status.as_str(),
            report.checks.len(),
            problems,
            report.duration_ms
        );
    }
    Ok(match report.status {
        HealthStatus::Healthy => ExitCode::SUCCESS,
        HealthStatus::Degraded => ExitCode::from(3),
        HealthStatus::Unhealthy => ExitCode::from(1),
    })
}
