//! `cargo xtask demo`'s chain, run once: every change of the workload arrives at the consumer.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_delivers_every_change() -> anyhow::Result<()> {
    let mut story = Vec::new();
    let summary = crate::support::demo::run(&mut story).await?;
    let story = String::from_utf8(story)?;
    assert_eq!(summary.committed, 10, "{story}");
    assert_eq!(summary.received, 10, "{story}");
    assert!(summary.complete(), "{story}");
    assert!(story.contains("users   DELETE"), "{story}");
    assert!(story.contains("orders  UPDATE"), "{story}");
    Ok(())
}
