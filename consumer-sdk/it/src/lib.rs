//! Nothing but tests: consumer-sdk's tests against the AWS emulator (moto) are in `tests/moto/`.
//! A package of their own keeps the AWS SDK out of consumer-sdk's dev-dependencies, so
//! `cargo build -p consumer-sdk --example wallboard` builds no AWS crate.
