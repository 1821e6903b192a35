"""Class 5 of issue 10: no input may crash the scanner. Each file is analysed in a worker
process of its own: a segfault in a C library, a parser stuck where no Python signal reaches,
or a memory blow-up becomes an ``errors`` entry for that file, and the rest of the report
survives. Ctrl-C stops a scan at once (exit 130, no worker tracebacks, no partial output)."""

from __future__ import annotations

import ctypes
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from mlstix.scan.models import Limits
from mlstix.scan.models import engine as engine_module
from mlstix.scan.models._context import Analyzer, Context, Source
from mlstix.scan.models._sniff import analyzers

from . import builders as b
from .conftest import Scan, imports


def _with_gguf_analyzer(monkeypatch: pytest.MonkeyPatch, behave: Callable[[], object]) -> None:
    """Replace the GGUF analyzer with ``behave`` (inherited by the forked workers)."""

    def registry() -> dict[str, Analyzer]:
        table = analyzers()

        def broken(src: Source, ctx: Context) -> str:
            del src, ctx
            behave()
            return "gguf"

        table["gguf"] = broken
        return table

    monkeypatch.setattr(engine_module, "analyzers", registry)


def _tree(tmp_path: Path) -> Path:
    (tmp_path / "bad.gguf").write_bytes(b.gguf({"general.name": "x"}))
    (tmp_path / "evil.pkl").write_bytes(b.call_pickle("os", "system", "id"))
    (tmp_path / "ok.npy").write_bytes(b.npy("<f4", (1,), b"\0" * 4))
    return tmp_path


def _segfault() -> None:
    ctypes.string_at(0)


def _stuck_in_c() -> None:
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGALRM})  # as deep in a C loop
    time.sleep(60)


def _memory() -> None:
    bytearray(64 << 30)


@pytest.mark.parametrize(
    ("behave", "message", "rule"),
    [
        (_segfault, "the analysis crashed (SIGSEGV)", "models/unreadable"),
        # a limit of the scan, not of the loader: what was not checked may run (high)
        (_stuck_in_c, "the analysis took longer than 2 s", "models/archive-limit"),
        (_memory, "analysis failed: MemoryError: ", "models/archive-limit"),
    ],
    ids=["segfault", "stuck", "memory"],
)
@pytest.mark.parametrize("jobs", [1, 2])
def test_one_bad_file_costs_only_itself(
    tmp_path: Path,
    scan: Scan,
    monkeypatch: pytest.MonkeyPatch,
    behave: Callable[[], object],
    message: str,
    rule: str,
    jobs: int,
) -> None:
    _with_gguf_analyzer(monkeypatch, behave)
    report = scan(_tree(tmp_path), jobs=jobs, limits=Limits(timeout=1.0, max_memory=8 << 30))
    assert [(os.path.basename(e.path), e.message) for e in report.errors] == [("bad.gguf", message)]
    assert imports(report) == {"os.system"}
    assert {os.path.basename(s.path) for s in report.scanned} == {"bad.gguf", "evil.pkl", "ok.npy"}
    unreadable = [f for f in report.findings if f.rule_id == rule]
    assert [os.path.basename(f.location.path) for f in unreadable] == ["bad.gguf"]


def test_deep_nesting_is_bounded(tmp_path: Path, scan: Scan) -> None:
    """Containers, pickles and configs nested far deeper than any recursion limit."""
    deep_list = b"\x80\x02" + b"]" * 200_000 + b"."
    keras = b.zip_bytes(
        {
            "config.json": b'{"a":' * 50_000 + b"1" + b"}" * 50_000,
            "metadata.json": b"{}",
        }
    )
    onnx = b"\x3a" + b"\x80\x80\x04"  # graph field claiming 64 KiB, then nothing
    (tmp_path / "deep.pkl").write_bytes(deep_list)
    (tmp_path / "deep.keras").write_bytes(keras)
    (tmp_path / "deep.onnx").write_bytes(onnx)
    report = scan(tmp_path, limits=Limits(timeout=20))
    assert {os.path.basename(s.path) for s in report.scanned} == {
        "deep.pkl",
        "deep.keras",
        "deep.onnx",
    }
    assert not [e for e in report.errors if "crashed" in e.message or "RecursionError" in e.message]


