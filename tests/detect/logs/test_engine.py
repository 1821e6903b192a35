"""mlstix detect over logs in the shapes users have them, and over damaged logs."""

from __future__ import annotations

import gzip
import io
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from mlstix.detect.logs import detect_logs
from mlstix.detect.logs._limits import Problems
from mlstix.detect.logs._salvage import salvage
from mlstix.detect.logs._shapes import sniff
from tests.detect.logs.conftest import BASE, event, merge, write_document, write_lines

TAMPER = event(
    "aws",
    {
        "eventSource": "s3.amazonaws.com",
        "eventName": "PutObject",
        "eventCategory": "Data",
        "userIdentity": {"type": "IAMUser", "arn": "arn:aws:iam::111122223333:user/mallory"},
        "sourceIPAddress": "203.0.113.7",
        "requestParameters": {"bucketName": "acme-models", "key": "fraud/v7/model.tar.gz"},
    },
)
BENIGN = event("aws", {"eventName": "DescribeEndpoint", "requestParameters": {"endpointName": "x"}})
RULE = "aws-s3-model-artifact-written-by-human"


def _tree(root: Path) -> Path:
    """A CloudTrail S3 delivery tree: AWSLogs/<account>/CloudTrail/<region>/YYYY/MM/DD/*.json.gz,
    with a digest file that must be skipped."""
    day = root / "AWSLogs" / "111122223333" / "CloudTrail" / "eu-west-1" / "2026" / "11" / "30"
    day.mkdir(parents=True)
    name = "111122223333_CloudTrail_eu-west-1_20261130T1200Z_a1b2c3d4e5f6.json.gz"
    write_document(day / name, [BENIGN, TAMPER, BENIGN])
    write_document(day / name.replace("a1b2", "f0f0"), [BENIGN] * 5)
    digest = root / "AWSLogs" / "111122223333" / "CloudTrail-Digest" / "eu-west-1"
    digest.mkdir(parents=True)
    (digest / "digest.json.gz").write_bytes(
        gzip.compress(json.dumps({"awsAccountId": "111122223333", "logFiles": []}).encode())
    )
    return root


def test_cloudtrail_s3_tree(tmp_path: Path, kb: Any) -> None:
    report = detect_logs(kb, [_tree(tmp_path)], jobs=2)
    assert not report.errors
    assert len(report.scanned) == 2 and all("digest" not in s.path for s in report.scanned)
    (finding,) = report.findings
    assert finding.rule_id == RULE
    assert finding.location.member == "record 2" and finding.location.line is None
    assert finding.location.resource == "s3://acme-models/fraud/v7/model.tar.gz"
    ev = finding.evidence
    assert ev["principal"] == "arn:aws:iam::111122223333:user/mallory"
    assert ev["source_ip"] == "203.0.113.7" and ev["time"] == "2026-11-30T12:00:00Z"
    assert ev["event"] == TAMPER and ev["attack_pattern"] == "ml-model-tampering"
    assert finding.vulnerability == "unversioned-model-assets"
    assert "implement-immutable-ml-model-versioning" in finding.courses_of_action
    assert finding.severity.value == "high"


def test_lake_eventbridge_azure_gcp_k8s_shapes(tmp_path: Path, kb: Any) -> None:
    bridge = {
        "version": "0",
        "id": "6f4b6a1e-0000-4000-8000-000000000000",
        "detail-type": "AWS API Call via CloudTrail",
        "source": "aws.s3",
        "account": "111122223333",
        "time": "2026-11-30T12:00:00Z",
        "region": "eu-west-1",
        "resources": [],
        "detail": TAMPER,
    }
    azure = merge(
        BASE["azure"],
        {"operationName": "MICROSOFT.MACHINELEARNINGSERVICES/WORKSPACES/ONLINEENDPOINTS/WRITE"},
    )
    gcp = event(
        "gcp",
        {
            "protoPayload": {
                "methodName": "google.cloud.aiplatform.v1.EndpointService.DeployModel",
                "authenticationInfo": {"principalEmail": "mallory@example.com"},
            }
        },
    )
    k8s = event(
        "k8s", {"verb": "create", "objectRef": {"name": "llm-vllm-0", "subresource": "exec"}}
    )
    write_lines(tmp_path / "lake.jsonl", [BENIGN, TAMPER])
    write_lines(tmp_path / "bridge.jsonl.gz", [bridge], gz=True)
    write_lines(tmp_path / "PT1H.json", [BASE["azure"], azure])
    write_document(tmp_path / "azure-records.json.gz", [azure], key="records")
    (tmp_path / "gcloud.json").write_text(json.dumps([BASE["gcp"], gcp], indent=2))
    write_lines(tmp_path / "sink.json", [gcp])
    write_lines(tmp_path / "audit.log", [BASE["k8s"], k8s])
    report = detect_logs(kb, [tmp_path], jobs=1)
    assert not report.errors, report.errors
    kinds = {Path(s.path).name: s.kind for s in report.scanned}
    assert kinds["bridge.jsonl.gz"] == "aws/cloudtrail (detail of lines)"
    assert kinds["gcloud.json"] == "gcp/gcp.audit (array)"
    assert kinds["azure-records.json.gz"] == "azure/activitylogs (document)"
    found = sorted((Path(f.location.path).name, f.rule_id) for f in report.findings)
    assert found == [
        ("PT1H.json", "azure-ml-online-deployment-written"),
        ("audit.log", "k8s-exec-into-model-server-pod"),
        ("azure-records.json.gz", "azure-ml-online-deployment-written"),
        ("bridge.jsonl.gz", RULE),
        ("gcloud.json", "gcp-vertex-endpoint-deployment-changed-by-user"),
        ("lake.jsonl", RULE),
        ("sink.json", "gcp-vertex-endpoint-deployment-changed-by-user"),
    ]
    by_file = {Path(f.location.path).name: f for f in report.findings}
    assert by_file["gcloud.json"].location.line == 2
    assert by_file["gcloud.json"].evidence["principal"] == "mallory@example.com"
    assert by_file["PT1H.json"].evidence["principal"] == "mallory@contoso.com"
    assert by_file["audit.log"].evidence["source_ip"] == "203.0.113.7"
    assert by_file["audit.log"].location.resource == "kserve-prod/pods/llm-vllm-0/exec"


