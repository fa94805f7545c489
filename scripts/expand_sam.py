#!/usr/bin/env python3
"""Expand the SAM transform of a template offline and write the plain CloudFormation as JSON.

    .venv/bin/python scripts/expand_sam.py deploy/template.yaml OUT.json [--region us-east-1]

cfn-lint alone validates SAM resources against SAM's schema but does not run the transform, so it
misses what only the translator checks (event-source properties, generated resources, references
to them). This runs aws-sam-translator's own `transform` exactly as CloudFormation would, with no
AWS account, credentials or network:

* the region comes from a boto3 Session built here (no credential lookup, no call is made);
* local `CodeUri` paths (cargo lambda's output dirs) become an `s3://` placeholder, because the
  translator accepts only S3 locations, as after `sam package`;
* the managed-policy loader, which would list IAM policies over the network, refuses instead:
  the template must name managed policies by ARN (it names none).

Exit status: 0 on success, 1 when the translator rejects the template (its messages on stderr),
2 on usage errors.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

# Hermetic: no profile, credentials or endpoints from the machine running this.
for _var in list(os.environ):
    if _var.startswith("AWS_"):
        del os.environ[_var]
os.environ["AWS_CONFIG_FILE"] = os.devnull
os.environ["AWS_SHARED_CREDENTIALS_FILE"] = os.devnull

import boto3  # noqa: E402
from cfnlint.decode import decode_str  # noqa: E402  (CloudFormation YAML: !Ref, !Sub, ...)
from samtranslator.model.exceptions import InvalidDocumentException  # noqa: E402
from samtranslator.parser.parser import Parser  # noqa: E402
from samtranslator.translator.translator import Translator  # noqa: E402

PLACEHOLDER_BUCKET = "cdc-pipeline-offline-lint-placeholder"


class OfflineManagedPolicyLoader:
    """Stands in for ManagedPolicyLoader, which would call iam:ListPolicies."""

    def load(self) -> dict[str, str]:
        raise SystemExit(
            "expand_sam: the template names a managed policy by name; use its ARN "
            "(resolving names needs IAM, and this check is offline)"
        )


def placeholder_code_uris(template: dict[str, Any]) -> int:
    """Replace local CodeUri paths by s3:// placeholders (Globals and every function)."""
    replaced = 0

    def fix(props: dict[str, Any], name: str) -> None:
        nonlocal replaced
        uri = props.get("CodeUri")
        if isinstance(uri, str) and not uri.startswith("s3://"):
            props["CodeUri"] = f"s3://{PLACEHOLDER_BUCKET}/{name}.zip"
            replaced += 1

    globals_fn = template.get("Globals", {}).get("Function")
    if isinstance(globals_fn, dict):
        fix(globals_fn, "globals")
    for logical_id, resource in template.get("Resources", {}).items():
        if isinstance(resource, dict) and resource.get("Type") == "AWS::Serverless::Function":
            fix(resource.setdefault("Properties", {}), logical_id)
    return replaced


def plain(value: Any) -> Any:
    """cfn-lint's decoder returns str/dict subclasses with line marks; make plain JSON types."""
    return json.loads(json.dumps(value))


def expand(path: str, region: str) -> dict[str, Any]:
    with open(path, encoding="utf-8") as f:
        template, problems = decode_str(f.read())
    if problems or template is None:
        for p in problems or []:
            print(f"{path}: {p}", file=sys.stderr)
        raise SystemExit(1)
    template = plain(template)
    placeholder_code_uris(template)

    session = boto3.session.Session(region_name=region)
    translator = Translator(None, Parser(), boto_session=session)
    loader = OfflineManagedPolicyLoader()
    try:
        return translator.translate(
            template,
            parameter_values={},
            get_managed_policy_map=loader.load,
        )
    except InvalidDocumentException as e:
        for cause in e.causes:
            print(f"{path}: SAM transform: {cause.message}", file=sys.stderr)
        raise SystemExit(1) from None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("template")
    ap.add_argument("output")
    ap.add_argument("--region", default="us-east-1")
    args = ap.parse_args()
    out = expand(args.template, args.region)
    with open(args.output, "w", encoding="utf-8") as f:
        json.dump(out, f, indent=2, sort_keys=False)
        f.write("\n")
    n = len(out.get("Resources", {}))
    print(f"expand_sam: {args.template} -> {args.output} ({n} CloudFormation resources)")


if __name__ == "__main__":
    main()
