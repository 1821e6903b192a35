"""Every command that writes, against outputs it cannot write, and outputs it must not write.

``tests/test_cli_outputs.py`` covers six file writers and two folder writers against folders,
missing parents, ``/proc`` and ``/dev/full``; this sweep adds the other writers, an output that
is one of the command's own inputs, and a real write failure on a regular file with a previous
version in place (the process's file-size limit makes every write past 1 KiB fail with
EFBIG, as a full disk fails with ENOSPC): the previous file must be left as it was.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.cli_hardening.conftest import IAC, Material, assert_clean, invoke, shown

LINUX = sys.platform.startswith("linux")
Writer = Callable[[str, Material], list[str]]

WRITERS: dict[str, Writer] = {
    "scan iac -o": lambda t, g: ["scan", "iac", "-j", "1", str(IAC), "-o", t],
    "detect logs -o": lambda t, g: ["detect", "logs", "-j", "1", str(g.bundle), "-o", t],
    "detect inference -o": lambda t, g: ["detect", "inference", str(g.bundle), "-o", t],
    "benchmark export -o": lambda t, g: ["benchmark", "export", "--format", "csv", "-o", t],
    "benchmark assess -o": lambda t, g: ["benchmark", "assess", str(g.work / "iac.json"), "-o", t],
    "kb export xlsx -o": lambda t, g: ["kb", "export", "--format", "xlsx", "-o", t],
}
FOLDER_WRITERS: dict[str, Writer] = {
    "detect export -o": lambda t, g: ["detect", "export", "-t", "splunk", "-o", t],
    "assess --snapshot-out": lambda t, g: [
        "assess",
        "aws",
        "--region",
        "us-east-1",
        "--snapshot-out",
        t,
    ],
}


def _targets(work: Path) -> dict[str, str]:
    targets = {
        "a folder": str(work),
        "a missing parent folder": str(work / "missing" / "out"),
        "a file as parent folder": str(work / "signer.pem" / "out"),
        "a non-UTF-8 name in a missing folder": os.fsdecode(os.fsencode(work) + b"/n\xff/o"),
    }
    if LINUX:
        targets["/proc/self (no new files)"] = "/proc/self/mlstix-out"
    return targets


@pytest.fixture(scope="module")
def report(good: Material) -> Path:
    path = good.work / "iac.json"
    outcome = invoke(["scan", "iac", "-j", "1", str(IAC), "--format", "json", "-o", str(path)])
    assert outcome.code in (0, 1), outcome
    return path


TARGET_NAMES = list(_targets(Path("/x")))


@pytest.mark.parametrize("target", TARGET_NAMES)
@pytest.mark.parametrize("command", sorted(WRITERS))
def test_file_writer_refuses(command: str, target: str, good: Material, report: Path) -> None:
    del report  # (made for `benchmark assess`)
    path = _targets(good.work)[target]
    outcome = invoke(WRITERS[command](path, good))
    assert_clean(outcome, {2})
    assert outcome.error_lines[0].startswith(f"error: cannot write {shown(path)}"), outcome


@pytest.mark.parametrize("target", TARGET_NAMES)
@pytest.mark.parametrize("command", sorted(FOLDER_WRITERS))
def test_folder_writer_refuses(command: str, target: str, good: Material) -> None:
    path = _targets(good.work)[target]
    if target == "a folder":
        path = str(good.work / "signer.pem")  # a file where a folder should be
    outcome = invoke(FOLDER_WRITERS[command](path, good))
    assert_clean(outcome, {2})
    assert "Traceback" not in outcome.err


def test_report_never_replaces_a_file_it_read(good: Material, tmp_path: Path) -> None:
    """``-o`` naming one of the scanned files: refused, the file left as it was."""
    model = tmp_path / "weights.safetensors"
    model.write_bytes((good.model / "model.safetensors").read_bytes())
    before = model.read_bytes()
    for args in (
        ["scan", "models", "-j", "1", str(model), "-o", str(model)],
        ["scan", "models", "-j", "1", str(tmp_path), "-o", str(model)],
    ):
        outcome = invoke(args)
        assert_clean(outcome, {2}, names=model.name)
        assert "one of the files read" in outcome.err
        assert model.read_bytes() == before
    tf = tmp_path / "main.tf"
    tf.write_text((IAC / "sagemaker.tf").read_text())
    outcome = invoke(["scan", "iac", "-j", "1", str(tmp_path), "-o", str(tf)])
    assert_clean(outcome, {2}, names=tf.name)
    assert tf.read_text() == (IAC / "sagemaker.tf").read_text()


def test_signature_never_replaces_a_file_of_the_model(good: Material, tmp_path: Path) -> None:
    model = tmp_path / "model"
    model.mkdir()
    for item in good.model.iterdir():
        (model / item.name).write_bytes(item.read_bytes())
    config = model / "config.json"
    before = config.read_bytes()
    for target in (config, model / "model.safetensors"):
        outcome = invoke(["sign", str(model), "--private-key", str(good.key),
                          "--signature", str(target)])  # fmt: skip
        assert_clean(outcome, {2}, names=target.name)
        assert "not a signature" in outcome.err
    assert config.read_bytes() == before
    for target in (model / "model.sig", model / "model.sig", tmp_path / "other.json"):
        outcome = invoke(["sign", str(model), "--private-key", str(good.key),
                          "--signature", str(target)])  # fmt: skip
        assert outcome.code == 0, outcome  # a new or earlier signature is replaced
    outcome = invoke(["sign", str(model), "--private-key", str(good.key),
                      "--signature", str(tmp_path / "other.json")])  # fmt: skip
    assert outcome.code == 0, outcome


# --- a write that fails on a regular file, with the previous version in place ----------------

_LIMITED: dict[str, Writer] = {
    "scan models -o": lambda t, g: [
        "scan",
        "models",
        "-j",
        "1",
        str(g.model),
        "--format",
        "json",
        "-o",
        t,
    ],
    "kb export -o": lambda t, g: ["kb", "export", "--format", "csv", "-o", t],
    "sign --signature": lambda t, g: [
        "sign",
        str(g.model),
        "--private-key",
        str(g.key),
        "--signature",
        t,
    ],
}


def _limit_file_size() -> None:
    resource.setrlimit(resource.RLIMIT_FSIZE, (1024, resource.RLIM_INFINITY))


@pytest.mark.skipif(not LINUX, reason="RLIMIT_FSIZE and EFBIG as on Linux")
@pytest.mark.parametrize("command", sorted(_LIMITED))
def test_failed_write_keeps_the_previous_file(command: str, good: Material, tmp_path: Path) -> None:
    target = tmp_path / "out.file"
    target.write_bytes(b"previous version\n")
    args = _LIMITED[command](str(target), good)
    proc = subprocess.run(
        [sys.executable, "-m", "mlstix.cli", *args],
        capture_output=True,
        text=True,
        timeout=120,
        preexec_fn=_limit_file_size,  # a limit set before exec
        check=False,
    )
    lines = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    assert lines == [f"error: cannot write {target}: file too large"], proc.stderr
    assert target.read_bytes() == b"previous version\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.file"]


def test_output_through_a_symbolic_link(good: Material, tmp_path: Path) -> None:
    """``-o latest.json`` where latest.json links to the real file: the file it leads to is
    replaced (atomically, beside itself) and the link stays a link; a link into a missing
    folder is refused before any work."""
    real = tmp_path / "reports" / "2026-12.json"
    real.parent.mkdir()
    real.write_text("old\n")
    link = tmp_path / "latest.json"
    link.symlink_to(real)
    outcome = invoke(["navigator", "-o", str(link)])
    assert outcome.code == 0, outcome
    assert link.is_symlink() and real.read_text().startswith("{")
    assert sorted(p.name for p in real.parent.iterdir()) == ["2026-12.json"]
    dangling = tmp_path / "dangling.json"
    dangling.symlink_to(tmp_path / "gone" / "x.json")
    outcome = invoke(["scan", "models", "-j", "1", str(good.model), "-o", str(dangling)])
    assert_clean(outcome, {2}, names="gone")
    assert "does not exist" in outcome.err
