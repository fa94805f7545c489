#!/usr/bin/env bash
# CI: the two crates downstream teams depend on package and build from their packaged sources.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo publish --dry-run --allow-dirty -p cdc-models -p consumer-sdk
