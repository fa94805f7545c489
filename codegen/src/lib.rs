//! The generator: CoreDB model JSON Schemas → typed Rust for `cdc-models`.
//!
//! A library, separate from its command line (`cargo xtask codegen`), in the manner of typify and
//! progenitor. [`Generator`] reads every `*.json` schema of a directory, checks the project's
//! conventions (see `model-schemas/README.md`), runs typify on each table, walks typify's output
//! with syn, adds per-table redaction metadata, image and key types with quote, and formats
//! everything with prettyplease. [`sql`] writes the PostgreSQL capture SQL from the same schemas
//! ([`Generator::generate_sql`]).
//!
//! ```no_run
//! let files = codegen::Generator::new(codegen::Settings::new("model-schemas"))
//!     .generate()
//!     .expect("schemas are valid");
//! for f in &files {
//!     println!("{} ({} bytes)", f.path.display(), f.contents.len());
//! }
//! ```

mod attrs;
mod emit;
mod error;
mod event_schema;
mod lint;
mod names;
mod open_enum;
mod registry;
mod rules;
mod schema;
pub mod sql;

pub use error::{Error, SchemaError};
pub use names::looks_personal;
pub use schema::TableSchema;

use std::path::{Path, PathBuf};

/// Generator settings (a builder).
#[derive(Debug, Clone)]
pub struct Settings {
    schema_dir: PathBuf,
    crate_path: String,
}

impl Settings {
    /// Settings reading schemas from `schema_dir`.
    pub fn new(schema_dir: impl Into<PathBuf>) -> Self {
        Settings {
            schema_dir: schema_dir.into(),
            crate_path: "crate".to_string(),
        }
    }

    /// The path generated code uses to reach the `cdc-models` core (default `crate`).
    pub fn with_crate_path(mut self, path: impl Into<String>) -> Self {
        self.crate_path = path.into();
        self
    }

    /// The schema directory.
    pub fn schema_dir(&self) -> &Path {
        &self.schema_dir
    }
}

/// One output file, with a path relative to the output directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GeneratedFile {
    /// Path relative to the output directory (`users.rs`, `schemas/users.json`, …).
    pub path: PathBuf,
    /// Full file contents.
    pub contents: String,
}

/// The generator.
#[derive(Debug, Clone)]
pub struct Generator {
    settings: Settings,
}

impl Generator {
    /// A generator with these settings.
    pub fn new(settings: Settings) -> Self {
        Generator { settings }
    }

    /// Reads, checks and generates every schema. Either every file is produced or nothing is and
    /// every problem found is returned, each with its file, JSON pointer and reason.
    pub fn generate(&self) -> Result<Vec<GeneratedFile>, Error> {
        let sources = schema::read_dir(&self.settings.schema_dir)?;
        self.generate_from_sources(sources)
    }

    /// Generates from in-memory `(file name, contents)` pairs (used by snapshot tests).
    pub fn generate_from_sources(
        &self,
        sources: Vec<(String, String)>,
    ) -> Result<Vec<GeneratedFile>, Error> {
        let tables = lint::check_all(&sources)?;
        let mut files = Vec::new();
        let mut errors = Vec::new();
        for (table, (file, text)) in tables.iter().zip(&sources) {
            match emit::table_module(table, &self.settings) {
                Ok(code) => files.push(GeneratedFile {
                    path: PathBuf::from(format!("{}.rs", table.name)),
                    contents: code,
                }),
                Err(e) => errors.push(e),
            }
            files.push(GeneratedFile {
                path: PathBuf::from(format!("schemas/{file}")),
                contents: normalize_newline(text),
            });
            files.push(GeneratedFile {
                path: PathBuf::from(format!("event-schemas/{}.json", table.name)),
                contents: event_schema::render(table),
            });
        }
        if !errors.is_empty() {
            return Err(Error::Schemas(errors));
        }
        files.push(GeneratedFile {
            path: PathBuf::from("mod.rs"),
            contents: registry::registry(&tables, &self.settings),
        });
        files.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(files)
    }
}

impl Generator {
    /// Generates the PostgreSQL capture SQL (see [`sql`]) from every schema.
    pub fn generate_sql(&self) -> Result<Vec<GeneratedFile>, Error> {
        let sources = schema::read_dir(&self.settings.schema_dir)?;
        self.generate_sql_from_sources(sources)
    }

    /// Generates the capture SQL from in-memory `(file name, contents)` pairs.
    pub fn generate_sql_from_sources(
        &self,
        sources: Vec<(String, String)>,
    ) -> Result<Vec<GeneratedFile>, Error> {
        Ok(sql::files(&lint::check_all(&sources)?))
    }
}

fn normalize_newline(text: &str) -> String {
    let mut s = text.replace("\r\n", "\n");
    if !s.ends_with('\n') {
        s.push('\n');
    }
    s
}

/// The "do not edit" header line every generated Rust file starts with.
pub fn header(source: &str) -> String {
    format!("// @generated by `cargo xtask codegen` from {source} — do not edit.\n")
}
