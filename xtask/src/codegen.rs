//! `cargo xtask codegen [--check]`.

use anyhow::{bail, Context, Result};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Write the files, or only compare them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// Write what differs, delete leftovers.
    Overwrite,
    /// Change nothing; fail when anything differs.
    Check,
}

/// The workspace root.
pub(crate) fn project_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives in the workspace root")
        .to_path_buf()
}

/// Where generated code goes.
pub(crate) fn out_dir() -> PathBuf {
    project_root().join("cdc-models/src/generated")
}

/// What differs between the generator's output and the files on disk.
#[derive(Debug, Default)]
pub(crate) struct Drift {
    pub stale: Vec<PathBuf>,
    pub missing: Vec<PathBuf>,
    pub leftover: Vec<PathBuf>,
}

impl Drift {
    fn is_empty(&self) -> bool {
        self.stale.is_empty() && self.missing.is_empty() && self.leftover.is_empty()
    }
}

fn existing_files(dir: &Path) -> Result<BTreeSet<PathBuf>> {
    let mut out = BTreeSet::new();
    if !dir.exists() {
        return Ok(out);
    }
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).with_context(|| format!("reading {}", d.display()))? {
            let path = entry?.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                out.insert(path.strip_prefix(dir)?.to_path_buf());
            }
        }
    }
    Ok(out)
}

/// Where the generated capture SQL goes.
pub(crate) fn sql_out_dir() -> PathBuf {
    project_root().join("cdc-capture/sql/generated")
}

/// Generates and compares (and in overwrite mode writes) the Rust code and the capture SQL;
/// returns what differed, with paths relative to the workspace root.
pub(crate) fn sync(mode: Mode) -> Result<Drift> {
    let root = project_root();
    let generator = ::codegen::Generator::new(::codegen::Settings::new(root.join("model-schemas")));
    let rust = generator
        .generate()
        .context("generating from model-schemas")?;
    let sql = generator
        .generate_sql()
        .context("generating capture SQL from model-schemas")?;
    let mut drift = Drift::default();
    for (files, out) in [(rust, out_dir()), (sql, sql_out_dir())] {
        let d = sync_dir(mode, &files, &out)?;
        let rel = |p: PathBuf| out.strip_prefix(&root).unwrap_or(&out).join(p);
        drift.stale.extend(d.stale.into_iter().map(rel));
        drift.missing.extend(d.missing.into_iter().map(rel));
        drift.leftover.extend(d.leftover.into_iter().map(rel));
    }
    Ok(drift)
}

/// Syncs one output directory.
fn sync_dir(mode: Mode, files: &[::codegen::GeneratedFile], out: &Path) -> Result<Drift> {
    let mut drift = Drift::default();
    let mut expected = BTreeSet::new();
    for f in files {
        expected.insert(f.path.clone());
        let path = out.join(&f.path);
        match std::fs::read_to_string(&path) {
            Ok(current) if current == f.contents => continue,
            Ok(_) => drift.stale.push(f.path.clone()),
            Err(_) => drift.missing.push(f.path.clone()),
        }
        if mode == Mode::Overwrite {
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent)?;
            }
            std::fs::write(&path, &f.contents)
                .with_context(|| format!("writing {}", path.display()))?;
        }
    }
    for existing in existing_files(out)? {
        if !expected.contains(&existing) {
            drift.leftover.push(existing.clone());
            if mode == Mode::Overwrite {
                std::fs::remove_file(out.join(&existing))?;
            }
        }
    }
    Ok(drift)
}

/// Runs the command.
pub(crate) fn run(mode: Mode) -> Result<()> {
    let start = Instant::now();
    let drift = sync(mode)?;
    let list = |label: &str, paths: &[PathBuf]| {
        for p in paths {
            eprintln!("  {label:8} {}", p.display());
        }
    };
    list("stale", &drift.stale);
    list("missing", &drift.missing);
    list("leftover", &drift.leftover);
    let elapsed = start.elapsed();
    match mode {
        Mode::Check if !drift.is_empty() => {
            bail!("generated code is out of date: run `cargo xtask codegen` and commit the result")
        }
        Mode::Check => eprintln!("generated code is fresh ({elapsed:.2?})"),
        Mode::Overwrite => eprintln!(
            "codegen: {} updated, {} removed ({elapsed:.2?})",
            drift.stale.len() + drift.missing.len(),
            drift.leftover.len()
        ),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `cargo test` fails when the committed generated code is not what the schemas produce.
    #[test]
    fn generated_code_is_fresh() {
        let drift = sync(Mode::Check).expect("codegen runs");
        assert!(
            drift.is_empty(),
            "generated code is out of date, run `cargo xtask codegen`: {drift:?}"
        );
    }
}
