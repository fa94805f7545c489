//! The snapshot check both generator test binaries use (`generate.rs`, `sql.rs`).

use std::path::PathBuf;

/// Compares `actual` with `tests/snapshots/<name>`; with `UPDATE_SNAPSHOTS` set, writes it there
/// instead (after an intended generator change).
pub fn check_snapshot(name: &str, actual: &str) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/snapshots")
        .join(name);
    if std::env::var_os("UPDATE_SNAPSHOTS").is_some() {
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|_| {
        panic!(
            "missing snapshot {}; run with UPDATE_SNAPSHOTS=1",
            path.display()
        )
    });
    pretty_assertions::assert_eq!(
        expected,
        actual,
        "snapshot {name} differs; UPDATE_SNAPSHOTS=1 to accept"
    );
}
