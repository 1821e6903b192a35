"""Fields inside JSON lists: ``resources{}.ARN`` in a rule is *any element's* ARN, as Splunk names
the fields it extracts from a list; the engine, the Splunk and the Elastic exports agree on it."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from mlstix.detect.logs import detect_logs
from mlstix.detect.logs._rules import load_rules
from mlstix.detect.logs.export import render_rules
from mlstix.kb.load import load_kb
from tests.detect.logs.conftest import RULES, event, write_lines

RULE = """
title: Object written under a watched ARN
id: 3f0e7c52-5d8b-4e1a-9a0c-1e2f3a4b5c6d
status: experimental
description: test rule reading CloudTrail's resources list
references: [https://docs.aws.amazon.com/awscloudtrail/latest/userguide/cloudtrail-event-reference-record-contents.html]
author: test
date: 2026-12-01
tags: [attack.impact, attack.t1565.001, atlas.aml.t0018]
logsource: {product: aws, service: cloudtrail}
detection:
  selection:
    eventName: PutObject
    resources{}.ARN|startswith: 'arn:aws:s3:::acme-models/'
  filter_typed:
    resources{}.type: AWS::S3::Bucket
  condition: selection and not filter_typed
falsepositives: [none]
level: high
mlstix:
  attack_pattern: ml-model-tampering
  vulnerability: unversioned-model-assets
  indicates_id: relationship--3f0e7c52-5d8b-4e1a-9a0c-1e2f3a4b5c6d
"""


def _put(resources: Any) -> dict[str, Any]:
    ev = event("aws", {"eventSource": "s3.amazonaws.com", "eventName": "PutObject"})
    ev["resources"] = resources
    return ev


OBJECT = {"type": "AWS::S3::Object", "ARN": "arn:aws:s3:::acme-models/fraud/v8/model.tar.gz"}
BUCKET = {"type": "AWS::S3::Bucket", "ARN": "arn:aws:s3:::acme-models", "accountId": "111122223333"}


@pytest.mark.parametrize(
    ("resources", "found"),
    [
        ([OBJECT], True),  # the only element
        ([{"type": "AWS::S3::Object", "ARN": "arn:aws:s3:::other/x"}, OBJECT], True),  # the second
        ([OBJECT, BUCKET], False),  # any element's type excludes it
        ([{"type": "AWS::S3::Object", "ARN": "arn:aws:s3:::acme-models-old/x"}], False),
        (OBJECT, False),  # an object where a list is named: Splunk names it resources.ARN
        ([], False),
        (None, False),
        ("arn:aws:s3:::acme-models/fraud/v8/model.tar.gz", False),  # a string is no list
        ("[not json", False),
    ],
)
def test_any_element(tmp_path: Path, kb: Any, resources: Any, found: bool) -> None:
    folder = tmp_path / "rules"
    folder.mkdir()
    (folder / "watched.yml").write_text(RULE)
    log = write_lines(tmp_path / "lake.jsonl", [_put(resources)])
    report = detect_logs(kb, [log], rules_dir=folder, jobs=1)
    assert not report.errors
    assert bool(report.findings) is found


def _splunk_fields(value: Any, prefix: str = "") -> set[str]:
    """The fields Splunk's JSON extraction (KV_MODE=json, spath) makes of an event: dotted paths,
    a list's elements under ``name{}``."""
    out: set[str] = set()
    if isinstance(value, dict):
        for key, item in value.items():
            out |= _splunk_fields(item, f"{prefix}{key}.")
    elif isinstance(value, list):
        for item in value:
            out |= _splunk_fields(item, f"{prefix[:-1]}{{}}.")
    elif prefix:
        out.add(prefix[:-1])
    return out


_SPL_COMMAND_FIELD = re.compile(r'(?:rex field=|\| regex )"?([A-Za-z_][\w.{}-]*)"?')
_SPL_FIELD = re.compile(r'(?:^|[\s(])"?([A-Za-z_][\w.{}-]*)"?(?:=|!=| IN \()')


def _spl_fields(spl: str) -> set[str]:
    """The fields an SPL query reads: in rex/regex commands and in search terms."""
    named = set(_SPL_COMMAND_FIELD.findall(spl))
    rest = _SPL_COMMAND_FIELD.sub(" ", spl)
    rest = re.sub(r'"(?:[^"\\]|\\.)*"(?!\s*(?:=|!=| IN \())', '""', rest)  # values
    return named | set(_SPL_FIELD.findall(rest))


def test_splunk_queries_name_fields_splunk_extracts(kb: Any) -> None:
    """Every field an exported SPL query reads is one Splunk extracts from the rule's own fixture
    events (or the raw event); the queries' own flags (xMatch, xCondition) are not fields."""
    files = render_rules(load_rules(kb), "splunk")
    for rule in load_kb().detections.rules:
        spl = files[f"{rule.name}.spl"]
        cases = json.loads((RULES / f"{rule.name}.json").read_text())
        have = {"_raw"}
        for case in (*cases["match"], *cases["nomatch"]):
            have |= _splunk_fields(event(rule.name, case["event"]))
        flags = set(re.findall(r"\b(\w+(?:Match|Condition)\d*)\b", spl))
        used = {f for f in _spl_fields(spl) if f not in flags}
        assert used, spl
        assert used <= have, (rule.name, sorted(used - have))


def test_splunk_lists_and_flattened_objects(kb: Any) -> None:
    files = render_rules(load_rules(kb), "splunk")
    public = files["gcp-storage-model-bucket-opened-to-public.spl"]
    assert (
        'protoPayload.serviceData.policyDelta.bindingDeltas{}.member IN ("allUsers", '
        '"allAuthenticatedUsers")' in public
    )
    opened = files["aws-s3-model-bucket-opened.spl"]
    grants = "requestParameters.AccessControlPolicy.AccessControlList.Grant"
    assert f"{grants}{{}}.Grantee.URI IN" in opened and f"{grants}.Grantee.URI IN" in opened
    assert '"requestParameters.x-amz-acl{}" IN ("public-read"' in opened
    # the bucket policy is read from the raw event (Splunk splits its statements into leaves)
    assert '| rex field=_raw "(?<rawEventMatch>' in opened and "bucketPolicy" not in opened
    conf = files["savedsearches.conf"]
    assert not re.search(r"^search = +\\\n\|", conf, re.M)  # no saved search starts with a pipe


@pytest.mark.parametrize("target", ["lucene", "esql"])
def test_elastic_names_list_elements_by_the_list(kb: Any, target: str) -> None:
    files = render_rules(load_rules(kb), target)
    assert not any(re.search(r"\w\{\}", text) for text in files.values())
    public = files[f"gcp-storage-model-bucket-opened-to-public.{target}"]
    assert "protoPayload.serviceData.policyDelta.bindingDeltas.member" in public
