//! The `cdc-capture` crate's integration tests, one binary (`cargo test -p cdc-capture --test it`;
//! one area: `--test it relay_binary`). A module per area, named as its file was when each was a
//! binary of its own, and one [`support`] module (the moto side of the chain and the demo's story,
//! shared with `examples/demo.rs`).

mod support;

mod capture_sql;
mod demo;
mod end_to_end;
mod relay;
mod relay_binary;
