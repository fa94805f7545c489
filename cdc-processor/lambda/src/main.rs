//! The `cdc-processor` Lambda function as deployed: the Lambda runtime loop of
//! `cdc_processor::aws::lambda::run`, nothing else (the `local` and `validate` subcommands are in
//! the `cdc-processor` binary's `cli` feature, which this package does not enable).

use std::process::ExitCode;

fn main() -> ExitCode {
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cdc-processor: cannot start the async runtime: {e}");
            return ExitCode::from(2);
        }
    };
    match rt.block_on(cdc_processor::aws::lambda::run()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // The error and its causes, as the `cdc-processor` binary prints them.
            let mut message = e.to_string();
            let mut source = e.source();
            while let Some(cause) = source {
                message.push_str(&format!(": {cause}"));
                source = cause.source();
            }
            eprintln!("cdc-processor: {message}");
            ExitCode::from(2)
        }
    }
}
