//! A column of a change image.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// One column of a change image.
///
/// Change streams do not always carry every column: a Debezium `before` under PostgreSQL's
/// `REPLICA IDENTITY DEFAULT` holds only the key, a DMS delete holds the key and nulls, a projected
/// event leaves out columns it does not publish. `Column` keeps the three cases apart, so a consumer
/// can tell "not in this image" from SQL `NULL`:
///
/// - [`Column::Absent`]: the column is not in the image (serialized by leaving the key out);
/// - [`Column::Null`]: the column is in the image and is `NULL`;
/// - [`Column::Value`]: the column is in the image with a value.
///
/// ```
/// use cdc_models::Column;
/// let c: Column<i64> = serde_json::from_str("null").unwrap();
/// assert_eq!(c, Column::Null);
/// assert_eq!(Column::Value(3).value(), Some(&3));
/// assert!(Column::<i64>::default().is_absent());
/// ```
#[derive(Clone, PartialEq, Eq, Hash, Default)]
pub enum Column<T> {
    /// Not present in the image.
    #[default]
    Absent,
    /// Present and SQL `NULL`.
    Null,
    /// Present with a value.
    Value(T),
}

impl<T> Column<T> {
    /// `true` when the column is not in the image.
    pub fn is_absent(&self) -> bool {
        matches!(self, Column::Absent)
    }

    /// `true` when the column is in the image (as a value or as `NULL`).
    pub fn is_present(&self) -> bool {
        !self.is_absent()
    }

    /// `true` when the column is present and `NULL`.
    pub fn is_null(&self) -> bool {
        matches!(self, Column::Null)
    }

    /// The value, if the column is present and not `NULL`.
    pub fn value(&self) -> Option<&T> {
        match self {
            Column::Value(v) => Some(v),
            _ => None,
        }
    }

    /// Mutable access to the value, if present and not `NULL`.
    pub fn value_mut(&mut self) -> Option<&mut T> {
        match self {
            Column::Value(v) => Some(v),
            _ => None,
        }
    }

    /// Consumes the column, giving its value if present and not `NULL`.
    pub fn into_value(self) -> Option<T> {
        match self {
            Column::Value(v) => Some(v),
            _ => None,
        }
    }

    /// A present column from a nullable value (`None` is `NULL`).
    pub fn from_nullable(value: Option<T>) -> Self {
        match value {
            Some(v) => Column::Value(v),
            None => Column::Null,
        }
    }

    /// For a nullable column: `Some(None)` for `NULL`, `Some(Some(v))` for a value, `None` when
    /// absent.
    pub fn into_nullable(self) -> Option<Option<T>> {
        match self {
            Column::Absent => None,
            Column::Null => Some(None),
            Column::Value(v) => Some(Some(v)),
        }
    }
}

impl<T: std::fmt::Debug> std::fmt::Debug for Column<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Column::Absent => f.write_str("Absent"),
            Column::Null => f.write_str("Null"),
            Column::Value(v) => v.fmt(f),
        }
    }
}

impl<T: Serialize> Serialize for Column<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            // Absent columns are skipped by the generated `skip_serializing_if`; serialized alone
            // they become `null`, which is the closest JSON has.
            Column::Absent | Column::Null => serializer.serialize_none(),
            Column::Value(v) => v.serialize(serializer),
        }
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Column<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(Column::from_nullable(Option::<T>::deserialize(
            deserializer,
        )?))
    }
}
