"""AWS side of scripts/ci-lambda-smoke.sh: creates the emulated resources the cdc-processor Lambda
needs in moto, and checks what an invocation left there.

    lambda_smoke.py setup ENDPOINT ENV_FILE      # resources; writes the function's environment
    lambda_smoke.py check ENDPOINT EVENT RESPONSE LOG [--again]

`check` asserts the invoke response (no batch item failures), the events the bus rule routed to SQS,
the dead letters, the checkpoints, and the EMF metrics line in the function's log. With `--again`
(the same event a second time) it asserts that nothing new was published or dead-lettered.
"""

import base64
import json
import sys
import time

import boto3

REGION = "us-east-1"
BUS = "cdc-events"
SOURCE = "cdc-pipeline"
ROUTED = "smoke-routed"
DLQ = "smoke-dlq"
CHECKPOINTS = "smoke-checkpoints"
STATE = "smoke-state"
SECRET = "smoke/redaction-hmac-key"


def client(service, endpoint):
    return boto3.client(
        service,
        region_name=REGION,
        endpoint_url=endpoint,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def setup(endpoint, env_file):
    events = client("events", endpoint)
    sqs = client("sqs", endpoint)
    ddb = client("dynamodb", endpoint)
    events.create_event_bus(Name=BUS)
    routed = sqs.create_queue(QueueName=ROUTED)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=routed, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events.put_rule(
        Name="smoke",
        EventBusName=BUS,
        EventPattern=json.dumps(
            {"source": [SOURCE], "detail-type": ["CDC.TableChange"], "detail": {"table": [{"exists": True}]}}
        ),
    )
    events.put_targets(Rule="smoke", EventBusName=BUS, Targets=[{"Id": "q", "Arn": arn}])
    dlq = sqs.create_queue(QueueName=DLQ)["QueueUrl"]
    for table, key in ((CHECKPOINTS, "pk"), (STATE, "processor")):
        ddb.create_table(
            TableName=table,
            BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[{"AttributeName": key, "AttributeType": "S"}],
            KeySchema=[{"AttributeName": key, "KeyType": "HASH"}],
        )
    client("secretsmanager", endpoint).create_secret(Name=SECRET, SecretString="smoke-test-hmac-key-0123456789abcdef")
    env = {
        "AWS_REGION": REGION,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_ENDPOINT_URL": endpoint,
        "KINESIS_STREAM_NAME": "coredb-cdc-stream",
        "EVENT_BUS_NAME": BUS,
        "EVENT_SOURCE": SOURCE,
        "STATE_TABLE_NAME": STATE,
        "CHECKPOINT_TABLE_NAME": CHECKPOINTS,
        "DLQ_QUEUE_URL": dlq,
        "REDACTION_HMAC_KEY_SECRET_ARN": SECRET,
        "ENABLE_DATA_REDACTION": "true",
        "RUST_LOG": "info",
    }
    with open(env_file, "w") as f:
        for k, v in env.items():
            f.write(f"{k}={v}\n")


def drain(sqs, url):
    out = []
    while True:
        got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0).get("Messages", [])
        if not got:
            return out
        for m in got:
            out.append(json.loads(m["Body"]))
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])


def fail(msg):
    print(f"lambda-smoke: FAIL: {msg}", file=sys.stderr)
    sys.exit(1)


def emf_totals(log_file, want):
    """The EMF totals lines the function wrote, waiting (up to 20 s) until there are `want` of them:
    the response can arrive before the function's stdout has passed through cargo lambda watch."""
    deadline = time.time() + 20
    while True:
        lines = read_emf_totals(log_file)
        if len(lines) >= want or time.time() > deadline:
            return lines
        time.sleep(0.2)


def read_emf_totals(log_file):
    lines = []
    with open(log_file, errors="replace") as f:
        for line in f:
            start = line.find('{"')
            if start < 0 or '"RecordsIn"' not in line:
                continue
            try:
                v = json.loads(line[start:])
            except ValueError:
                continue
            if "_aws" in v:
                lines.append(v)
    return lines


