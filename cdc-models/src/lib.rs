//! Typed CoreDB table models for the CDC pipeline.
//!
//! Everything under [`generated`] is produced by `cargo xtask codegen` from `model-schemas/*.json`
//! and must never be edited by hand. The rest of this crate is the small hand-written core the
//! generated code stands on:
//!
//! - [`Column`]: a column of a change image, which can be absent, SQL `NULL`, or a value;
//! - [`TableImage`] / [`DynImage`]: what every generated image type can do (redact, project,
//!   check completeness, extract its key);
//! - [`TableMeta`] / [`FieldMeta`]: the per-table and per-column metadata from the schemas'
//!   `x-cdc` and `x-redact` annotations;
//! - [`RedactPolicy`] / [`Redactor`]: the redaction policies and the keyed HMAC used by `hash`;
//! - [`Operation`]: the kind of change.
//!
//! ```
//! use cdc_models::{Column, DynImage, Redactions, Redactor, Table, TableImage};
//! use cdc_models::generated::users::UserImage;
//!
//! let mut image: UserImage = serde_json::from_str(
//!     r#"{"id": "5b0c1d9e-6a3f-4a57-9d2e-0f4b7c8a1e21", "email": "a@example.com", "status": "active"}"#,
//! ).unwrap();
//! assert!(!image.is_full()); // only three of the table's columns are present
//!
//! let redactor = Redactor::new(b"a key given at run time".to_vec()).unwrap();
//! let mut applied = Redactions::default();
//! TableImage::redact(&mut image, &redactor, &mut applied);
//! assert_eq!(image.email, Column::Value("[REDACTED]".to_string()));
//! assert_eq!(Table::from_name("users"), Some(Table::Users));
//! ```

mod column;
mod image;
mod meta;
mod operation;
mod redact;

#[allow(missing_docs, clippy::all, clippy::pedantic, rust_2018_idioms, unused)]
pub mod generated;

pub use column::Column;
pub use generated::{AnyImage, AnyKey, Table};
pub use image::{DynImage, ImageError, TableImage};
pub use meta::{Category, ColumnKind, FieldMeta, Include, Projection, TableMeta};
pub use operation::Operation;
pub use redact::{RedactPolicy, Redactions, Redactor, RedactorError, Sensitive, MASK};

/// The version of the `detail` structure of published `CDC.TableChange` events.
pub const DETAIL_VERSION: &str = "1.0";

/// Serde helpers used by generated code; not part of the public API.
#[doc(hidden)]
pub mod __private {
    pub use serde;
    pub use serde_json;
}
