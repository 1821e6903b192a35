"""``mlstix scan models s3://... --state`` end to end against moto's S3: a rescan reports the
whole prefix with every payload while analysing only what changed, and a state that cannot be
used stops the command with one error line and exit 2, writing no report."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from . import registry, servers

pytest.importorskip("s3fs", reason="mlstix[remote] is not installed")
pytest.importorskip("moto.server", reason="moto[server] is not installed")


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    with servers.moto_s3() as url:
        client = servers.s3_client(url)
        client.create_bucket(Bucket="reg")
        files = {f"m/{i:02d}/model.safetensors": registry.safetensors(2, 1 << 12, b"%d" % i)
                 for i in range(6)}  # fmt: skip
        files["m/03/training_args.bin"] = registry.PAYLOAD
        files["m/05/pytorch_model.bin"] = registry.torch_zip(registry.PAYLOAD, 1 << 14)
        servers.put_all(client, "reg", files)
        yield url


def _cli(endpoint: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = servers.child_env(**{**servers.S3_ENV, "AWS_ENDPOINT_URL": endpoint})
    return subprocess.run(
        [sys.executable, "-m", "mlstix", "scan", "models", "s3://reg/m", *args],
        env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def _payloads(proc: subprocess.CompletedProcess[str]) -> set[str]:
    doc: dict[str, Any] = json.loads(proc.stdout)
    return {f["location"]["path"] for f in doc["findings"] if f["severity"] == "critical"}


def test_rescan_reports_the_whole_prefix(endpoint: str, tmp_path: Path) -> None:
    state = tmp_path / "state.db"
    first = _cli(endpoint, "--state", str(state), "--format", "json")
    assert first.returncode == 1, first.stderr
    servers.s3_client(endpoint).put_object(
        Bucket="reg", Key="m/00/model.safetensors", Body=registry.safetensors(2, 1 << 12, b"new")
    )
    again = _cli(endpoint, "--state", str(state), "--format", "json")
    assert again.returncode == 1, again.stderr
    assert "for 1 of 8 objects; 7 unchanged since the last scan" in again.stderr
    assert _payloads(again) == _payloads(first) == {
        "s3://reg/m/03/training_args.bin", "s3://reg/m/05/pytorch_model.bin"}  # fmt: skip
    scanned = [s["path"] for s in json.loads(again.stdout)["scanned"]]
    assert scanned == [s["path"] for s in json.loads(first.stdout)["scanned"]] and len(scanned) == 8


def _newer(db: Path) -> None:
    with sqlite3.connect(db) as conn:
        conn.execute("update mlstix_remote_scan_meta set value = '99'")


def _garbage(db: Path) -> None:
    data = bytearray(db.read_bytes())
    data[100:] = b"\xa5" * (len(data) - 100)  # the schema page and everything after it
    db.write_bytes(bytes(data))


@pytest.mark.parametrize(
    ("damage", "message"),
    [(_newer, "written by another mlstix"), (_garbage, "malformed"),
     (lambda db: db.write_text("not a database\n" * 200), "not a database")],
    ids=["newer-schema", "garbage", "text-file"],
)  # fmt: skip
def test_unusable_state_is_one_line_and_exit_2(
    endpoint: str, tmp_path: Path, damage: Any, message: str
) -> None:
    state = tmp_path / "state.db"
    assert _cli(endpoint, "--state", str(state), "--format", "json").returncode == 1
    damage(state)
    report = tmp_path / "report.json"
    proc = _cli(endpoint, "--state", str(state), "--format", "json", "-o", str(report))
    assert proc.returncode == 2 and proc.stdout == "" and not report.exists()
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and message in errors[0] and str(state) in errors[0], proc.stderr
    assert "Traceback" not in proc.stderr
