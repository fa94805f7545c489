#!/usr/bin/env bash
# CI: lint the SAM template offline (run by .ci/run, or alone: scripts/ci-template.sh).
#
#   1. cfn-lint on deploy/template.yaml as written: SAM-aware schema checks, with line numbers in
#      the source;
#   2. expand the SAM transform with aws-sam-translator (scripts/expand_sam.py: region us-east-1,
#      CodeUri -> s3:// placeholder, no credentials, no network), which rejects what SAM rejects
#      (e.g. an unknown event-source property, which step 1 does not see);
#   3. cfn-lint on the expanded CloudFormation: property types and enums of the generated event
#      source mappings, versions, aliases, permissions, IAM actions, references.
#   4. a canary: the same steps on a copy with a misspelled Kinesis event property must fail, so
#      this check cannot silently turn into a no-op;
#   5. cfn-lint on deploy/consumer.yaml (a consumer's stack, plain CloudFormation), with its own
#      canary (a misspelled target property must fail);
#   6. `sam validate --lint` (the AWS SAM CLI, pinned in scripts/requirements-dev.txt) on the
#      template, offline, AWS_DEFAULT_REGION set and no credentials, with its own canary (a
#      misspelled function property must fail; it does not see event properties, step 2 does).
#   7. (after step 4) scripts/check_template_options.py: the expansion resolved for each setting
#      of KinesisEnhancedFanOut (off/on, own/existing stream): the consumer, the mapping's source
#      and the role's grants are what that setting should deploy.
#
# Any cfn-lint finding fails, informational ones included (-c I: e.g. a stateful resource without
# an explicit DeletionPolicy). Runs without network when user namespaces allow it (unshare -rn).
set -euo pipefail
cd "$(dirname "$0")/.."

template=deploy/template.yaml
py=.venv/bin/python
lint=.venv/bin/cfn-lint
if [ ! -x "$lint" ] || ! "$py" -c 'import samtranslator' 2>/dev/null; then
  scripts/setup.sh
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# No network: run inside a fresh network namespace when the machine allows it.
offline=()
if unshare -rn true 2>/dev/null; then
  offline=(unshare -rn)
fi

check() { # check TEMPLATE EXPANDED_OUT -> non-zero on any finding
  local t=$1 out=$2
  "${offline[@]}" "$lint" --include-checks I -- "$t" || return 1
  "${offline[@]}" "$py" scripts/expand_sam.py "$t" "$out" --region us-east-1 || return 1
  "${offline[@]}" "$lint" --include-checks I -- "$out" || return 1
}

echo "ci-template: linting $template (raw, then SAM-expanded)${offline:+, without network}"
# Kept for reading cfn-lint's line numbers on the expanded template (target/ is git-ignored).
mkdir -p target/ci-template
check "$template" target/ci-template/template.expanded.json

# Canary: a wrong event-source property must be caught (only the expansion sees it).
canary=$work/canary.yaml
sed 's/^\( *\)BisectBatchOnFunctionError: true$/\1BisectBatchOnFunctionErrorz: true/' "$template" > "$canary"
if cmp -s "$template" "$canary"; then
  echo "ci-template: canary could not be planted (BisectBatchOnFunctionError: true not found)" >&2
  exit 1
fi
if check "$canary" "$work/canary.expanded.json" >"$work/canary.log" 2>&1; then
  echo "ci-template: the check accepted a template with a misspelled event property" >&2
  cat "$work/canary.log" >&2
  exit 1
fi
grep -q "BisectBatchOnFunctionErrorz" "$work/canary.log" || {
  echo "ci-template: the canary failed for another reason:" >&2
  cat "$work/canary.log" >&2
  exit 1
}
echo "ci-template: ok (and the canary was rejected: $(grep -m1 -o 'property BisectBatchOnFunctionErrorz[^.]*' "$work/canary.log"))"

# What each setting of the template's options deploys (conditions resolved on the expansion):
# KinesisEnhancedFanOut off and on, with the stack's stream and an existing one.
"${offline[@]}" "$py" scripts/check_template_options.py target/ci-template/template.expanded.json

# A consumer's stack: plain CloudFormation (no transform), linted as written.
consumer=deploy/consumer.yaml
"${offline[@]}" "$lint" --include-checks I -- "$consumer"
sed 's/^\( *\)DeadLetterConfig:$/\1DeadLetterConfigz:/' "$consumer" > "$work/consumer-canary.yaml"
if cmp -s "$consumer" "$work/consumer-canary.yaml"; then
  echo "ci-template: consumer canary could not be planted (DeadLetterConfig: not found)" >&2
  exit 1
fi
if "${offline[@]}" "$lint" --include-checks I -- "$work/consumer-canary.yaml" >"$work/consumer-canary.log" 2>&1; then
  echo "ci-template: the check accepted $consumer with a misspelled target property" >&2
  exit 1
fi
grep -q "DeadLetterConfigz" "$work/consumer-canary.log" || {
  echo "ci-template: the consumer canary failed for another reason:" >&2
  cat "$work/consumer-canary.log" >&2
  exit 1
}
echo "ci-template: $consumer ok (and its canary was rejected)"

# AWS SAM CLI's own check (`sam validate --lint`: cfn-lint with SAM's rules, as `sam deploy`'s users
# run it), offline, without credentials or telemetry; the canary above must fail it too.
sam=.venv/bin/sam
[ -x "$sam" ] || scripts/setup.sh
sam_validate() {
  env -u AWS_PROFILE -u AWS_ACCESS_KEY_ID -u AWS_SECRET_ACCESS_KEY -u AWS_SESSION_TOKEN \
    AWS_DEFAULT_REGION=us-east-1 SAM_CLI_TELEMETRY=0 \
    "${offline[@]}" "$sam" validate --lint --template-file "$1"
}
sam_validate "$template"
# Its canary: a misspelled function property (an event property, as above, it does not see).
sed 's/^\( *\)MemorySize: /\1MemorySizez: /' "$template" > "$work/sam-canary.yaml"
if cmp -s "$template" "$work/sam-canary.yaml"; then
  echo "ci-template: sam canary could not be planted (MemorySize: not found)" >&2
  exit 1
fi
if sam_validate "$work/sam-canary.yaml" >"$work/sam-canary.log" 2>&1; then
  echo "ci-template: sam validate --lint accepted a template with a misspelled function property" >&2
  exit 1
fi
grep -q "MemorySizez" "$work/sam-canary.log" || {
  echo "ci-template: the sam canary failed for another reason:" >&2
  cat "$work/sam-canary.log" >&2
  exit 1
}
echo "ci-template: sam validate --lint ok (and its canary was rejected)"
