//! Fuzzing regressions in the normal test suite: every input kept in `fuzz/regressions/<target>/`
//! (each one crashed a fuzz target once, and its fix is described next to it in
//! `fuzz/regressions/README.md`) and every seed in `fuzz/seeds/<target>/` is run through the same
//! check the fuzz target runs (`fuzz/checks/`), which panics when an invariant breaks.

#[path = "../../../fuzz/checks/mod.rs"]
mod checks;

use std::path::PathBuf;

fn inputs(dir: &str, target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let d = testkit::workspace_root()
        .join("fuzz")
        .join(dir)
        .join(target);
    let Ok(entries) = std::fs::read_dir(&d) else {
        return Vec::new();
    };
    let mut out: Vec<(PathBuf, Vec<u8>)> = entries
        .map(|e| e.expect("directory entry").path())
        .filter(|p| p.is_file())
        .map(|p| {
            let data = std::fs::read(&p).expect("readable input");
            (p, data)
        })
        .collect();
    out.sort();
    out
}

fn replay(dir: &str) -> usize {
    let mut n = 0;
    for (target, check) in checks::ALL {
        for (path, data) in inputs(dir, target) {
            let result = std::panic::catch_unwind(|| check(&data));
            assert!(
                result.is_ok(),
                "{target}: {} breaks the check again",
                path.display()
            );
            n += 1;
        }
    }
    n
}

#[test]
fn kept_crash_inputs_pass_their_checks() {
    let n = replay("regressions");
    // Every target directory under fuzz/regressions has a check.
    let root = testkit::workspace_root().join("fuzz/regressions");
    for e in std::fs::read_dir(&root).expect("fuzz/regressions exists") {
        let p = e.unwrap().path();
        if p.is_dir() {
            let name = p.file_name().unwrap().to_string_lossy().to_string();
            assert!(
                checks::ALL.iter().any(|(t, _)| *t == name),
                "fuzz/regressions/{name} has no check"
            );
        }
    }
    assert!(n > 0, "no regression inputs found under {}", root.display());
}

#[test]
fn seeds_pass_their_checks() {
    let n = replay("seeds");
    assert!(n >= 50, "{n} seeds");
}
