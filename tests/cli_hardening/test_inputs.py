"""Every command that reads a file, against every hostile input in that slot.

A case passes when the command ends with a documented exit code, no traceback, and (when it
could not run) one ``error:`` line that names the input, or a report that lists it under its
errors. Where the command writes a report with ``-o``, a previous file there is left as it was
when the run fails, and replaced by a whole report when it runs.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.cli_hardening.conftest import IAC, Material, assert_clean, invoke

Args = Callable[[str, Material], list[str]]
BAD_NAMES = [
    "missing",
    "empty",
    "garbage",
    "hugeline",
    "deep",
    "badyaml",
    "folder",
    "emptyfolder",
    "loop",
    "dangling",
    "nonutf8",
]
FILES_OK = {"empty", "garbage", "hugeline", "deep", "badyaml", "folder", "nonutf8"}


@dataclass(frozen=True)
class Slot:
    """A command with one input slot: ``args(bad_path, material)``.

    ``codes``: exit codes by input name where a hostile input is still a valid one (default:
    exit 2); ``report``: the command takes ``-o FILE`` (and ``--format json`` unless
    ``json_flag`` is off); ``skip``: inputs the command would accept and then run for ever."""

    args: Args
    codes: dict[str, set[int]] = field(default_factory=dict)
    report: bool = False
    skip: frozenset[str] = frozenset()
    json_flag: bool = True  # takes --format json


def _same(names: set[str], codes: set[int]) -> dict[str, set[int]]:
    return dict.fromkeys(names, codes)


@pytest.fixture(scope="module")
def busy_port() -> Iterator[int]:
    """A loopback port already in use: a `serve` case that wrongly accepted its input ends
    with 'address already in use' (and fails here) instead of serving for ever."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


PORT = "{port}"

SLOTS: dict[str, Slot] = {
    "kb validate": Slot(lambda p, g: ["kb", "validate", p]),
    "scan models": Slot(
        lambda p, g: ["scan", "models", "-j", "1", p], codes={"garbage": {0}}, report=True
    ),
    "scan models --policy": Slot(
        lambda p, g: ["scan", "models", "-j", "1", str(g.model), "--policy", p],
        codes=_same({"empty", "nonutf8"}, {0}),
        report=True,
    ),
    "scan models --public-key": Slot(
        lambda p, g: ["scan", "models", "-j", "1", str(g.model), "--public-key", p], report=True
    ),
    "scan iac": Slot(lambda p, g: ["scan", "iac", "-j", "1", p], report=True),
    "scan iac --var-file": Slot(
        lambda p, g: [
            "scan",
            "iac",
            "-j",
            "1",
            str(IAC / "sagemaker.tf"),
            "--fail-on",
            "none",
            "--var-file",
            p,
        ],
        codes={"nonutf8": {0}},
        report=True,
    ),
    "sign --private-key": Slot(
        lambda p, g: [
            "sign",
            str(g.model),
            "--private-key",
            p,
            "--signature",
            str(g.work / "k.sig"),
        ]
    ),
    "sign MODEL": Slot(
        lambda p, g: [
            "sign",
            p,
            "--private-key",
            str(g.key),
            "--signature",
            str(g.work / "m.sig"),
        ],
        codes=_same(FILES_OK, {0}),
    ),
    "verify --signature": Slot(
        lambda p, g: ["verify", str(g.model), "--public-key", str(g.public), "--signature", p],
        codes=_same(FILES_OK - {"folder"} | {"loop", "dangling"}, {1, 2}),
    ),
    "verify --public-key": Slot(
        lambda p, g: [
            "verify",
            str(g.model),
            "--signature",
            str(g.signature),
            "--public-key",
            p,
        ]
    ),
    "verify --policy": Slot(
        lambda p, g: ["verify", str(g.model), "--signature", str(g.signature), "--policy", p]
    ),
    "verify MODEL": Slot(
        lambda p, g: ["verify", p, "--public-key", str(g.public)],
        codes=_same(FILES_OK | {"emptyfolder"}, {1}),
    ),
    "bom MODEL": Slot(
        lambda p, g: ["bom", p], codes=_same(FILES_OK, {0}), report=True, json_flag=False
    ),
    "bom --signature": Slot(
        lambda p, g: ["bom", str(g.model), "--signature", p],
        codes=_same(FILES_OK - {"folder"}, {0}),
        report=True,
        json_flag=False,
    ),
    "navigator --report": Slot(
        lambda p, g: ["navigator", "--report", p], report=True, json_flag=False
    ),
    "serve --config": Slot(
        lambda p, g: ["serve", "--port", PORT, "--db", f"sqlite:///{g.work}/s.db", "--config", p],
        skip=frozenset({"empty"}),  # an empty TOML file is a valid configuration
    ),
    "serve --certfile/--keyfile": Slot(
        lambda p, g: [
            "serve",
            "--port",
            PORT,
            "--db",
            f"sqlite:///{g.work}/s.db",
            "--certfile",
            p,
            "--keyfile",
            p,
        ]
    ),
    "publish FILE": Slot(
        lambda p, g: ["publish", p, "--to", "http://127.0.0.1:1/taxii2/", "--collection", "x"]
    ),
    "publish --cacert": Slot(
        lambda p, g: [
            "publish",
            str(g.bundle),
            "--to",
            "https://127.0.0.1:1/taxii2/",
            "--collection",
            "x",
            "--cacert",
            p,
        ]
    ),
    "assess kubernetes --kubeconfig": Slot(
        lambda p, g: ["assess", "kubernetes", "--kubeconfig", p], report=True
    ),
    "assess snapshot": Slot(lambda p, g: ["assess", "snapshot", p], report=True),
    "detect logs": Slot(
        lambda p, g: ["detect", "logs", "-j", "1", p], codes={"empty": {0}}, report=True
    ),
    "detect logs --rules": Slot(
        lambda p, g: ["detect", "logs", "-j", "1", str(g.work / "inference.jsonl"), "--rules", p],
        report=True,
    ),
    "detect export --rules": Slot(
        lambda p, g: ["detect", "export", "-t", "sigma", "-o", str(g.work / "exp"), "--rules", p]
    ),
    "detect inference": Slot(
        lambda p, g: ["detect", "inference", p], codes={"empty": {0}}, report=True
    ),
    "detect inference --access-log": Slot(
        lambda p, g: [
            "detect",
            "inference",
            str(g.work / "inference.jsonl"),
            "--client-key",
            "join:request_id=client",
            "--access-log",
            p,
        ],
        report=True,
    ),
    "benchmark assess REPORT": Slot(lambda p, g: ["benchmark", "assess", p], report=True),
    "benchmark assess --attest": Slot(
        lambda p, g: ["benchmark", "assess", "--attest", p], report=True
    ),
}


