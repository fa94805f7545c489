//! `cargo xtask demo`: the whole chain on this machine — PostgreSQL with the generated capture
//! triggers, the relay, moto Kinesis, the processor's Lambda handler, moto EventBridge → SQS, and
//! what a consumer receives. Exits 0 only when every change arrived.

#[path = "../tests/it/support/mod.rs"]
mod support;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let summary = support::demo::run(&mut std::io::stdout()).await?;
    if !summary.complete() {
        anyhow::bail!("not every change arrived: {summary:?}");
    }
    Ok(())
}
