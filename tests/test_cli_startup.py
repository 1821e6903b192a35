"""The ``mlstix`` process: what it skips at start-up and at exit, and that nothing it skips is
missed. Start-up imports neither :mod:`logging` (library records are still one line each once
something imports it) nor :mod:`tempfile` (the atomic writer makes its own temporary file);
garbage collection is off while modules are imported and on again after; and a command that
has written everything (``detect inference``) ends without the interpreter's teardown, yet with
its exit code, its atexit handlers run, stdout complete, and the ordinary exit whenever
another thread is still running."""

from __future__ import annotations

import gc
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from mlstix import _io
from mlstix.errors import OutputError

REPO = Path(__file__).resolve().parents[1]


def _python(code: str, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=REPO,
    )


def _capture(path: Path, count: int = 300) -> Path:
    lines = []
    for i in range(count):
        values = ",".join(str((i * 7 + j) % 11 / 10) for j in range(4))
        capture = {
            "endpointInput": {"data": values, "encoding": "CSV", "mode": "INPUT"},
            "endpointOutput": {"data": str(i % 3), "encoding": "CSV", "mode": "OUTPUT"},
        }
        meta = {"inferenceId": f"c{i % 5}:{i}", "inferenceTime": "2026-12-01T00:00:00Z"}
        lines.append(json.dumps({"captureData": capture, "eventMetadata": meta}))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


# a module-level object whose finaliser runs only in the interpreter's teardown, an atexit
# handler, and optionally a thread still running when the command exits
_RUN = """
import atexit, os, sys, threading, time

class Teardown:
    def __del__(self):
        sys.stderr.write("teardown ran\\n")

held = Teardown()
atexit.register(lambda: sys.stderr.write("atexit ran\\n"))
if sys.argv[1] == "thread":  # still running when the report is written
    def late():
        while not os.path.exists(os.environ["REPORT"]):
            time.sleep(0.01)
        time.sleep(0.3)
        sys.stderr.write("thread finished\\n")
    threading.Thread(target=late).start()
sys.argv = ["mlstix", *sys.argv[2:]]
from mlstix.cli.main import main
main()
"""