def check(endpoint, event_file, response_file, log_file, again):
    with open(event_file) as f:
        event = json.load(f)
    records = event["Records"]
    with open(response_file) as f:
        raw = f.read()
    try:
        response = json.loads(raw)
    except ValueError:
        fail(f"the invoke response is not JSON: {raw[:500]!r}")
    if response.get("batchItemFailures") != []:
        fail(f"expected no batch item failures, got {response!r}")
    sqs = client("sqs", endpoint)
    routed = drain(sqs, sqs.get_queue_url(QueueName=ROUTED)["QueueUrl"])
    letters = drain(sqs, sqs.get_queue_url(QueueName=DLQ)["QueueUrl"])
    totals = emf_totals(log_file, 2 if again else 1)
    if len(totals) < (2 if again else 1):
        fail("no EMF metrics line for this invocation in the function's output")
    metrics = totals[-1]
    print(
        f"lambda-smoke: {len(records)} records -> {len(routed)} events routed, {len(letters)} dead letters; "
        f"metrics RecordsIn={metrics['RecordsIn']} Published={metrics['Published']} "
        f"Skipped={metrics['Skipped']} DeadLettered={metrics['DeadLettered']} Failed={metrics['Failed']}"
    )
    if metrics["Failed"] != 0:
        fail("records were reported for retry")
    if again:
        if routed or letters:
            fail(f"the second run published {len(routed)} events and {len(letters)} dead letters")
        if metrics["Published"] != 0 or metrics["DeadLettered"] != 0:
            fail("the second run's metrics show publishing")
        return
    if not routed:
        fail("no event reached the bus rule's queue")
    if metrics["Published"] != len(routed):
        fail(f"Published={metrics['Published']} but {len(routed)} events were routed")
    if metrics["DeadLettered"] != len(letters):
        fail(f"DeadLettered={metrics['DeadLettered']} but {len(letters)} dead letters arrived")
    if metrics["Published"] + metrics["DeadLettered"] + metrics["Skipped"] != metrics["RecordsIn"]:
        fail("published + dead-lettered + skipped != records in")
    for e in routed:
        d = e["detail"]
        if e.get("source") != SOURCE or e.get("detail-type") != "CDC.TableChange" or d.get("version") != "1.0":
            fail(f"unexpected envelope {e!r}")
    datas = {r["kinesis"]["data"] for r in records}
    for letter in letters:
        if letter["originalEvent"]["kinesis"]["data"] not in datas:
            fail("a dead letter does not keep its original record")
        if not letter["error"]["code"]:
            fail("a dead letter without an error code")
    shards = {r["eventID"].rsplit(":", 1)[0] for r in records}
    ddb = client("dynamodb", endpoint)
    items = ddb.scan(TableName=CHECKPOINTS)["Items"]
    have = {i["shard"]["S"] for i in items}
    if not shards <= have:
        fail(f"checkpoints for {sorted(have)}, expected {sorted(shards)}")
    # A record's data never appears in the log.
    with open(log_file, errors="replace") as f:
        log = f.read()
    for r in records:
        try:
            row = json.loads(base64.b64decode(r["kinesis"]["data"], validate=True))
        except ValueError:  # bad base64 (binascii.Error) or not JSON: no columns to look for
            continue
        after = row.get("after") if isinstance(row, dict) else None
        if isinstance(after, dict):
            for v in after.values():
                if isinstance(v, str) and len(v) >= 12 and not v[:4].isdigit() and v in log:
                    fail("a column value appears in the function's log")


def main(argv):
    if len(argv) >= 3 and argv[0] == "setup":
        setup(argv[1], argv[2])
    elif len(argv) >= 5 and argv[0] == "check":
        check(argv[1], argv[2], argv[3], argv[4], "--again" in argv[5:])
    else:
        print(__doc__, file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main(sys.argv[1:])
