//! One test alone in a process of its own: for a test that changes what the whole process shares
//! (its environment variables, the global `tracing` subscriber), which the other tests of this
//! binary, running on other threads at the same time, must not see.
//!
//! ```ignore
//! #[tokio::test]
//! async fn sets_process_variables() {
//!     if !alone(concat!(module_path!(), "::sets_process_variables")) {
//!         return; // the parent: the test ran, and passed, in its own process
//!     }
//!     std::env::set_var("…", "…"); // the child: alone in its process
//! }
//! ```

use std::process::Command;

/// The variable that tells the child process which test it runs alone.
const ALONE: &str = "CDC_PROCESSOR_IT_ALONE";

/// Whether to run the test's body here: `true` in the child process, which runs only `test`
/// (its full path, `module_path!()` and the function's name); `false` in the parent, after the
/// child ran the test and it passed.
///
/// # Panics
/// In the parent, when the test failed in the child or did not run there (its output is in the
/// message).
pub fn alone(test: &str) -> bool {
    // `module_path!()` starts with the crate (`it::`); the harness names tests without it.
    let name = test.split_once("::").map_or(test, |(_, rest)| rest);
    if std::env::var(ALONE).as_deref() == Ok(name) {
        return true;
    }
    let out = Command::new(std::env::current_exe().expect("the test binary's path"))
        .args([name, "--exact", "--test-threads=1", "--nocapture"])
        .env(ALONE, name)
        .output()
        .expect("running the test binary");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "{name} failed in its own process:\n{text}"
    );
    assert!(
        text.contains("test result: ok. 1 passed"),
        "{name} did not run in its own process:\n{text}"
    );
    print!("{text}");
    false
}
