"""`mlstix detect -` reads the log from standard input, gzipped or not, as it would the same
bytes in a file; the report names it ``-``; the spool file is gone afterwards; a terminal or a
closed standard input is one line and exit 2."""

from __future__ import annotations

import gzip
import json
import os
import pty
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from mlstix.cli.main import cli
from tests.cli_hardening.conftest import Outcome, assert_clean
from tests.cli_hardening.test_detect_flood import _event, _lines, _rules

pytest.importorskip("duckdb", reason="mlstix detect needs the 'detect' extra (DuckDB)")
pytest.importorskip("sigma", reason="mlstix detect needs the 'detect' extra (pySigma)")


@pytest.fixture
def spool_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "tmp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


def _detect(args: list[str], data: bytes) -> tuple[Outcome, dict[str, Any]]:
    result = CliRunner().invoke(cli, ["detect", *args, "--format", "json"], input=data)
    exc = None if isinstance(result.exception, SystemExit) else result.exception
    outcome = Outcome(result.exit_code, result.stdout, result.stderr, exc)
    assert_clean(outcome, {0, 1, 2}, names="-", report=result.stdout)
    return outcome, json.loads(result.stdout) if result.stdout.startswith("{") else {}


def _without_path(report: dict[str, Any]) -> list[Any]:
    return [{**f, "location": {**f["location"], "path": None}} for f in report["findings"]]


@pytest.mark.parametrize("gz", [False, True], ids=["plain", "gzip"])
def test_stdin_gives_what_the_same_bytes_in_a_file_give(
    tmp_path: Path, spool_dir: Path, gz: bool
) -> None:
    rules = _rules(tmp_path / "rules")
    text = ("\n" + _lines([_event(i) for i in range(6)])).encode()
    data = gzip.compress(text) if gz else text
    log = tmp_path / ("lake.jsonl.gz" if gz else "lake.jsonl")
    log.write_bytes(data)
    _, by_name = _detect(["logs", str(log), "--rules", str(rules)], b"")
    outcome, piped = _detect(["-", "--rules", str(rules)], data)  # `detect -` is `detect logs -`
    assert outcome.code == 1
    assert piped["scanned"] == [{"path": "-", "kind": "aws/cloudtrail (lines)", "sha256": None}]
    assert {f["location"]["path"] for f in piped["findings"]} == {"-"}
    assert _without_path(piped) == _without_path(by_name) and len(piped["findings"]) == 9
    assert list(spool_dir.iterdir()) == []  # the spool is removed


def test_a_truncated_gzip_on_stdin_is_salvaged_and_named(tmp_path: Path, spool_dir: Path) -> None:
    rules = _rules(tmp_path / "rules")
    whole = gzip.compress(_lines([_event(i) for i in range(2000)]).encode())
    outcome, report = _detect(["logs", "-", "--rules", str(rules)], whole[: len(whole) // 2])
    assert outcome.code == 2
    (error,) = report["errors"]
    assert error["path"] == "-" and "truncated" in error["message"]
    assert report["findings"] and {f["location"]["path"] for f in report["findings"]} == {"-"}
    assert list(spool_dir.iterdir()) == []


def test_stdin_beside_files_and_named_twice_is_read_once(tmp_path: Path, spool_dir: Path) -> None:
    rules = _rules(tmp_path / "rules")
    log = tmp_path / "lake.jsonl"
    log.write_text(_lines([_event(0)]))
    args = ["logs", "-", str(log), "-", "--rules", str(rules)]
    _, report = _detect(args, _lines([_event(2)]).encode())
    assert sorted(s["path"] for s in report["scanned"]) == sorted(["-", str(log)])
    assert len(report["findings"]) == 4


def test_garbage_and_empty_stdin(spool_dir: Path) -> None:
    outcome, report = _detect(["-"], b"\x00\x01 not a log")
    assert outcome.code == 2 and [e["path"] for e in report["errors"]] == ["-"]
    outcome, report = _detect(["-"], b"")
    assert outcome.code == 0
    assert report["scanned"] == [{"path": "-", "kind": "empty", "sha256": None}]


def _real(stdin: int | None, *, close_stdin: bool = False) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mlstix", "detect", "-"],
        stdin=stdin,
        preexec_fn=(lambda: os.close(0)) if close_stdin else None,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, "NO_COLOR": "1"},
    )


