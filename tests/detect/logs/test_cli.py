"""``mlstix detect``: the command line, its exit codes and outputs, and ``detect export``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from mlstix.cli.main import cli
from mlstix.kb.load import load_kb
from tests.detect.logs.test_engine import BENIGN, TAMPER, write_lines


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args), env={"COLUMNS": "200"})
    return result.exit_code, result.stdout, result.stderr


def test_findings_exit_1_with_json_report(tmp_path: Path) -> None:
    log = write_lines(tmp_path / "lake.jsonl", [BENIGN, TAMPER])
    code, out, err = run("detect", str(log), "--format", "json")
    assert code == 1, err
    report = json.loads(out)
    assert [f["rule_id"] for f in report["findings"]] == ["aws-s3-model-artifact-written-by-human"]
    assert report["findings"][0]["evidence"]["event"]["eventName"] == "PutObject"
    assert report["errors"] == []
    # the same through the explicit sub-command, and below --fail-on
    assert run("detect", "logs", str(log), "--format", "json")[0] == 1
    assert run("detect", str(log), "--format", "json", "--fail-on", "critical")[0] == 0


def test_clean_log_exit_0(tmp_path: Path) -> None:
    log = write_lines(tmp_path / "lake.jsonl", [BENIGN])
    code, out, _ = run("detect", str(log), "--format", "json")
    assert code == 0 and json.loads(out)["findings"] == []


def test_bad_input_exit_2_report_still_written(tmp_path: Path) -> None:
    log = tmp_path / "lake.jsonl"
    log.write_text(json.dumps(TAMPER) + "\nnot json\n")
    out_file = tmp_path / "report.json"
    code, _, err = run("detect", str(log), "--format", "json", "-o", str(out_file))
    assert code == 2
    report = json.loads(out_file.read_text())
    (error,) = report["errors"]
    assert error["path"] == str(log) and error["message"].startswith("line 2: not valid JSON")
    assert len(report["findings"]) == 1
    assert "Traceback" not in err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["detect", "/no/such/log"], "/no/such/log: no such file or directory"),
        (["detect", "{log}", "--since", "yesterday"], "--since 'yesterday': not an ISO 8601"),
        (
            ["detect", "{log}", "--since", "2026-12-02", "--until", "2026-12-01"],
            "--since must be earlier than --until",
        ),
        (["detect", "{log}", "--rules", "{empty}"], "no .yml or .yaml files"),
        (["detect", "{empty}"], "no log files in"),
        (["detect", "{log}", "--rules", "{bad}"], "bad.yml: field mlstix"),
        (["detect", "export", "--target", "splunk", "-o", "/no/such/parent/out"], "does not exist"),
    ],
)
def test_usage_errors_exit_2_one_line(tmp_path: Path, args: list[str], message: str) -> None:
    log = write_lines(tmp_path / "lake.jsonl", [TAMPER])
    (tmp_path / "empty").mkdir()
    bad = tmp_path / "bad"
    bad.mkdir()
    rule = load_kb().detections.rules[0].text
    (bad / "bad.yml").write_text(rule.split("mlstix:")[0])
    fill = {"log": str(log), "empty": str(tmp_path / "empty"), "bad": str(bad)}
    code, out, err = run(*(a.format(**fill) for a in args))
    assert code == 2, (out, err)
    assert message in err and "Traceback" not in err + out


def test_own_rules_folder(tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    rules.mkdir()
    source = next(r for r in load_kb().detections.rules if r.name.startswith("aws-s3-model-art"))
    (rules / "mine.yml").write_text(source.text.replace("- .safetensors", "- .csv"))
    log = write_lines(
        tmp_path / "lake.jsonl",
        [{**TAMPER, "requestParameters": {"bucketName": "acme-models", "key": "data/train.csv"}}],
    )
    code, out, _ = run("detect", str(log), "--rules", str(rules), "--format", "json")
    assert code == 1 and json.loads(out)["findings"][0]["rule_id"] == "mine"
    # the knowledge base's rules alone do not flag a CSV
    assert run("detect", str(log), "--format", "json")[0] == 0


@pytest.mark.parametrize(
    ("target", "suffix", "bundle", "needle"),
    [
        ("splunk", ".spl", "savedsearches.conf", '"PutObject"'),
        ("esql", ".esql", None, 'to_lower(eventName) in ("putobject"'),
        ("lucene", ".lucene", None, "eventName:/[pP][uU][tT][oO][bB][jJ][eE][cC][tT]/"),
        ("kusto", ".kql", "NOT-EXPORTED.txt", 'AWSCloudTrail\n| where (EventSource =~ "s3.'),
        ("sigma", ".yml", None, "eventName:"),
    ],
)
def test_export(tmp_path: Path, target: str, suffix: str, bundle: str | None, needle: str) -> None:
    out = tmp_path / "out"
    code, _, err = run("detect", "export", "--target", target, "-o", str(out))
    assert code == 0, err
    rules = load_kb().detections.rules
    names = {p.name for p in out.iterdir()}
    # Sentinel's AWSCloudTrail table does not keep sessionCredentialFromConsole
    left_out = (
        {"aws-sagemaker-presigned-notebook-url-outside-console"} if target == "kusto" else set()
    )
    expected = {f"{r.name}{suffix}" for r in rules if r.name not in left_out}
    assert expected <= names
    extra = {"elastic-index-template.json"} if target in ("lucene", "esql") else set()
    assert names - expected == ({bundle} if bundle else set()) | extra
    text = (out / f"aws-s3-model-artifact-written-by-human{suffix}").read_text()
    assert needle in text
    if bundle == "savedsearches.conf":
        conf = (out / bundle).read_text()
        assert all(f"[{r.title}]" in conf for r in rules)
    assert f"wrote {out}" in err
    # a rule left out is said on the terminal, not only in a file the user may not open
    note = f"note: {len(left_out)} rule(s) cannot be expressed on kusto's tables"
    assert (note in err) == bool(left_out)


def test_export_refuses_a_file_in_place_of_the_folder(tmp_path: Path) -> None:
    target = tmp_path / "out"
    target.write_text("x")
    code, _, err = run("detect", "export", "--target", "kusto", "-o", str(target))
    assert code == 2 and "not a folder" in err and "Traceback" not in err


def test_stix_output_sights_the_indicator(tmp_path: Path, kb: Any) -> None:
    log = write_lines(tmp_path / "lake.jsonl", [TAMPER])
    code, out, _ = run("detect", str(log), "--format", "stix")
    assert code == 1
    from mlstix.kb.validate import validate_json

    document = json.loads(out)
    assert [str(p) for p in validate_json(document, strict=True)] == []
    objs = document["objects"]
    (sighting,) = [o for o in objs if o["type"] == "sighting"]
    rule = next(
        r for r in kb.detections.rules if r.name == "aws-s3-model-artifact-written-by-human"
    )
    assert sighting["sighting_of_ref"] == f"indicator--{rule.id}"
    ids = {o["id"] for o in objs}
    assert f"indicator--{rule.id}" in ids
