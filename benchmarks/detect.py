"""mlstix detect on a realistic CloudTrail tree, next to a straightforward reference, in one run.

Generates an S3-delivery CloudTrail tree (``AWSLogs/<account>/CloudTrail/<region>/YYYY/MM/DD/``,
gzipped ``{"Records": [...]}`` files of a few thousand events, digest files beside them) with a
busy account's mix of benign management and data events (pipeline roles writing models, SageMaker
describes, KMS decrypts, IAM reads, people reading models), and plants four attack sequences
drawn from the knowledge base's attack patterns. Then:

- **mlstix**: ``detect_logs`` (pySigma → DuckDB SQL, one scan per file, every rule at once) with
  one worker, so the rate is per core; and with all cores.
- **reference**: the way one would do it without mlstix: pySigma's stock SQLite backend
  (``sigma convert -t sqlite``) and Python's ``sqlite3``, each event parsed with ``json`` and its
  fields inserted into a table, then each rule's query run. Timed on a sample of the files.

Prints events per second and per minute per core for both, the ratio, the planted sequences
found, any finding on a benign event (there must be none) and the peak memory.

    .venv/bin/python benchmarks/detect.py --events 2000000
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import random
import re
import resource
import sqlite3
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson

ACCOUNT = "111122223333"
REGIONS = ("eu-west-1", "us-east-1")
PIPELINE = {
    "type": "AssumedRole",
    "principalId": "AROAEXAMPLEPIPELINE1:codebuild",
    "arn": f"arn:aws:sts::{ACCOUNT}:assumed-role/ml-release-pipeline/codebuild",
    "accountId": ACCOUNT,
}
TRAINING = {
    "type": "AssumedRole",
    "principalId": "AROAEXAMPLETRAINING1:SageMaker",
    "arn": f"arn:aws:sts::{ACCOUNT}:assumed-role/AmazonSageMaker-ExecutionRole-fraud/SageMaker",
    "accountId": ACCOUNT,
    "invokedBy": "sagemaker.amazonaws.com",
}
ANALYST = {
    "type": "AssumedRole",
    "principalId": "AROAEXAMPLESSOROLE01:alice@example.com",
    "arn": (
        f"arn:aws:sts::{ACCOUNT}:assumed-role/AWSReservedSSO_DataScientist_0a1b2c3d4e5f6a7b/"
        "alice@example.com"
    ),
    "accountId": ACCOUNT,
}
MALLORY = {
    "type": "IAMUser",
    "principalId": "AIDAEXAMPLEUSERID0001",
    "arn": f"arn:aws:iam::{ACCOUNT}:user/mallory",
    "accountId": ACCOUNT,
    "userName": "mallory",
}


def _base(n: int, when: str, region: str) -> dict[str, Any]:
    return {
        "eventVersion": "1.09",
        "eventTime": when,
        "awsRegion": region,
        "sourceIPAddress": f"10.{n % 200}.{n % 250}.{n % 253 + 1}",
        "userAgent": "aws-sdk-java/2.25.0 Linux/5.10 OpenJDK_64-Bit_Server_VM/17",
        "requestID": f"{n:016X}",
        "eventID": f"{n:08x}-0000-4000-8000-{n:012x}",
        "readOnly": False,
        "eventType": "AwsApiCall",
        "managementEvent": True,
        "recipientAccountId": ACCOUNT,
        "eventCategory": "Management",
        "tlsDetails": {"tlsVersion": "TLSv1.3", "cipherSuite": "TLS_AES_128_GCM_SHA256"},
    }


def benign(n: int, when: str, region: str, rnd: random.Random) -> dict[str, Any]:
    ev = _base(n, when, region)
    kind = rnd.random()
    if kind < 0.35:  # the pipeline writes model versions and checkpoints
        key = rnd.choice(
            ("fraud/v%d/model.tar.gz", "fraud/checkpoints/step-%d.pt", "data/p%d.parquet")
        )
        ev.update(
            eventSource="s3.amazonaws.com",
            eventName="PutObject",
            userIdentity=TRAINING if "checkpoints" in key else PIPELINE,
            eventCategory="Data",
            managementEvent=False,
            requestParameters={
                "bucketName": "acme-models",
                "key": key % (n % 97),
                "Host": "acme-models.s3.eu-west-1.amazonaws.com",
            },
        )
    elif kind < 0.55:  # people read models
        ev.update(
            eventSource="s3.amazonaws.com",
            eventName="GetObject",
            userIdentity=ANALYST,
            readOnly=True,
            eventCategory="Data",
            managementEvent=False,
            requestParameters={"bucketName": "acme-models", "key": f"fraud/v{n % 9}/model.tar.gz"},
        )
    elif kind < 0.75:
        ev.update(
            eventSource="sagemaker.amazonaws.com",
            userIdentity=rnd.choice((ANALYST, PIPELINE)),
            readOnly=True,
            eventName=rnd.choice(
                (
                    "DescribeEndpoint",
                    "DescribeModelPackage",
                    "ListModelPackages",
                    "DescribeTrainingJob",
                )
            ),
            requestParameters={"endpointName": "fraud-prod"},
        )
    elif kind < 0.88:
        ev.update(
            eventSource="kms.amazonaws.com",
            eventName="Decrypt",
            userIdentity=TRAINING,
            readOnly=True,
            requestParameters={
                "encryptionAlgorithm": "SYMMETRIC_DEFAULT",
                "encryptionContext": {
                    "aws:s3:arn": "arn:aws:s3:::acme-models/fraud/v7/model.tar.gz"
                },
            },
        )
    elif kind < 0.95:
        ev.update(
            eventSource="iam.amazonaws.com",
            eventName=rnd.choice(("GetRole", "ListAttachedRolePolicies")),
            userIdentity=PIPELINE,
            readOnly=True,
            requestParameters={"roleName": "AmazonSageMaker-ExecutionRole-fraud"},
        )
    else:  # the deployment role updates the endpoint, registers versions
        ev.update(
            eventSource="sagemaker.amazonaws.com",
            userIdentity=PIPELINE,
            eventName=rnd.choice(("UpdateEndpoint", "CreateModelPackage", "CreateEndpointConfig")),
            requestParameters={"endpointName": "fraud-prod", "endpointConfigName": f"fraud-{n}"},
        )
    return ev


def attacks(n0: int, when: str) -> list[tuple[str, dict[str, Any]]]:
    """Four planted sequences: (expected rule, event)."""
    seq: list[tuple[str, dict[str, Any]]] = []

    def add(rule: str, n: int, **fields: Any) -> None:
        ev = _base(n, when, "eu-west-1")
        ev["sourceIPAddress"] = "203.0.113.66"
        ev.update(fields)
        seq.append((rule, ev))

    # 1. stolen access key: wildcard on the execution role, endpoint repointed, model replaced
    add(
        "aws-iam-ml-execution-role-granted-wildcard",
        n0,
        eventSource="iam.amazonaws.com",
        eventName="PutRolePolicy",
        userIdentity=MALLORY,
        requestParameters={
            "roleName": "AmazonSageMaker-ExecutionRole-fraud",
            "policyName": "x",
            "policyDocument": (
                '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*",'
                '"Resource":"*"}]}'
            ),
        },
    )
    add(
        "aws-sagemaker-endpoint-changed-by-human",
        n0 + 1,
        eventSource="sagemaker.amazonaws.com",
        eventName="UpdateEndpoint",
        userIdentity=MALLORY,
        requestParameters={"endpointName": "fraud-prod", "endpointConfigName": "fraud-prod-hotfix"},
    )
    add(
        "aws-s3-model-artifact-written-by-human",
        n0 + 2,
        eventSource="s3.amazonaws.com",
        eventName="PutObject",
        userIdentity=MALLORY,
        eventCategory="Data",
        managementEvent=False,
        requestParameters={"bucketName": "acme-models", "key": "fraud/v7/model.tar.gz"},
    )
    # 2. cover tracks on the model bucket
    add(
        "aws-s3-model-bucket-opened",
        n0 + 3,
        eventSource="s3.amazonaws.com",
        eventName="DeleteBucketPublicAccessBlock",
        userIdentity=ANALYST,
        requestParameters={"bucketName": "acme-models", "publicAccessBlock": ""},
    )
    add(
        "aws-s3-model-bucket-versioning-or-lock-weakened",
        n0 + 4,
        eventSource="s3.amazonaws.com",
        eventName="PutBucketVersioning",
        userIdentity=ANALYST,
        requestParameters={
            "bucketName": "acme-models",
            "VersioningConfiguration": {"Status": "Suspended"},
        },
    )
    # 3. notebook persistence
    add(
        "aws-sagemaker-presigned-notebook-url-outside-console",
        n0 + 5,
        eventSource="sagemaker.amazonaws.com",
        eventName="CreatePresignedNotebookInstanceUrl",
        userIdentity=MALLORY,
        requestParameters={"notebookInstanceName": "fraud-research"},
    )
    add(
        "aws-sagemaker-lifecycle-configuration-changed",
        n0 + 6,
        eventSource="sagemaker.amazonaws.com",
        eventName="UpdateNotebookInstanceLifecycleConfig",
        userIdentity=MALLORY,
        requestParameters={"notebookInstanceLifecycleConfigName": "idle-shutdown"},
    )
    # 4. registry repointed, key destroyed
    add(
        "aws-sagemaker-model-package-inference-specification-changed",
        n0 + 7,
        eventSource="sagemaker.amazonaws.com",
        eventName="UpdateModelPackage",
        userIdentity=PIPELINE,
        requestParameters={
            "modelPackageArn": f"arn:aws:sagemaker:eu-west-1:{ACCOUNT}:model-package/fraud/7",
            "inferenceSpecification": {
                "containers": [{"image": "x", "modelDataUrl": "s3://evil/m.tar.gz"}]
            },
        },
    )
    add(
        "aws-kms-key-policy-changed-or-deletion-scheduled",
        n0 + 8,
        eventSource="kms.amazonaws.com",
        eventName="ScheduleKeyDeletion",
        userIdentity=MALLORY,
        requestParameters={
            "keyId": "1234abcd-12ab-34cd-56ef-1234567890ab",
            "pendingWindowInDays": 7,
        },
    )
    return seq


def generate(
    root: Path, events: int, per_file: int, seed: int = 7
) -> tuple[list[Path], set[tuple[str, str]]]:
    rnd = random.Random(seed)
    files: list[Path] = []
    expected: set[tuple[str, str]] = set()
    n = 0
    index = 0
    plant_every = max(1, events // per_file // 4)
    while n < events:
        region = REGIONS[index % len(REGIONS)]
        minute = index % (24 * 12)
        when = f"2026-11-30T{minute // 12:02d}:{minute % 12 * 5:02d}:00Z"
        records = [benign(n + i, when, region, rnd) for i in range(min(per_file, events - n))]
        n += len(records)
        if index % plant_every == 0 and len(expected) < 4 * 9:
            for rule, ev in attacks(10_000_000 + index * 100, when):
                records.insert(rnd.randrange(len(records) + 1), ev)
                expected.add((rule, ev["eventID"]))
                n += 1
        day = root / "AWSLogs" / ACCOUNT / "CloudTrail" / region / "2026" / "11" / "30"
        day.mkdir(parents=True, exist_ok=True)
        path = (
            day / f"{ACCOUNT}_CloudTrail_{region}_20261130T{minute // 12:02d}{minute % 12 * 5:02d}Z"
            f"_{index:08x}.json.gz"
        )
        path.write_bytes(gzip.compress(orjson.dumps({"Records": records}), compresslevel=6))
        files.append(path)
        index += 1
    digest = root / "AWSLogs" / ACCOUNT / "CloudTrail-Digest" / REGIONS[0] / "2026" / "11" / "30"
    digest.mkdir(parents=True, exist_ok=True)
    (digest / "digest.json.gz").write_bytes(gzip.compress(b'{"awsAccountId":"111122223333"}'))
    return files, expected


def _flatten(obj: Any, prefix: str, out: dict[str, Any]) -> None:
    if isinstance(obj, dict):
        if prefix:
            out[prefix[:-1]] = json.dumps(obj, separators=(",", ":"))
        for k, v in obj.items():
            _flatten(v, f"{prefix}{k}.", out)
    elif isinstance(obj, list) and len(obj) == 1:  # a rule's any-element field, list{}.x
        out[prefix[:-1]] = json.dumps(obj, separators=(",", ":"))
        _flatten(obj[0], f"{prefix[:-1]}{{}}.", out)
    else:
        out[prefix[:-1]] = obj if type(obj) in (str, int, float) or obj is None else json.dumps(obj)


def reference(files: list[Path], kb: Any) -> tuple[int, set[str], set[tuple[str, str]]]:
    """pySigma's stock SQLite backend + sqlite3, events parsed and inserted in Python."""
    from sigma.backends.sqlite.sqlite import sqliteBackend
    from sigma.collection import SigmaCollection

    from mlstix.detect.logs._rules import load_rules, plan

    rules = load_rules(kb)
    lists = {f for r in rules for f in re.findall(r"([\w.-]+\{\}[\w.{}-]*)", r.meta.text)}
    fields = sorted({*plan(rules)["aws/cloudtrail"].slots, *lists, "eventID"})
    backend = sqliteBackend()
    queries = [
        (r.name, str(backend.convert(SigmaCollection.from_yaml(r.text))[0]).split(" WHERE ", 1)[1])
        for r in kb.detections.rules
        if r.product == "aws"
    ]
    count = 0
    ids: set[str] = set()
    found: set[tuple[str, str]] = set()
    for path in files:
        records = json.loads(gzip.decompress(path.read_bytes()))["Records"]
        db = sqlite3.connect(":memory:")
        db.create_function(  # SQLite leaves REGEXP to the application
            "REGEXP", 2, lambda rx, v: None if v is None else re.search(rx, str(v)) is not None
        )
        db.execute("CREATE TABLE logs (" + ", ".join(f'"{f}"' for f in fields) + ")")
        rows = []
        for rec in records:
            flat: dict[str, Any] = {}
            _flatten(rec, "", flat)
            rows.append([flat.get(f) for f in fields])
            ids.add(rec["eventID"])
        db.executemany(f"INSERT INTO logs VALUES ({', '.join('?' for _ in fields)})", rows)
        for name, where in queries:
            for (event_id,) in db.execute(f'SELECT "eventID" FROM logs WHERE {where}'):
                found.add((name, event_id))
        count += len(records)
        db.close()
    return count, ids, found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--per-file", type=int, default=5000)
    parser.add_argument(
        "--reference-files", type=int, default=20, help="files the reference is timed on"
    )
    parser.add_argument("--dir", type=Path, help="keep the generated tree here")
    args = parser.parse_args()

    from mlstix.detect.logs import detect_logs
    from mlstix.kb.load import load_kb

    kb = load_kb()
    with tempfile.TemporaryDirectory(prefix="mlstix-bench-detect-") as tmp:
        root = args.dir or Path(tmp)
        t0 = time.perf_counter()
        files, expected = generate(root, args.events, args.per_file)
        total = args.events + len(expected)
        size = sum(f.stat().st_size for f in files)
        print(
            f"generated {total:,} events in {len(files)} files ({size / 1e6:.0f} MB gzipped), "
            f"{len(expected)} planted attack events, in {time.perf_counter() - t0:.1f} s"
        )

        results = {}
        for jobs in (1, os.cpu_count() or 1):
            cpu0, t0 = time.process_time(), time.perf_counter()
            report = detect_logs(kb, [root], jobs=jobs)
            wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
            results[jobs] = (wall, cpu, report)
            print(
                f"mlstix detect -j {jobs}: {wall:.2f} s wall, {cpu:.2f} s CPU, "
                f"{total / wall:,.0f} events/s, {total / cpu * 60:,.0f} events/min per core (CPU)"
            )
        report = results[1][2]
        found = {(f.rule_id, f.evidence["event"]["eventID"]) for f in report.findings}
        missed, extra = expected - found, found - expected
        print(
            f"planted attack events found: {len(expected & found)}/{len(expected)}; "
            f"findings on benign events: {len(extra)}; errors: {len(report.errors)}"
        )
        for item in sorted(missed | extra)[:10]:
            print("  ", "missed" if item in missed else "extra", item)

        sample = files[: args.reference_files]
        cpu0, t0 = time.process_time(), time.perf_counter()
        count, ids, ref_found = reference(sample, kb)
        wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
        print(
            f"reference (pySigma sqlite backend + sqlite3, {len(sample)} files, {count:,} events): "
            f"{wall:.2f} s wall, {count / wall:,.0f} events/s, "
            f"{count / cpu * 60:,.0f} events/min per core"
        )
        ours = {x for x in found if x[1] in ids}
        planted = {x for x in expected if x[1] in ids}
        print(
            f"on the sample: planted {len(planted)}, mlstix found {len(ours & planted)} "
            f"(+{len(ours - planted)} others), reference found {len(ref_found & planted)} "
            f"(+{len(ref_found - planted)} others)"
        )
        for item in sorted(planted - ref_found):
            print(
                "   reference missed", item, "(SQL NULL: 'not filter' on a field the event lacks)"
            )
        _, c1, _ = results[1]
        print(
            "ratio mlstix -j 1 / reference (events per CPU second): "
            f"{(total / c1) / (count / cpu):.1f}x"
        )
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"peak RSS of this process: {rss:.0f} MB (gzipped input {size / 1e6:.0f} MB)")
        target = total / c1 * 60
        print(
            "target >= 1,000,000 events/min per core: "
            f"{'met' if target >= 1e6 else 'NOT met'} ({target:,.0f})"
        )


if __name__ == "__main__":
    main()