def test_a_terminal_or_a_closed_stdin_is_one_line() -> None:
    main, replica = pty.openpty()
    try:
        done = _real(replica)
    finally:
        os.close(main)
        os.close(replica)
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
    assert done.stderr.startswith("error: -: standard input is a terminal, not a log\n")
    closed = _real(None, close_stdin=True)  # as `mlstix detect - <&-` in a shell
    assert closed.returncode == 2 and "Traceback" not in closed.stderr, closed.stderr
    assert closed.stderr.startswith("error: -: standard input is closed\n"), closed.stderr


def test_ctrl_c_while_reading_stdin_leaves_no_spool(tmp_path: Path) -> None:
    """A pipe whose writer never finishes: Ctrl-C is exit 130 at once, no traceback, no report,
    and the spool file in TMPDIR is gone."""
    import signal
    import time

    spool = tmp_path / "tmp"
    spool.mkdir()
    out = tmp_path / "report.json"
    read_end, write_end = os.pipe()
    proc = subprocess.Popen(
        [sys.executable, "-m", "mlstix", "detect", "-", "--format", "json", "-o", str(out)],
        stdin=read_end,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "TMPDIR": str(spool)},
    )
    os.close(read_end)
    try:
        os.write(write_end, _lines([_event(0)]).encode())  # a first line, then nothing more
        deadline = time.monotonic() + 60
        # the spool file itself (tempfile first writes and removes a probe file of another name)
        while not list(spool.glob("mlstix-stdin-*")) and time.monotonic() < deadline:
            assert proc.poll() is None, proc.communicate()
            time.sleep(0.05)
        assert list(spool.glob("mlstix-stdin-*")), "the command never started spooling"
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=10)
    finally:
        os.close(write_end)
        if proc.poll() is None:
            proc.kill()
    text = err.decode(errors="replace")
    assert proc.returncode in (130, -signal.SIGINT), text
    assert "Traceback" not in text, text
    assert list(spool.iterdir()) == [] and not out.exists()


def test_stdin_redirected_from_a_file_is_read_as_that_file(tmp_path: Path) -> None:
    """``mlstix detect - < log.gz``: the same report as the file by name, and no copy in TMPDIR
    (read through /proc/self/fd on Linux; elsewhere the copy is made and removed)."""
    rules = _rules(tmp_path / "rules")
    log = tmp_path / "lake.jsonl.gz"
    log.write_bytes(gzip.compress(_lines([_event(i) for i in range(4)]).encode()))
    spool = tmp_path / "tmp"
    spool.mkdir()
    args = [sys.executable, "-m", "mlstix", "detect", "-", "--rules", str(rules), "-j", "1"]
    with log.open("rb") as stdin:
        done = subprocess.run(
            [*args, "--format", "json"],
            stdin=stdin,
            capture_output=True,
            timeout=120,
            check=False,
            env={**os.environ, "TMPDIR": str(spool)},
        )
    assert done.returncode == 1, done.stderr
    piped = json.loads(done.stdout)
    _, by_name = _detect(["logs", str(log), "--rules", str(rules)], b"")
    assert _without_path(piped) == _without_path(by_name) and len(piped["findings"]) == 6
    assert piped["scanned"][0]["path"] == "-"
    assert list(spool.iterdir()) == []


def test_a_redirected_file_is_not_copied_and_a_pipe_is(tmp_path: Path, spool_dir: Path) -> None:
    from mlstix.detect.logs._stdin import spooled

    if not Path("/proc/self/fd").is_dir():
        pytest.skip("no /proc/self/fd here: a redirected file is copied like a pipe")
    data = gzip.compress(_lines([_event(0)]).encode())
    log = tmp_path / "lake.jsonl.gz"
    log.write_bytes(data)
    with log.open("rb") as stdin, spooled(stdin) as path:
        assert str(path).startswith("/proc/self/fd/") and path.read_bytes() == data
        assert list(spool_dir.iterdir()) == []
    read_end, write_end = os.pipe()
    os.write(write_end, data)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as stdin, spooled(stdin) as path:
        assert path.parent == spool_dir and path.read_bytes() == data
    assert list(spool_dir.iterdir()) == []