def test_time_window(tmp_path: Path, kb: Any) -> None:
    later = merge(TAMPER, {"eventTime": "2026-12-01T08:00:00Z"})
    path = write_lines(tmp_path / "lake.jsonl", [TAMPER, later])
    since = datetime(2026, 12, 1, tzinfo=UTC)
    assert [f.location.line for f in detect_logs(kb, [path], since=since).findings] == [2]
    assert [f.location.line for f in detect_logs(kb, [path], until=since).findings] == [1]


def test_truncated_gzip_keeps_the_lines_before_the_cut(tmp_path: Path, kb: Any) -> None:
    data = gzip.compress("".join(json.dumps(e) + "\n" for e in [TAMPER, BENIGN] * 200).encode())
    path = tmp_path / "cut.jsonl.gz"
    path.write_bytes(data[: len(data) * 2 // 3])
    report = detect_logs(kb, [path], jobs=1)
    assert len(report.errors) == 1
    assert report.errors[0].path == str(path)
    assert "truncated" in report.errors[0].message and "line" in report.errors[0].message
    lines = [f.location.line for f in report.findings]
    assert lines and lines == list(range(1, 2 * len(lines), 2))


@pytest.mark.parametrize(
    ("cut", "said"),
    [
        (lambda gz: gz[:10], "ends before its end marker (truncated), before any event"),
        (lambda gz: gz[:40], "ends before its end marker (truncated), before any event"),
        (lambda gz: gz[:10] + b"\xff" * 64, "gzip stream is damaged"),
    ],
)
def test_gzip_cut_before_its_first_event_is_an_error_not_an_empty_log(
    tmp_path: Path, kb: Any, cut: Any, said: str
) -> None:
    """Nothing inflated used to look like an empty file: scanned, no error, exit 0."""
    path = tmp_path / "cut.json.gz"
    path.write_bytes(cut(gzip.compress(json.dumps({"Records": [TAMPER]}).encode())))
    report = detect_logs(kb, [path], jobs=1)
    assert not report.scanned and not report.findings
    assert [e.path for e in report.errors] == [str(path)]
    assert said in report.errors[0].message


def test_gzip_members_after_an_empty_one_are_read(tmp_path: Path, kb: Any) -> None:
    """A first member that inflates to nothing (log shippers append members) is not the end."""
    path = tmp_path / "members.jsonl.gz"
    path.write_bytes(gzip.compress(b"") + gzip.compress((json.dumps(TAMPER) + "\n").encode()))
    report = detect_logs(kb, [path], jobs=1)
    assert not report.errors
    assert [f.rule_id for f in report.findings] == [RULE]
    empty = tmp_path / "empty.json.gz"
    empty.write_bytes(gzip.compress(b"") * 2)
    assert [s.kind for s in detect_logs(kb, [empty], jobs=1).scanned] == ["empty"]


def test_bad_lines_are_errors_with_their_line_and_the_rest_is_read(tmp_path: Path, kb: Any) -> None:
    no_time = {k: v for k, v in TAMPER.items() if k != "eventTime"}
    bad_time = merge(TAMPER, {"eventTime": "yesterday"})
    path = tmp_path / "mixed.jsonl"
    path.write_text(
        "\n".join(
            [
                json.dumps(TAMPER),
                '{"eventName": "Put',
                "",
                json.dumps(no_time),
                "[1, 2]",
                json.dumps(bad_time),
                json.dumps(TAMPER),
            ]
        )
        + "\n"
    )
    report = detect_logs(kb, [path], jobs=1)
    messages = sorted(e.message for e in report.errors)
    assert messages == [
        "line 2: not valid JSON (unexpected end of data)",
        "line 4: a aws/cloudtrail record without eventTime",
        "line 5: not a JSON object",
        "line 6: eventTime 'yesterday' is not an ISO 8601 timestamp",
    ]
    assert [f.location.line for f in report.findings] == [1, 7]


def test_truncated_cloudtrail_document(tmp_path: Path, kb: Any) -> None:
    text = json.dumps({"Records": [TAMPER, BENIGN, TAMPER]}, indent=1)
    path = tmp_path / "ct.json"
    path.write_text(text[: text.rindex('"eventVersion"')])
    report = detect_logs(kb, [path], jobs=1)
    (error,) = report.errors
    assert error.message.startswith("line ") and "record 3 is not valid JSON" in error.message
    assert [f.location.member for f in report.findings] == ["record 1"]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"\x00\x01binary", "line 1: not JSON"),
        (b'{"hello": "world"}\n', "line 1: not an audit log mlstix reads"),
        (b'{\n  "a": 1\n}\n', "line 1: line 1 is not a complete JSON object"),
    ],
)
def test_unreadable_files_are_errors(tmp_path: Path, kb: Any, content: bytes, message: str) -> None:
    path = tmp_path / "x.json"
    path.write_bytes(content)
    good = write_lines(tmp_path / "good.jsonl", [TAMPER])
    report = detect_logs(kb, [path, good], jobs=1)
    assert [(e.path, e.message[: len(message)]) for e in report.errors] == [(str(path), message)]
    assert len(report.findings) == 1


