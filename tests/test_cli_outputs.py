"""Every command that writes, against outputs it cannot write; and Ctrl-C at the CLI edge.

Each failure must be one line ``error: cannot write PATH: reason``, exit 2, no traceback, and
no file left behind. The targets work as root too (CI runs as root, where permissions do not
stop a write): a folder, a missing parent folder, ``/proc`` (no new files there) and
``/dev/full`` (every write fails with ENOSPC).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from mlstix.cli.main import cli
from tests.keys import write_key

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "examples"
LINUX = sys.platform.startswith("linux")


def _file_commands(work: Path) -> dict[str, Callable[[str], list[str]]]:
    """Command name -> the arguments that write a single file to the given target."""
    key = write_key(work, "signer").private
    model = EXAMPLES / "models" / "safe-model"
    return {
        "scan models": lambda t: ["scan", "models", "-j", "1", str(model), "-o", t],
        "scan iac": lambda t: ["scan", "iac", "-j", "1", str(EXAMPLES / "iac"), "-o", t],
        "kb export": lambda t: ["kb", "export", "--format", "csv", "-o", t],
        "bom": lambda t: ["bom", str(model), "-o", t],
        "navigator": lambda t: ["navigator", "-o", t],
        "sign": lambda t: ["sign", str(model), "--private-key", str(key), "--signature", t],
    }


_FOLDER_COMMANDS: dict[str, Callable[[str], list[str]]] = {
    "kb site": lambda t: ["kb", "site", "--out", t],
    "kb build": lambda t: ["kb", "build", "--out", t],
}


def _bad_file_targets(work: Path) -> dict[str, str]:
    targets = {
        "a folder": str(work),
        "a missing parent folder": str(work / "missing" / "out.json"),
        "a file as parent folder": str(work / "signer.pem" / "out.json"),
    }
    if LINUX:
        targets |= {
            "/proc/x": "/proc/x/out.json",
            "read-only /proc": "/proc/self/mlstix-out.json",
            "/dev/full": "/dev/full",
        }
    return targets


def _snapshot(folder: Path) -> set[Path]:
    return set(folder.rglob("*"))


def _assert_clean_failure(code: int, output: str, target: str) -> None:
    assert code == 2, output
    assert "Traceback" not in output
    lines = [line for line in output.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, output
    assert lines[0].startswith(f"error: cannot write {target}: "), output


_FILE_COMMAND_NAMES = ["bom", "kb export", "navigator", "scan iac", "scan models", "sign"]


def test_the_writing_commands_are_all_here(tmp_path: Path) -> None:
    assert sorted(_file_commands(tmp_path)) == _FILE_COMMAND_NAMES


@pytest.mark.parametrize("command", _FILE_COMMAND_NAMES)
def test_file_outputs_that_cannot_be_written(command: str, tmp_path: Path) -> None:
    make = _file_commands(tmp_path)[command]
    runner = CliRunner()
    before = _snapshot(tmp_path)
    for label, target in _bad_file_targets(tmp_path).items():
        result = runner.invoke(cli, make(target), env={"COLUMNS": "200"})
        _assert_clean_failure(result.exit_code, result.output, target)
        assert _snapshot(tmp_path) == before, f"{command} to {label} left files behind"
    assert not (EXAMPLES / "models" / "safe-model" / "model.sig").exists()


@pytest.mark.parametrize("command", sorted(_FOLDER_COMMANDS))
def test_folder_outputs_that_cannot_be_written(command: str, tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("x")
    targets = {
        "a file": str(tmp_path / "a-file"),
        "a missing parent folder": str(tmp_path / "missing" / "site"),
    }
    if LINUX:
        targets["/proc"] = "/proc/self/mlstix-site"
    before = _snapshot(tmp_path)
    for label, target in targets.items():
        result = CliRunner().invoke(cli, _FOLDER_COMMANDS[command](target))
        _assert_clean_failure(result.exit_code, result.output, target)
        assert _snapshot(tmp_path) == before, f"{command} to {label} left files behind"


@pytest.mark.parametrize("command", ["navigator", "kb export", "scan iac"])
def test_written_output_is_announced(command: str, tmp_path: Path) -> None:
    target = tmp_path / "out.file"
    result = CliRunner().invoke(cli, _file_commands(tmp_path)[command](str(target)))
    assert result.exit_code in (0, 1), result.output
    assert f"wrote {target}" in result.stderr
    assert target.stat().st_size > 0
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_a_closed_stdout_is_not_a_traceback() -> None:
    """``mlstix kb graph | head -1``: the reader leaves; no traceback, no error line."""
    proc = subprocess.run(
        f"{sys.executable} -m mlstix kb graph --format dot | head -c 10",
        shell=True,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert proc.stdout.startswith("digraph")
    assert "Traceback" not in proc.stderr
    assert "error" not in proc.stderr


_SLOW_COMMAND = """
import time, click
from mlstix.cli import main