@pytest.fixture(scope="module")
def inference_log(good: Material) -> Path:
    path = good.work / "inference.jsonl"
    lines = (
        json.dumps(
            {
                "client": f"c{i % 3}",
                "time": f"2026-01-01T00:00:{i:02d}Z",
                "input": [i, i + 1],
                "output": i % 2,
            }
        )
        for i in range(30)
    )
    path.write_text("\n".join(lines) + "\n")
    return path


CASES = [(slot, name) for slot in SLOTS for name in BAD_NAMES if name not in SLOTS[slot].skip]


@pytest.mark.parametrize(("slot", "name"), CASES, ids=[f"{s} <- {n}" for s, n in CASES])
def test_bad_input(
    slot: str,
    name: str,
    bad: dict[str, Path],
    good: Material,
    inference_log: Path,
    busy_port: int,
    tmp_path: Path,
) -> None:
    if name not in bad:
        pytest.skip(f"this file system cannot hold a {name} file")
    spec = SLOTS[slot]
    path = str(bad[name])
    args = [a.replace(PORT, str(busy_port)) for a in spec.args(path, good)]
    previous = tmp_path / "report.json"
    if spec.report:
        previous.write_text("previous\n")
        args += ["--format", "json"] * spec.json_flag + ["-o", str(previous)]
    outcome = invoke(args)
    written = previous.read_text(errors="replace") if spec.report else ""
    assert_clean(outcome, spec.codes.get(name, {2}), names=bad[name].name, report=written)
    if not spec.report:
        return
    assert [p.name for p in tmp_path.iterdir()] == ["report.json"], "a temporary file was left"
    if outcome.code == 2 and outcome.error_lines:
        assert previous.read_text() == "previous\n", "a failed run replaced the previous report"
    else:
        json.loads(previous.read_text())  # a whole report
