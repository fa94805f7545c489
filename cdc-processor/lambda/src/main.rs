//! The `cdc-processor` Lambda function as deployed: the Lambda runtime loop of
//! `cdc_processor::aws::lambda::run`, nothing else (the `local` and `validate` subcommands are in
//! the `cdc-processor` binary's `cli` feature, which this package does not enable).

fn main() -> std::process::ExitCode {
    cdc_processor::aws::lambda::main()
}