def test_salvage_agrees_with_the_standard_readers(tmp_path: Path) -> None:
    """On intact files our salvage reader yields exactly what json/gzip yield."""
    events = [TAMPER, BENIGN, merge(BENIGN, {"requestParameters": {"k": "ü ☃ \\n"}})]
    lines = write_lines(tmp_path / "a.jsonl.gz", events, gz=True)
    doc = write_document(tmp_path / "b.json.gz", events)
    for path in (lines, doc):
        problems = Problems()
        out = io.BytesIO()
        locations = salvage(path, sniff(path), out, problems)
        assert problems.messages() == []
        assert [json.loads(body) for body in out.getvalue().splitlines()] == events
        assert list(locations) == [1, 2, 3]


def test_oversized_line_is_refused_with_bounded_memory(tmp_path: Path, kb: Any) -> None:
    """A gzip that inflates to one 70 MB line: an error for that line (DuckDB reads it as one
    oversized record without the required fields, or the salvage reader refuses the line), and
    the other records and files are still read."""
    bomb = tmp_path / "bomb.jsonl.gz"
    head = json.dumps(TAMPER).encode() + b"\n"
    bomb.write_bytes(gzip.compress(head + b'{"eventName": "' + b"A" * (70 << 20) + b'"}\n'))
    good = write_lines(tmp_path / "good.jsonl", [TAMPER])
    report = detect_logs(kb, [bomb, good], jobs=1)
    (error,) = report.errors
    assert error.path == str(bomb) and error.message.startswith("line 2: ")
    assert sorted(Path(f.location.path).name for f in report.findings) == [
        "bomb.jsonl.gz",
        "good.jsonl",
    ]


def test_line_numbers_count_blank_lines(tmp_path: Path, kb: Any) -> None:
    path = tmp_path / "gaps.jsonl.gz"
    lines = [json.dumps(BENIGN), "", "   ", json.dumps(TAMPER), "", json.dumps(TAMPER)]
    path.write_bytes(gzip.compress(("\n".join(lines) + "\n").encode()))
    report = detect_logs(kb, [path], jobs=1)
    assert not report.errors
    assert [f.location.line for f in report.findings] == [4, 6]


def test_first_event_longer_than_the_sniffed_head(tmp_path: Path, kb: Any) -> None:
    big = merge(TAMPER, {"requestParameters": {"padding": "x" * 400_000}})
    path = write_lines(tmp_path / "big.jsonl.gz", [big, TAMPER], gz=True)
    report = detect_logs(kb, [path], jobs=1)
    assert not report.errors
    assert [f.location.line for f in report.findings] == [1, 2]


@pytest.mark.parametrize("content", [b"", b"\n\n  \n", b"[]", b"[ ]\n", b'{"Records": []}'])
def test_logs_without_events_are_read_not_errors(tmp_path: Path, kb: Any, content: bytes) -> None:
    path = tmp_path / "quiet.json"
    path.write_bytes(content)
    report = detect_logs(kb, [path], jobs=1)
    assert report.errors == () and report.findings == ()
    assert [s.path for s in report.scanned] == [str(path)]


def test_salvage_inflates_a_gzip_bomb_a_bounded_step_at_a_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One 1 MiB read of a gzip of blanks inflated to ~1 GiB in one call (2.4 GB of memory for
    a 2 MB log); each step now yields at most _INFLATE bytes, members concatenated included."""
    from mlstix.detect.logs import _salvage

    monkeypatch.setattr(_salvage, "_INFLATE", 1 << 16)
    first = b" " * (3 << 20) + b"\n"
    second = (json.dumps(TAMPER) + "\n").encode()
    path = tmp_path / "bomb.jsonl.gz"
    path.write_bytes(gzip.compress(first) + gzip.compress(second))
    chunks = list(_salvage._chunks(path, gzipped=True))
    assert max(len(c) for c in chunks) <= 1 << 16
    assert b"".join(chunks) == first + second
