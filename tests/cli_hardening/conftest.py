"""Fixtures of the hardening sweep: one folder of hostile inputs, keys and a signed model, and
the one way a case is run and judged.

Most cases run the real command tree in-process with click's runner (one process per case
would cost ~0.5 CPU-s of start-up each, and the sweep has hundreds); what only a real process
shows (signals, a closed pipe, argv bytes that are not UTF-8) runs in a subprocess, in
``test_signals.py``.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner

from mlstix.cli.main import cli
from tests.keys import write_key

REPO = Path(__file__).resolve().parents[2]
MODEL = REPO / "examples" / "models" / "safe-model"
IAC = REPO / "examples" / "iac"
NON_UTF8 = os.fsdecode(b"bad\xff.json")  # a file name that is not UTF-8 (argv gives surrogates)


@dataclass(frozen=True)
class Outcome:
    code: int
    out: str
    err: str
    exception: BaseException | None

    @property
    def error_lines(self) -> list[str]:
        return [line for line in self.err.splitlines() if line.lower().startswith("error:")]


def _alarm(signum: int, frame: object) -> None:
    raise TimeoutError("the command ran past its alarm (a server that should have refused?)")


def invoke(
    args: list[str], *, env: dict[str, str | None] | None = None, stdin: str = "", alarm: int = 0
) -> Outcome:
    """Run ``mlstix ARGS`` in this process, stdin not a terminal, stdout captured; with
    ``alarm``, a command still running after that many seconds fails with TimeoutError."""
    previous = signal.signal(signal.SIGALRM, _alarm) if alarm else None
    signal.alarm(alarm)
    try:
        result = CliRunner().invoke(cli, args, input=stdin, env=env, catch_exceptions=True)
    finally:
        signal.alarm(0)
        if previous is not None:
            signal.signal(signal.SIGALRM, previous)
    exc = result.exception
    if isinstance(exc, SystemExit):
        exc = None
    return Outcome(result.exit_code, result.stdout, result.stderr, exc)


def shown(name: str) -> str:
    """How an error line shows a file name (bytes that are not UTF-8 as ``\\xff``)."""
    return os.fsencode(name).decode("utf-8", "backslashreplace")


def assert_clean(
    outcome: Outcome, allowed: set[int], *, names: str | None = None, report: str = ""
) -> None:
    """The contract every case is judged by: no traceback, a documented exit code, and exit 2
    told in one ``error:`` line (click's own usage errors say ``Error:``) unless a report was
    written that lists the input under its errors; with ``names``, that name appears in what
    the user reads (the output, or the ``report`` written to a file)."""
    context = f"exit {outcome.code}\nstdout: {outcome.out[-2000:]}\nstderr: {outcome.err[-2000:]}"
    assert outcome.exception is None, f"{outcome.exception!r}\n{context}"
    assert "Traceback (most recent call last)" not in outcome.out + outcome.err, context
    assert outcome.code in allowed, context
    assert not [line for line in outcome.out.splitlines() if line.lower().startswith("error:")], (
        context
    )
    if outcome.code == 2:
        summary = "could not be scanned in full" in outcome.err
        assert len(outcome.error_lines) == (0 if summary else 1), context
        if names is not None:
            seen = outcome.err + outcome.out + (report if summary else "")
            said = shown(names)  # as a line shows it, or as a JSON report escapes that
            assert said in seen or json.dumps(said)[1:-1] in seen, context


@pytest.fixture(scope="session")
def bad(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Hostile inputs by name. The FIFO is not here: opening one blocks until a writer comes,
    as ``cat`` does, so it is tried (with Ctrl-C) in a subprocess."""
    root = tmp_path_factory.mktemp("bad")
    (root / "empty.json").write_bytes(b"")
    (root / "garbage.bin").write_bytes(bytes(range(256)) * 16)
    (root / "hugeline.json").write_bytes(b'{"a": "' + b"x" * 1_000_000)  # one unterminated line
    (root / "deep.json").write_bytes(b"[" * 100_000)
    (root / "bad.yaml").write_bytes(b"not: [valid\n  yaml: {")
    (root / "folder").mkdir()
    (root / "folder" / "x.json").write_bytes(b"{}")
    (root / "emptyfolder").mkdir()
    (root / "loop1").symlink_to(root / "loop2")
    (root / "loop2").symlink_to(root / "loop1")
    (root / "dangling").symlink_to(root / "nowhere")
    paths = {
        "missing": root / "missing.json",
        "empty": root / "empty.json",
        "garbage": root / "garbage.bin",
        "hugeline": root / "hugeline.json",
        "deep": root / "deep.json",
        "badyaml": root / "bad.yaml",
        "folder": root / "folder",
        "emptyfolder": root / "emptyfolder",
        "loop": root / "loop1",
        "dangling": root / "dangling",
    }
    if sys.platform != "darwin":  # APFS refuses names that are not UTF-8
        (root / NON_UTF8).write_bytes(b"{}")
        paths["nonutf8"] = root / NON_UTF8
    return paths


@dataclass(frozen=True)
class Material:
    """Good inputs the cases combine with one bad one."""

    work: Path
    key: Path
    public: Path
    other_public: Path
    signature: Path
    model: Path
    bundle: Path
    snapshot: Path


@pytest.fixture(scope="session")
def good(tmp_path_factory: pytest.TempPathFactory) -> Material:
    work = tmp_path_factory.mktemp("good")
    pair = write_key(work, "signer")
    other = write_key(work, "other")
    model = work / "model"
    shutil.copytree(MODEL, model)
    signature = work / "model.sig"
    bundle = work / "bundle.json"
    snapshot = work / "snap"
    for args in (
        ["sign", str(model), "--private-key", str(pair.private), "--signature", str(signature)],
        ["scan", "models", "-j", "1", str(model), "--format", "stix", "-o", str(bundle)],
    ):
        outcome = invoke(args)
        assert outcome.code == 0, outcome
    snapshot.mkdir()
    return Material(
        work, pair.private, pair.public, other.public, signature, model, bundle, snapshot
    )
