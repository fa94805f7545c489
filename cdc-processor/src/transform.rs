//! Transform: projection (`includeFields`, key columns always kept) and redaction (`x-redact`
//! policies when `ENABLE_DATA_REDACTION=true`), per table from the generated metadata and the
//! configuration's overrides.
//!
//! Leaking is hard by construction: [`Redacted`] can only be made by [`apply`] (or
//! [`apply_in_place`], which borrows the change it redacted), has no mutable access to what it
//! wraps, and [`crate::event`] builds entries only from a `Redacted<'_, Change>` (or
//! `Redacted<'_, &Change>`).

use crate::config::{Redaction, TableSettings};
use crate::error::{ErrorCode, RecordError};
use crate::validate::Change;
use cdc_models::{AnyImage, RedactPolicy, Redactions, Redactor};
use std::sync::OnceLock;

/// A value that went through projection and redaction as configured. Only [`apply`] and
/// [`apply_in_place`] make one. It borrows the table's settings it was made with (`'s`).
#[derive(Debug)]
pub struct Redacted<'s, T> {
    value: T,
    redactions: Redactions,
    event_type: &'s str,
}

impl<'s, T> Redacted<'s, T> {
    /// The projected, redacted value (read-only).
    pub fn value(&self) -> &T {
        &self.value
    }

    /// The columns redacted, and how (the event's `redactions` map).
    pub fn redactions(&self) -> &Redactions {
        &self.redactions
    }

    /// The event type configured for the table.
    pub fn event_type(&self) -> &'s str {
        self.event_type
    }
}

/// Projects and redacts both images of a change.
///
/// With redaction on but no HMAC key, a change that would publish a value of a `hash` column fails
/// with `TRANSFORMATION_ERROR` (retryable) instead of being published unredacted.
pub fn apply<'s>(
    mut change: Change,
    settings: &'s TableSettings,
    redaction: &Redaction,
) -> Result<Redacted<'s, Change>, RecordError> {
    let Redacted {
        redactions,
        event_type,
        ..
    } = apply_in_place(&mut change, settings, redaction)?;
    Ok(Redacted {
        value: change,
        redactions,
        event_type,
    })
}

/// [`apply`] without moving the change: it is projected and redacted where it is, and the
/// result borrows it, so nothing can change it while the result lives. Call it once per change.
///
/// The pipeline uses this one: a [`Change`] is a few hundred bytes, and moving it into and out
/// of [`apply`] was measurable (docs/benchmarks.md).
pub fn apply_in_place<'c, 's>(
    change: &'c mut Change,
    settings: &'s TableSettings,
    redaction: &Redaction,
) -> Result<Redacted<'s, &'c Change>, RecordError> {
    let mut redactions = Redactions::default();
    let projection = settings.projection;
    let meta = change.table.meta();
    let mut images: [Option<&mut AnyImage>; 2] = [
        change.before.as_mut().map(|i| &mut *i.image),
        change.after.as_mut().map(|i| &mut *i.image),
    ];
    if !projection.is_all(meta) {
        for image in images.iter_mut().flatten() {
            image.as_dyn_mut().project(&projection);
        }
    }
    if let Redaction::Enabled { redactor } = redaction {
        let redactor = match redactor {
            Some(r) => r,
            None => {
                if let Some(column) = images
                    .iter()
                    .flatten()
                    .find_map(|i| hashed_value_present(i))
                {
                    return Err(RecordError::new(
                        ErrorCode::TransformationError,
                        format!(
                            "column `{column}` needs `hash` redaction but no HMAC key is \
                             configured (REDACTION_HMAC_KEY)"
                        ),
                    ));
                }
                unused_redactor()
            }
        };
        for image in images.iter_mut().flatten() {
            image.as_dyn_mut().redact(redactor, &mut redactions);
        }
    }
    Ok(Redacted {
        value: &*change,
        redactions,
        event_type: &settings.event_type,
    })
}

/// The first `hash` column holding a value, if any.
fn hashed_value_present(image: &AnyImage) -> Option<&'static str> {
    let d = image.as_dyn();
    let values = d.present_bits() & !d.null_bits();
    d.meta()
        .fields
        .iter()
        .enumerate()
        .find(|(i, f)| f.policy == Some(RedactPolicy::Hash) && values & (1u128 << i) != 0)
        .map(|(_, f)| f.name)
}

/// A redactor for images known to hold no `hash` value: its key is never used.
fn unused_redactor() -> &'static Redactor {
    static R: OnceLock<Redactor> = OnceLock::new();
    R.get_or_init(|| {
        Redactor::new(b"key-never-used-no-hash-values-present".to_vec()).expect("long enough key")
    })
}
