"""A new user's first hour, second pass: conflicting options, wrong values and odd inputs each
give one ``error: ...`` line and the documented exit code, before any work is done and with no
output file left behind."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from mlstix.cli import main

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "examples"


def _run(args: list[str]) -> tuple[int, str]:
    result = CliRunner().invoke(main.cli, args)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.output


@pytest.mark.parametrize(
    "selection",
    [
        ["--rule", "MLSTIX-AWS-SM-001", "--skip-rule", "mlstix-aws-sm-001"],
        ["--rule", "MLSTIX-AWS-SM-001", "--cloud", "azure"],
    ],
)
def test_scan_iac_options_that_leave_no_rule_are_refused(
    tmp_path: Path, selection: list[str]
) -> None:
    """It ran no rule and said "no findings", exit 0: a gate that can never fail."""
    out = tmp_path / "report.json"
    code, output = _run(["scan", "iac", str(EXAMPLES / "iac"), *selection, "-o", str(out)])
    assert code == 2
    assert "error: --cloud, --rule and --skip-rule together leave no rule to run" in output
    assert not out.exists()


def test_scan_iac_rule_with_its_own_cloud_still_runs(tmp_path: Path) -> None:
    out = tmp_path / "report.json"
    args = ["scan", "iac", str(EXAMPLES / "iac"), "--rule", "MLSTIX-AWS-SM-001", "--cloud", "AWS"]
    code, _ = _run([*args, "-o", str(out), "--format", "json"])
    assert code in (0, 1)
    assert out.is_file()


@pytest.mark.parametrize(
    ("url", "said"),
    [
        ("notaurl", "'notaurl' is not an http:// or https:// URL"),
        ("ftp://taxii.example.org/", "is not an http:// or https:// URL"),
        ("http://", "is not an http:// or https:// URL"),
        ("http://[::1", "is not a URL (Invalid IPv6 URL)"),
    ],
)
def test_scan_publish_url_is_checked_before_scanning(tmp_path: Path, url: str, said: str) -> None:
    """A bad --publish URL was found only after the scan had run and its report was written."""
    out = tmp_path / "report.json"
    code, output = _run(["scan", "iac", str(EXAMPLES / "iac"), "--publish", url, "-o", str(out)])
    assert code == 2
    assert "Invalid value for '--publish'" in output and said in output
    assert not out.exists()


def test_scan_publish_to_a_closed_port_names_publish_not_to(tmp_path: Path) -> None:
    """The hint said "check --to", an option of `mlstix publish` that `scan` does not have."""
    out = tmp_path / "report.json"
    url = "http://127.0.0.1:9/taxii2/"
    code, output = _run(["scan", "iac", str(EXAMPLES / "iac"), "--publish", url, "-o", str(out)])
    assert code == 2
    assert out.is_file()  # the report stands; only publishing failed
    assert "hint: the report was written; check --publish" in output
    assert "--to" not in output


def _non_utf8(folder: Path, name: bytes) -> Path:
    path = Path(os.fsdecode(os.path.join(os.fsencode(folder), name)))
    try:
        path.mkdir()
    except OSError as exc:  # a file system that only takes UTF-8 names
        pytest.skip(f"cannot create a non-UTF-8 file name here: {exc}")
    return path


def test_error_lines_show_a_non_utf8_path_as_bytes(tmp_path: Path) -> None:
    """They showed Python's surrogate escape (nope\\udcff) instead of the byte (nope\\xff)."""
    missing = Path(os.fsdecode(os.fsencode(tmp_path) + b"/nope\xff"))
    code, output = _run(["scan", "iac", str(missing)])
    assert code == 2
    assert output == f"error: {tmp_path}/nope\\xff: no such file or directory\n"
    out = Path(os.fsdecode(os.fsencode(tmp_path) + b"/r\xff.json"))
    code, output = _run(["scan", "iac", str(EXAMPLES / "iac"), "-o", str(out), "--fail-on", "none"])
    assert code == 0 and out.is_file()
    assert f"wrote {tmp_path}/r\\xff.json (json)" in output and "\\udc" not in output


def test_sign_verify_and_bom_of_a_model_folder_named_in_non_utf8(tmp_path: Path) -> None:
    """The folder's own name is the manifest's (informative) model name and the BOM's model
    name: UnicodeEncodeError tracebacks from protobuf (sign) and from the write (bom)."""
    pytest.importorskip("model_signing")
    pytest.importorskip("cyclonedx")
    from tests.keys import write_key

    model = _non_utf8(tmp_path, b"m\xff")
    (model / "weights.bin").write_bytes(b"\0" * 64)
    key = write_key(tmp_path, "key")
    code, output = _run(["sign", str(model), "--private-key", str(key.private)])
    assert code == 0, output
    assert "\\xff" in output and "\\udc" not in output
    code, output = _run(["verify", str(model), "--public-key", str(key.public)])
    assert code == 0, output
    bom = tmp_path / "bom.json"
    code, output = _run(["bom", str(model), "-o", str(bom)])
    assert code == 0, output
    document = json.loads(bom.read_text(encoding="utf-8"))
    assert [c["name"] for c in document["components"]] == ["m\\xff"]


