#!/usr/bin/env python3
"""Check what the SAM template deploys under each setting of its options (run by ci-template.sh).

    .venv/bin/python scripts/check_template_options.py target/ci-template/template.expanded.json

cfn-lint checks every branch of a condition for validity, not that a branch does what it should.
This takes the SAM-expanded template (scripts/expand_sam.py's output), resolves it for given
parameter values the way CloudFormation would (Conditions, Fn::If, AWS::NoValue, resources and
outputs with a false Condition dropped, a Ref to a parameter replaced by its value; GetAtt
and Sub left as they are), and asserts:

* KinesisEnhancedFanOut (default "false"): off, there is no stream consumer, the processor's event
  source mapping reads the stream and its role has no enhanced fan-out grant; on, a consumer of
  the stack's (or the given existing) stream exists, the mapping reads through its ARN, and the
  role may SubscribeToShard and DescribeStreamConsumer on that consumer only.

Exit status 0 when every check holds, 1 with the failed checks on stderr.
"""

from __future__ import annotations

import json
import sys
from typing import Any

NO_VALUE = object()
EXISTING = "arn:aws:kinesis:us-east-1:123456789012:stream/their-stream"
CONSUMER_ARN = {"Fn::GetAtt": ["CdcStreamConsumer", "ConsumerARN"]}


def parameter_values(template: dict[str, Any], given: dict[str, str]) -> dict[str, Any]:
    values = {k: p.get("Default") for k, p in template.get("Parameters", {}).items()}
    values.update(given)
    return values


def condition(template: dict[str, Any], params: dict[str, Any], expr: Any, memo: dict) -> Any:
    """Evaluates a condition expression (or names one) to a plain value."""
    if isinstance(expr, dict) and len(expr) == 1:
        (fn, arg), = expr.items()
        if fn == "Condition":
            if arg not in memo:
                memo[arg] = bool(condition(template, params, template["Conditions"][arg], memo))
            return memo[arg]
        if fn == "Ref":
            if arg not in params:
                raise SystemExit(f"condition refers to {arg}, not a parameter")
            return params[arg]
        if fn == "Fn::Equals":
            a, b = (condition(template, params, x, memo) for x in arg)
            return str(a) == str(b)
        if fn == "Fn::Not":
            return not condition(template, params, arg[0], memo)
        if fn == "Fn::And":
            return all(condition(template, params, x, memo) for x in arg)
        if fn == "Fn::Or":
            return any(condition(template, params, x, memo) for x in arg)
    return expr


def resolve(template: dict[str, Any], given: dict[str, str]) -> dict[str, Any]:
    """The template as deployed with these parameters (conditions applied)."""
    params = parameter_values(template, given)
    memo: dict[str, bool] = {}

    def holds(name: str) -> bool:
        return condition(template, params, {"Condition": name}, memo)

    def walk(v: Any) -> Any:
        if isinstance(v, dict):
            if len(v) == 1 and "Fn::If" in v:
                name, yes, no = v["Fn::If"]
                return walk(yes if holds(name) else no)
            if v == {"Ref": "AWS::NoValue"}:
                return NO_VALUE
            if len(v) == 1 and v.get("Ref") in template.get("Parameters", {}):
                return params[v["Ref"]]
            out = {}
            for k, x in v.items():
                x = walk(x)
                if x is not NO_VALUE:
                    out[k] = x
            return out
        if isinstance(v, list):
            return [x for x in (walk(x) for x in v) if x is not NO_VALUE]
        return v

    out: dict[str, Any] = {"Parameters": params}
    for section in ("Resources", "Outputs"):
        kept = {}
        for name, body in template.get(section, {}).items():
            if "Condition" in body and not holds(body["Condition"]):
                continue
            kept[name] = walk(body)
        out[section] = kept
    return out


def kinesis_mapping(t: dict[str, Any]) -> dict[str, Any]:
    found = [
        r["Properties"]
        for r in t["Resources"].values()
        if r["Type"] == "AWS::Lambda::EventSourceMapping"
        and r["Properties"].get("FunctionName") == {"Ref": "CdcProcessorFunctionAliaslive"}
    ]
    if len(found) != 1:
        raise SystemExit(f"expected one event source mapping of the processor, found {len(found)}")
    return found[0]


def processor_statements(t: dict[str, Any]) -> list[dict[str, Any]]:
    role = t["Resources"]["CdcProcessorRole"]["Properties"]
    return [s for p in role["Policies"] for s in p["PolicyDocument"]["Statement"]]


def actions(statement: dict[str, Any]) -> list[str]:
    a = statement["Action"]
    return a if isinstance(a, list) else [a]


def main() -> None:
    if len(sys.argv) != 2:
        raise SystemExit(__doc__.splitlines()[2].strip())
    with open(sys.argv[1], encoding="utf-8") as f:
        expanded = json.load(f)
    failures: list[str] = []

    def check(ok: bool, what: str) -> None:
        if not ok:
            failures.append(what)

    default = expanded["Parameters"]["KinesisEnhancedFanOut"].get("Default")
    check(default == "false", f"KinesisEnhancedFanOut defaults to {default!r}, not \"false\"")

    own_stream = {"Fn::GetAtt": ["CdcStream", "Arn"]}
    for given, stream in [
        ({}, own_stream),
        ({"ExistingKinesisStreamArn": EXISTING}, EXISTING),
    ]:
        for efo in ("false", "true"):
            label = f"KinesisEnhancedFanOut={efo}" + (" with an existing stream" if given else "")
            t = resolve(expanded, {**given, "KinesisEnhancedFanOut": efo})
            consumer = t["Resources"].get("CdcStreamConsumer")
            source = kinesis_mapping(t).get("EventSourceArn")
            statements = processor_statements(t)
            efo_grants = [
                s for s in statements
                if {"kinesis:SubscribeToShard", "kinesis:DescribeStreamConsumer"} & set(actions(s))
            ]
            reads = [s for s in statements if "kinesis:GetRecords" in actions(s)]
            check(len(reads) == 1 and reads[0]["Resource"] == stream,
                  f"{label}: the role reads the stream {stream}: {reads}")
            if efo == "false":
                check(consumer is None, f"{label}: a stream consumer is created")
                check(source == stream, f"{label}: the mapping reads {source}, not the stream")
                check(not efo_grants, f"{label}: the role has enhanced fan-out grants {efo_grants}")
                check("KinesisStreamConsumerArn" not in t["Outputs"],
                      f"{label}: outputs a consumer ARN")
            else:
                check(consumer is not None and consumer["Type"] == "AWS::Kinesis::StreamConsumer",
                      f"{label}: no stream consumer")
                if consumer is not None:
                    check(consumer["Properties"].get("StreamARN") == stream,
                          f"{label}: the consumer is on {consumer['Properties'].get('StreamARN')}")
                check(source == CONSUMER_ARN, f"{label}: the mapping reads {source}, not the consumer")
                check(len(efo_grants) == 1
                      and efo_grants[0]["Resource"] == CONSUMER_ARN
                      and set(actions(efo_grants[0]))
                      == {"kinesis:SubscribeToShard", "kinesis:DescribeStreamConsumer"},
                      f"{label}: enhanced fan-out grants {efo_grants}")
                check(t["Outputs"].get("KinesisStreamConsumerArn", {}).get("Value") == CONSUMER_ARN,
                      f"{label}: no KinesisStreamConsumerArn output")
    if failures:
        for f in failures:
            print(f"check_template_options: {f}", file=sys.stderr)
        raise SystemExit(1)
    print("check_template_options: KinesisEnhancedFanOut off and on (own and existing stream) ok")


if __name__ == "__main__":
    main()