@click.command("slow")
def slow() -> None:
    print("started", flush=True)
    time.sleep(60)

main._COMMANDS["slow"] = lambda: slow
main.main()
"""


def _interrupt(
    args: list[str], wait_for: Callable[[subprocess.Popen[str]], bool]
) -> tuple[int, str, float]:
    proc = subprocess.Popen(
        args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO
    )
    try:
        deadline = time.monotonic() + 60
        while not wait_for(proc) and time.monotonic() < deadline:
            time.sleep(0.05)
        sent = time.monotonic()
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
        return proc.returncode, err, time.monotonic() - sent
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


@pytest.mark.skipif(os.name != "posix", reason="SIGINT delivery is POSIX")
def test_ctrl_c_exits_130_without_aborted_or_traceback() -> None:
    def started(proc: subprocess.Popen[str]) -> bool:
        assert proc.stdout is not None
        return proc.stdout.readline().strip() == "started"

    code, err, took = _interrupt([sys.executable, "-c", _SLOW_COMMAND, "slow"], started)
    assert code == 130, err
    assert "Aborted!" not in err
    assert "Traceback" not in err
    assert took < 2.0


def _cpu_seconds(pid: int) -> float:
    """CPU time of a process so far (Linux ``/proc``): past start-up, into the hashing."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@pytest.mark.skipif(not LINUX, reason="a sparse file and SIGINT: Linux")
def test_ctrl_c_while_signing_leaves_no_signature(tmp_path: Path) -> None:
    """Interrupted while hashing a large model: exit 130 promptly and no signature file."""
    model = tmp_path / "model"
    model.mkdir()
    for i in range(4):
        with (model / f"part-{i}.bin").open("wb") as fh:
            fh.truncate(1 << 30)  # sparse: hashing reads 1 GiB of zeros per file
    key = write_key(tmp_path, "signer").private
    args = [sys.executable, "-m", "mlstix", "sign", str(model), "--private-key", str(key)]
    code, err, took = _interrupt(args, lambda proc: _cpu_seconds(proc.pid) > 1.0)
    assert code == 130, err
    assert "Traceback" not in err
    assert took < 2.0
    assert sorted(p.name for p in model.iterdir()) == [f"part-{i}.bin" for i in range(4)]


def test_a_prompt_without_input_is_an_error_not_an_interrupt(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import click

    from mlstix.cli import main

    @click.command("ask")
    def ask() -> None:
        """Ask for a value."""
        click.prompt("value")

    monkeypatch.setitem(main._COMMANDS, "ask", lambda: ask)
    monkeypatch.setattr(main.cli, "commands", dict(main.cli.commands))
    result = CliRunner().invoke(main.cli, ["ask"], input="")
    assert result.exit_code == 2
    assert "error: input ended before a value was given" in result.output
    assert "Aborted!" not in result.output


@pytest.mark.skipif(not LINUX, reason="FIFOs and /dev/null: POSIX")
def test_special_files_are_written_in_place(tmp_path: Path) -> None:
    """A FIFO (or /dev/null) is written into, never renamed over (DESIGN.md, outputs)."""
    import threading

    fifo = tmp_path / "layer.fifo"
    os.mkfifo(fifo)
    received: list[bytes] = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_bytes()))
    reader.start()
    result = CliRunner().invoke(cli, ["navigator", "-o", str(fifo)])
    reader.join(timeout=30)
    assert result.exit_code == 0, result.output
    assert fifo.is_fifo()
    assert received and received[0].startswith(b"{")
    assert CliRunner().invoke(cli, ["navigator", "-o", "/dev/null"]).exit_code == 0
    assert Path("/dev/null").is_char_device()
