#!/usr/bin/env bash
# CI: `cargo xtask schema-diff` (run by .ci/run, or alone: scripts/ci-schema-diff.sh).
#
# Compares model-schemas/ with, in this order of preference:
#   1. the last release tag (`v*`) reachable from HEAD;
#   2. the merge base with origin/main, when there is an origin/main and HEAD is not on it;
#   3. the previous commit (HEAD~1: on main, the state before the change being merged);
# and says so when none exists (not a git checkout, a shallow clone with one commit), instead of
# comparing with nothing and passing silently. Fails on a breaking or privacy-relevant change of a
# table without a bump of its `x-cdc.version` and a line in model-schemas/CHANGELOG.md.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  echo "schema-diff: not a git checkout, so there is no earlier version of the schemas to compare with"
  exit 0
fi

base="" why=""
tag=$(git describe --tags --abbrev=0 --match 'v*' HEAD 2>/dev/null || true)
if [ -n "$tag" ]; then
  base=$tag why="the last release tag"
elif git rev-parse --verify -q origin/main >/dev/null; then
  merge_base=$(git merge-base HEAD origin/main 2>/dev/null || true)
  if [ -n "$merge_base" ] && [ "$merge_base" != "$(git rev-parse HEAD)" ]; then
    base=$merge_base why="the merge base with origin/main"
  fi
fi
if [ -z "$base" ] && git rev-parse --verify -q 'HEAD~1^{commit}' >/dev/null; then
  base=HEAD~1 why="the previous commit (no release tag; HEAD is on origin/main or there is none)"
fi
if [ -z "$base" ]; then
  echo "schema-diff: nothing to compare with: no release tag, no origin/main to branch from, and no previous commit (shallow clone?)"
  exit 0
fi

echo "schema-diff: against $base, $why"
cargo xtask schema-diff --against "$base"
