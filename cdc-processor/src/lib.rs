//! Placeholder; filled by the processor issue.