@pytest.fixture(scope="module")
def capture(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _capture(tmp_path_factory.mktemp("startup") / "capture.jsonl")


def _inference(capture: Path, *extra: str) -> list[str]:
    return ["detect", "inference", str(capture), "--client-key", "inference-id-prefix::",
            "--warmup", "100", *extra]  # fmt: skip


def test_detect_inference_ends_without_teardown_but_with_everything_else(capture: Path) -> None:
    done = _python(_RUN, "plain", *_inference(capture, "--format", "json", "-o", "-"))
    report = json.loads(done.stdout)  # stdout complete: flushed before the process ended
    assert report["scanned"][0]["kind"] == "sagemaker-data-capture"
    assert "atexit ran" in done.stderr
    assert "teardown ran" not in done.stderr  # the interpreter's teardown was skipped
    assert "Traceback" not in done.stderr
    expected = 1 if any(f["severity"] in ("high", "critical") for f in report["findings"]) else 0
    assert done.returncode == expected
    # the same with --fail-on none: the exit code is the command's, not a constant
    again = _python(_RUN, "plain", *_inference(capture, "--format", "json", "--fail-on", "none"))
    assert again.returncode == 0 and "atexit ran" in again.stderr


def test_a_thread_still_running_gets_the_ordinary_exit(capture: Path, tmp_path: Path) -> None:
    out = tmp_path / "report.json"
    arguments = _inference(capture, "--format", "json", "-o", str(out))
    done = _python(_RUN, "thread", *arguments, REPORT=str(out))
    assert done.returncode in (0, 1), done.stderr
    assert "thread finished" in done.stderr  # not cut short
    assert "teardown ran" in done.stderr and "atexit ran" in done.stderr
    assert json.loads(out.read_text(encoding="utf-8"))["findings"] is not None


def test_other_commands_keep_the_ordinary_exit() -> None:
    done = _python(_RUN, "plain", "rules", "list")
    assert done.returncode == 0, done.stderr
    assert "teardown ran" in done.stderr and "atexit ran" in done.stderr


def test_exit_2_is_kept_both_ways(tmp_path: Path) -> None:
    log = tmp_path / "bad.jsonl"
    log.write_text("not json\n", encoding="utf-8")
    out = tmp_path / "report.json"
    written = _python(_RUN, "plain", "detect", "inference", str(log), "-o", str(out))
    assert written.returncode == 2  # the report lists the line it could not read
    assert "teardown ran" not in written.stderr and "atexit ran" in written.stderr
    assert json.loads(out.read_text(encoding="utf-8"))["errors"]
    refused = _python(_RUN, "plain", "detect", "inference", str(log), "-o", str(tmp_path))
    assert refused.returncode == 2 and "is a directory" in refused.stderr
    assert "Traceback" not in refused.stderr
    assert "teardown ran" in refused.stderr  # no report written: the ordinary exit


_LOGGING = """
import sys, click
from mlstix.cli import main

@click.command("noisy")
def noisy() -> None:
    assert "logging" not in sys.modules, "logging was imported before the command"
    import importlib.util
    assert importlib.util.find_spec("logging") is not None  # asked for, not loaded
    import logging
    assert not any(type(f).__name__ == "_WhenLoggingLoads" for f in sys.meta_path)
    from importlib.machinery import SourceFileLoader
    assert isinstance(logging.__loader__, SourceFileLoader), logging.__loader__
    assert isinstance(logging.__spec__.loader, SourceFileLoader)
    logging.getLogger("somelib").error("library failure\\nwith a second line")
    logging.getLogger("mlstix.x").warning("our warning\\nsecond line")
    import importlib
    importlib.reload(logging)  # a second load is watched no more, and does not fail

main._COMMANDS["noisy"] = lambda: noisy
sys.argv = ["mlstix", "noisy"]
main.main()
"""


def test_library_records_are_one_line_when_logging_is_imported_late() -> None:
    done = _python(_LOGGING)
    assert done.returncode == 0, done.stderr
    assert done.stderr == "warning: our warning\n"


def test_collection_is_back_on_after_the_imports() -> None:
    done = _python(
        "import gc, sys\n"
        "import mlstix.cli.main\n"
        "from mlstix.cli import _process\n"
        "print(gc.isenabled())\n"
        "with _process.collector_off():\n"
        "    inner = gc.isenabled()\n"
        "print(inner, gc.isenabled(), gc.get_freeze_count())\n"  # not the mlstix process
        "gc.disable()\n"  # a program that turned it off itself keeps it off
        "with _process.collector_off():\n"
        "    pass\n"
        "print(gc.isenabled())\n"
    )
    assert done.stdout.split() == ["True", "False", "True", "0", "False"], done.stderr
    assert gc.isenabled()


def test_the_mlstix_process_freezes_what_its_imports_made(capture: Path) -> None:
    """In the process main() runs, the objects the imports made are out of the collector's
    sight (the first collection after the imports walked them all); the report is the one an
    in-process run writes."""
    look = (
        "import atexit, gc, sys\n"
        "atexit.register(lambda: sys.stderr.write(f'frozen {gc.get_freeze_count()}\\n'))\n"
        "sys.argv = ['mlstix', *sys.argv[1:]]\n"
        "from mlstix.cli.main import main\n"
        "main()\n"
    )
    done = _python(look, *_inference(capture, "--format", "json", "-o", "-"))
    frozen = int(done.stderr.split("frozen ")[1].split()[0])
    assert frozen > 10_000, done.stderr  # NumPy's and the detectors' objects among them
    from click.testing import CliRunner

    from mlstix.cli.main import cli

    before = gc.get_freeze_count()
    inside = CliRunner().invoke(cli, _inference(capture, "--format", "json"))
    # a program that imported mlstix: nothing frozen (what other code froze may be freed)
    assert gc.get_freeze_count() <= before
    assert json.loads(inside.stdout) == json.loads(done.stdout)


def test_the_temporary_file_is_new_and_ours(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "report.json"
    draws = iter([b"\x01" * 6, b"\x01" * 6, b"\x02" * 6])
    monkeypatch.setattr(os, "urandom", lambda n: next(draws))
    taken = tmp_path / f".report.json.{'01' * 6}.tmp"
    taken.write_text("someone else's", encoding="utf-8")
    _io.write_output(str(target), '{"a": 1}')
    assert target.read_text(encoding="utf-8") == '{"a": 1}'
    assert taken.read_text(encoding="utf-8") == "someone else's"  # a clash is skipped, not reused
    assert sorted(p.name for p in tmp_path.iterdir()) == [taken.name, "report.json"]
    assert target.stat().st_mode & 0o777 == 0o644


def test_a_link_in_the_temporary_files_place_is_not_followed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    victim = tmp_path / "victim"
    victim.write_text("keep", encoding="utf-8")
    monkeypatch.setattr(os, "urandom", lambda n: b"\x07" * n)
    (tmp_path / f".report.json.{'07' * 6}.tmp").symlink_to(victim)
    with pytest.raises(OutputError, match="no free name"):
        _io.write_output(str(tmp_path / "report.json"), "x")
    assert victim.read_text(encoding="utf-8") == "keep"
    assert not (tmp_path / "report.json").exists()


def test_a_program_that_ran_main_freezes_nothing_afterwards(
    capture: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """main() run in-process (a wrapper or a test catching SystemExit) leaves the collector as
    it found it: later commands run through click freeze nothing (they froze every object of
    the program, for good)."""
    from click.testing import CliRunner

    from mlstix.cli.main import cli, main

    monkeypatch.setattr(sys, "argv", ["mlstix", "--version"])
    with pytest.raises(SystemExit):
        main()
    after = gc.get_freeze_count()  # (main unfreezes all at its end: 0, unless others froze)
    CliRunner().invoke(cli, _inference(capture, "--format", "json"))
    assert gc.get_freeze_count() <= after
