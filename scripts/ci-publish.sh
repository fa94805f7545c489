#!/usr/bin/env bash
# CI: the two crates downstream teams depend on package and build from their packaged sources.
#
# cargo verifies consumer-sdk against the packaged cdc-models through a temporary local registry
# under target/package, and unpacks that registry's crates into $CARGO_HOME/registry/src/<hash>/ —
# once: a directory left there by an earlier run of the same checkout path is reused as it is, and
# a stale cdc-models 0.1.0 then fails the check for the wrong reason (or hides a real failure).
# Likewise cargo treats a registry crate's build as fresh by name and version alone, so an earlier
# run's build of cdc-models 0.1.0 would be linked again. So the temporary registry, what was
# unpacked from one and our two crates' earlier builds are removed first (the check builds in its
# own target dir, target/publish-check, so the workspace's builds are untouched); crates.io's
# sources and the dependencies' builds stay.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR=target/publish-check
rm -rf "$CARGO_TARGET_DIR/package" "$CARGO_TARGET_DIR"/debug/.fingerprint/{cdc-models,consumer-sdk}-* \
  "$CARGO_TARGET_DIR"/debug/deps/{libcdc_models,libconsumer_sdk,cdc_models,consumer_sdk}-*
for d in "${CARGO_HOME:-$HOME/.cargo}"/registry/src/*/; do
  case "$(basename "$d")" in
    index.crates.io-*) ;; # crates.io's own sources: leave them
    *) rm -rf "$d"cdc-models-* "$d"consumer-sdk-* ;;
  esac
done
cargo publish --dry-run --allow-dirty -p cdc-models -p consumer-sdk