def test_shared_values_cost_what_they_cost_the_loader(tmp_path: Path, scan: Scan) -> None:
    """A 2 KB pickle whose call results share their arguments (x = partial(f, x, x), 60 times)
    and then key a dict: the loader hashes partial objects by identity, at once; hashing the
    arguments instead takes 2**60 steps. So does looking for command strings in them."""
    partial = b.global_op("functools", "partial") + b.global_op("builtins", "print")
    data = b"\x80\x02" + partial + b"\x85Rq\x00"
    for _ in range(60):
        data += partial + b"h\x00h\x00\x87Rq\x000"
    data += b"}h\x00K\x01s" + b.global_op("acme.tools", "run") + b"h\x00\x85R."
    (tmp_path / "dag.pkl").write_bytes(data)
    report = scan(tmp_path, limits=Limits(timeout=20))
    assert not report.errors, report.errors
    assert "acme.tools.run" in imports(report, "models/pickle-unallowed-call")


def test_ctrl_c_stops_at_once_with_130(tmp_path: Path) -> None:
    """The terminal sends SIGINT to the whole process group: the parent exits 130 within a
    second, the workers leave without a traceback, and nothing is written."""
    slow = b"\x80\x02" + b"N0" * (24 << 20) + b"N."  # 48 MB of opcodes: seconds to analyse
    for i in range(2):
        (tmp_path / f"slow{i}.pkl").write_bytes(slow)
    out = tmp_path / "report.json"
    proc = subprocess.Popen(
        [sys.executable, "-m", "mlstix", "scan", "models", str(tmp_path), "-j", "2",
         "--format", "json", "-o", str(out)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
    )  # fmt: skip
    time.sleep(2.5)
    assert proc.poll() is None, proc.communicate()
    os.killpg(proc.pid, signal.SIGINT)
    sent = time.monotonic()
    stdout, stderr = proc.communicate(timeout=10)
    elapsed = time.monotonic() - sent
    assert proc.returncode == 130, stderr
    assert elapsed < 1.0
    assert b"Traceback" not in stderr
    assert stdout == b""
    assert not out.exists()
    time.sleep(0.2)
    assert _session_members(proc.pid) == []  # no worker left behind


def _session_members(sid: int) -> list[int]:
    """Processes of session ``sid`` (field 6 of /proc/PID/stat), zombies excluded."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[-1].split()
        if fields[0] != "Z" and int(fields[3]) == sid:
            found.append(int(entry.name))
    return found


def test_report_survives_as_json(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Through the command line: the crashed file is an error, the JSON is whole, exit 2."""
    from click.testing import CliRunner

    from mlstix.cli.main import cli

    _with_gguf_analyzer(monkeypatch, _segfault)
    result = CliRunner().invoke(cli, ["scan", "models", str(_tree(tmp_path)), "--format", "json"])
    assert result.exit_code == 2
    doc = json.loads(result.stdout)
    assert [e["message"] for e in doc["errors"]] == ["the analysis crashed (SIGSEGV)"]
    assert any(f["severity"] == "critical" for f in doc["findings"])


def test_gguf_arrays_nested_without_end(tmp_path: Path, scan: Scan) -> None:
    """An array of arrays of arrays ... as deep as the file is long: bounded, an error."""
    import struct

    nested = struct.pack("<I", 9) + struct.pack("<IQ", 9, 1) * 50_000  # value type, then arrays
    data = b"GGUF" + struct.pack("<IQQ", 3, 0, 1) + struct.pack("<Q", 1) + b"k" + nested
    (tmp_path / "m.gguf").write_bytes(data)
    report = scan(tmp_path / "m.gguf")
    assert [e.message for e in report.errors] == [
        "GGUF metadata cannot be read: arrays nested more than 8 deep"
    ]
