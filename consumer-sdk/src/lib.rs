//! Placeholder; filled by the consumer-sdk issue.
