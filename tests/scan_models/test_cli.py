"""``mlstix scan models``: formats, exit codes, --output, --policy, --jobs, bad arguments."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from mlstix.cli.main import cli

from . import builders as b


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, ["scan", "models", *args])
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    (root / "models" / "clf").mkdir(parents=True)
    (root / "models" / "clf" / "model.pkl").write_bytes(b.call_pickle("os", "system", "id"))
    (root / "models" / "clf" / "helper.pkl").write_bytes(b.call_pickle("acme.ml", "Scaler", "x"))
    (root / "vendor").mkdir()
    (root / "vendor" / "old.pkl").write_bytes(b.call_pickle("subprocess", "call", "x"))
    return root


def test_json_report_and_exit_code(tree: Path) -> None:
    code, out, _ = run(str(tree), "--format", "json")
    assert code == 1
    doc = json.loads(out)
    assert {"tool", "scanned", "findings", "errors"} <= set(doc)
    assert {s["kind"] for s in doc["scanned"]} == {"pickle"}
    crit = [f for f in doc["findings"] if f["severity"] == "critical"]
    assert {f["location"]["path"].split("repo/")[-1] for f in crit} == {
        "models/clf/model.pkl",
        "vendor/old.pkl",
    }


def test_fail_on_threshold(tmp_path: Path) -> None:
    referenced = b"\x80\x02" + b.global_op("acme", "Thing") + b"."  # unknown, not invoked
    (tmp_path / "x.pkl").write_bytes(referenced)  # medium only
    assert run(str(tmp_path), "--format", "json")[0] == 0  # default --fail-on high
    assert run(str(tmp_path), "--format", "json", "--fail-on", "medium")[0] == 1


@pytest.mark.parametrize("fmt", ["sarif", "stix", "markdown", "table"])
def test_other_formats(tree: Path, fmt: str) -> None:
    code, out, _ = run(str(tree), "--format", fmt)
    assert code == 1
    if fmt == "sarif":
        assert json.loads(out)["runs"][0]["results"]
    elif fmt == "stix":
        assert any(o["type"] == "sighting" for o in json.loads(out)["objects"])
    else:
        assert "os.system" in out


def test_output_file(tree: Path, tmp_path: Path) -> None:
    target = tmp_path / "report.sarif"
    code, out, _ = run(str(tree), "--format", "sarif", "--output", str(target))
    assert code == 1 and out == ""
    assert json.loads(target.read_text())["version"] == "2.1.0"


def test_policy_allows_ignores_and_reranks(tree: Path, tmp_path: Path) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text(
        "allow_imports: ['acme.ml.*']\n"
        "ignore_paths: ['vendor/**']\n"
        "severity: {models/pickle-dangerous-import: low, models/unsigned-model: info}\n"
    )
    code, out, _ = run(str(tree), "--format", "json", "--policy", str(policy))
    doc = json.loads(out)
    assert code == 0
    assert not any("vendor" in s["path"] for s in doc["scanned"])
    assert not any(f["rule_id"] == "models/pickle-unknown-import" for f in doc["findings"])
    sev = {f["rule_id"]: f["severity"] for f in doc["findings"]}
    assert sev["models/pickle-dangerous-import"] == "low"
    assert sev["models/unsigned-model"] == "info"


@pytest.mark.parametrize(
    ("policy_text", "needle"),
    [
        ("severity: {models/no-such-rule: low}", "unknown rule id models/no-such-rule"),
        ("severity: {models/unsigned-model: urgent}", "severity.models/unsigned-model"),
        ("allow_import: ['x']", "allow_import"),
        ("[unclosed", "not valid YAML"),
        ("- a list", "expected a mapping"),
    ],
)
def test_bad_policy_exits_2_naming_the_problem(
    tree: Path, tmp_path: Path, policy_text: str, needle: str
) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text(policy_text)
    out_file = tmp_path / "report.json"
    code, _, err = run(str(tree), "--policy", str(policy), "--output", str(out_file))
    assert code == 2
    assert needle in err
    assert not out_file.exists()


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["/nonexistent/models"], "no such file or directory"),
        (["{tree}", "--public-key", "/nonexistent.pub"], "--public-key"),
        (
            [
                "{tree}",
                "--public-key",
                "{tree}/models/clf/model.pkl",
                "--identity",
                "a@b",
                "--identity-provider",
                "https://x",
            ],
            "either --public-key or --identity",
        ),
        (["{tree}", "--identity", "a@b"], "go together"),
    ],
)
def test_bad_arguments_exit_2(tree: Path, tmp_path: Path, args: list[str], needle: str) -> None:
    out_file = tmp_path / "r.json"
    code, _, err = run(*[a.format(tree=tree) for a in args], "--output", str(out_file))
    assert code == 2
    assert needle in err
    assert not out_file.exists()


def test_jobs_give_the_same_report(tree: Path) -> None:
    for i in range(20):
        (tree / "models" / f"m{i}.pkl").write_bytes(b.call_pickle("os", "system", str(i)))
    one = json.loads(run(str(tree), "--format", "json", "--jobs", "1")[1])
    many = json.loads(run(str(tree), "--format", "json", "--jobs", "3")[1])
    assert one == many
    assert len([f for f in one["findings"] if f["severity"] == "critical"]) == 22


def test_no_hash(tree: Path) -> None:
    hashed = json.loads(run(str(tree), "--format", "json")[1])
    assert all(len(s["sha256"]) == 64 for s in hashed["scanned"])
    bare = json.loads(run(str(tree), "--format", "json", "--no-hash")[1])
    assert all(s["sha256"] is None for s in bare["scanned"])
    assert bare["findings"] == hashed["findings"]


def test_fifo_is_never_opened(tmp_path: Path) -> None:
    """A FIFO would block a reader forever: as an argument it is refused, inside a folder it
    is reported as an error (exit 2), never opened and never skipped without a word."""
    import os

    fifo = tmp_path / "model.pkl"
    os.mkfifo(fifo)
    code, _, err = run(str(fifo))
    assert code == 2 and "not a regular file" in err
    (tmp_path / "ok.npy").write_bytes(b.npy("<f4", (1,), b"\0\0\0\0"))
    code, out, _ = run(str(tmp_path), "--format", "json")
    doc = json.loads(out)
    assert code == 2 and [s["path"] for s in doc["scanned"]] == [str(tmp_path / "ok.npy")]
    assert doc["errors"] == [{"path": str(fifo), "message": "a FIFO, not a regular file: not read"}]


def test_empty_folder_is_nothing_to_scan(tmp_path: Path) -> None:
    code, out, err = run(str(tmp_path))
    assert (code, out) == (2, "")
    assert "nothing to scan" in err


def test_progress_bar_on_a_terminal(tree: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """On a terminal the scan shows a progress bar (on stderr) and still reports everything."""
    import io

    from rich.console import Console

    from mlstix.cli import _console as console_module
    from mlstix.cli import scan as scan_cli
    from mlstix.kb.load import load_kb
    from mlstix.scan.models import ScanOptions

    buf = io.StringIO()
    monkeypatch.setattr(console_module, "err_console", Console(file=buf, force_terminal=True))
    report = scan_cli._with_progress((str(tree),), load_kb, ScanOptions(jobs=1))
    assert len(report.scanned) == 3
    assert "scanning models" in buf.getvalue()


def test_files_that_could_not_be_scanned_exit_2_with_the_report(tree: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside.pkl"
    outside.write_bytes(b.call_pickle("os", "system", "x"))
    (tree / "models" / "link.pkl").symlink_to(outside)
    report_file = tmp_path / "report.json"
    code, _, err = run(str(tree), "--format", "json", "--output", str(report_file))
    assert code == 2
    assert "1 file could not be scanned in full" in err
    doc = json.loads(report_file.read_text())
    assert [e["path"] for e in doc["errors"]] == [str(tree / "models" / "link.pkl")]
    assert doc["findings"]  # the rest of the scan is reported
    policy = tmp_path / "policy.yaml"
    policy.write_text("ignore_paths: ['models/link.pkl']\n")
    assert run(str(tree), "--format", "json", "--policy", str(policy))[0] == 1