def test_bom_of_a_model_holding_a_non_utf8_file_name_is_refused(tmp_path: Path) -> None:
    """The BOM names each file; its write raised UnicodeEncodeError (a traceback, exit 1)."""
    pytest.importorskip("cyclonedx")
    model = tmp_path / "model"
    model.mkdir()
    _non_utf8(model, b"w\xff")
    (model / "config.json").write_text("{}")
    bom = tmp_path / "bom.json"
    code, output = _run(["bom", str(model), "-o", str(bom)])
    assert code == 2
    assert f"error: cannot describe {model}: the name of {model}/w\\xff is not UTF-8" in output
    assert not bom.exists()


@pytest.mark.parametrize("fmt", ["csv", "oscal-catalog"])
def test_benchmark_export_level_with_a_format_that_ignores_it_is_refused(
    tmp_path: Path, fmt: str
) -> None:
    """--level 2 with csv wrote every control and said nothing: the user asked for a subset."""
    out = tmp_path / "export.out"
    code, output = _run(["benchmark", "export", "--format", fmt, "--level", "2", "-o", str(out)])
    assert code == 2
    assert f"error: --level applies to --format oscal-profile only; {fmt} holds" in output
    assert not out.exists()
    code, output = _run(["benchmark", "export", "--format", fmt, "-o", str(out)])
    assert code == 0 and out.is_file(), output


def test_reports_are_rewritten_only_when_a_string_is_not_utf8() -> None:
    """The rewrite walked every report (12 s of 140,000 findings); a C-speed check now decides,
    and it must see a lone surrogate wherever one hides: a path, evidence, a map key."""
    from mlstix.cli._report import _all_utf8, _printable
    from mlstix.findings.model import Finding, Location, Report, ScannedFile, Severity

    def report(path: str, evidence: dict[str, object]) -> Report:
        finding = Finding(
            "r", Severity.HIGH, "t", "m", Location(path), "insecure-model-serialization", (),
            evidence,
        )  # fmt: skip
        return Report.build("models", [ScannedFile(path, "pickle")], [finding], [])

    clean = report("models/m.pt", {"global": "os.system", "raw": b"\xed\xa0\x80"})
    assert _all_utf8(report("models/m.pt", {"global": "os.system"}))
    for odd in (
        report("models/m\udcff.pt", {}),
        report("m.pt", {"event": {"user": "ev\udcffe"}}),
        report("m.pt", {"k\udc80": 1}),
    ):
        assert not _all_utf8(odd)
        fixed = _printable(odd)
        assert _all_utf8(fixed)
    assert _printable(clean) == clean  # bytes that look like a surrogate: the slow way, unchanged


def test_ctrl_c_while_the_command_is_still_importing_is_exit_130() -> None:
    """Ctrl-C in the first ~0.1 s (importing click and the group, before the CLI's handler
    exists) printed a KeyboardInterrupt traceback and died by SIGINT."""
    import subprocess
    import sys

    code = "import mlstix.cli\nimport click\nraise KeyboardInterrupt"  # as if it came mid-import
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert proc.returncode == 130
    assert proc.stderr == "\ninterrupted\n"
    other = subprocess.run(
        [sys.executable, "-c", "import mlstix.cli\nraise ValueError('kept')"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert other.returncode == 1 and "ValueError: kept" in other.stderr  # other errors untouched


def test_demo_names_the_examples_absolutely_when_run_outside_the_checkout(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Run from elsewhere, every finding of the demo was at `../../work/main/examples/...`."""
    from mlstix.cli.demo import _shown

    monkeypatch.chdir(REPO)
    assert _shown(EXAMPLES / "iac") == "examples/iac"
    monkeypatch.chdir(tmp_path)
    assert _shown(EXAMPLES / "iac") == str(EXAMPLES / "iac")


@pytest.mark.parametrize(
    ("make", "said"),
    [
        (lambda p: None, "error: --var-file {p}: no such file\n"),
        (lambda p: p.mkdir(), "error: --var-file {p}: is a folder, not a file\n"),
        (lambda p: p.write_bytes(b"\x9d\xff"), "error: --var-file {p}: not UTF-8 text ("),
    ],
    ids=["missing", "folder", "binary"],
)
def test_var_file_problems_are_said_once(tmp_path: Path, make: Any, said: str) -> None:
    """It said "cannot read X: [Errno 2] No such file or directory: 'X'" (the path twice)."""
    path = tmp_path / "prod.tfvars"
    make(path)
    code, output = _run(["scan", "iac", str(EXAMPLES / "iac"), "--var-file", str(path)])
    assert code == 2
    assert output.startswith(said.format(p=path))
    assert "Errno" not in output


def test_navigator_refuses_a_report_larger_than_any_scan_report(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """It read any size whole (a 230 MB report took 1.7 GB); `benchmark assess` caps at the
    same 256 MiB."""
    from mlstix.cli import explore

    monkeypatch.setattr(explore, "_MAX_REPORT", 64)
    report = tmp_path / "scan.json"
    report.write_text('{"findings": []}' + " " * 100)
    out = tmp_path / "layer.json"
    code, output = _run(["navigator", "--report", str(report), "-o", str(out)])
    assert code == 2
    assert f"error: {report} is larger than 0 MiB: not a scan report" in output
    assert not out.exists()
    report.write_text('{"findings": []}')
    assert _run(["navigator", "--report", str(report), "-o", str(out)])[0] == 0
