//! `cdc-ops logs tail`: a function's CloudWatch logs through the AWS CLI.

use crate::cmd::invoke::function_name;
use crate::*;
// ------------------------------------------------------------------------------------------------
// logs tail
// ------------------------------------------------------------------------------------------------

/// An executable called `name` on PATH.
pub(crate) fn on_path(name: &str) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join(name))
            .find(|p| {
                p.metadata()
                    .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
            })
    })
}

pub(crate) fn logs_tail(
    cli: &Cli,
    function: &str,
    since: Option<&str>,
    follow: bool,
    print: bool,
) -> Result<ExitCode> {
    let name = format!("{}{}", cli.name_prefix, function_name(function)?);
    let mut args = vec![
        "logs".to_string(),
        "tail".to_string(),
        format!("/aws/lambda/{name}"),
    ];
    if follow {
        args.push("--follow".into());
    }
    if let Some(s) = since {
        args.push("--since".into());
        args.push(s.to_string());
    }
    if let Some(r) = &cli.region {
        args.push("--region".into());
        args.push(r.clone());
    }
    // `aws logs tail` exists in the AWS CLI v2 only.
    let aws = on_path("aws").filter(|aws| {
        std::process::Command::new(aws)
            .arg("--version")
            .output()
            .is_ok_and(|o| {
                String::from_utf8_lossy(&o.stdout).contains("aws-cli/2")
                    || String::from_utf8_lossy(&o.stderr).contains("aws-cli/2")
            })
    });
    if print || aws.is_none() {
        if cli.json {
            let command: Vec<String> = std::iter::once("aws".to_string())
                .chain(args.iter().cloned())
                .collect();
            print_json(&json!({ "command": command }))?;
        } else {
            println!("aws {}", args.join(" "));
        }
        if !print {
            eprintln!(
                "cdc-ops: the AWS CLI v2 is not on PATH (`aws logs tail` needs v2); run the command above where it is"
            );
        }
        return Ok(ExitCode::SUCCESS);
    }
    use std::os::unix::process::CommandExt;
    let err = std::process::Command::new(aws.expect("checked above"))
        .args(&args)
        .exec();
    Err(anyhow::anyhow!("cannot run aws: {err}"))
}
