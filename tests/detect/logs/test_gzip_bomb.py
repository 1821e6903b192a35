"""`mlstix detect logs` on gzip bombs: the read streams, so memory stays bounded whatever the
decompressed size, and the 512 MiB cap is one error naming the file (exit 2, no traceback).

The CLI runs in a subprocess under an address-space limit (``RLIMIT_AS``). DuckDB and the
interpreter reserve ~1 GB of address space before reading anything, so the limit is 1300 MiB:
the reader this replaced held the whole decompressed document and died there with a
``MemoryError`` traceback (measured: 1.2 GB peak RSS unlimited); the streaming one peaks near
235 MiB RSS on the same 600 MiB document.
"""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
import zlib
from pathlib import Path

import pytest

from tests.detect.logs.conftest import event

resource = pytest.importorskip("resource", reason="RLIMIT_AS needs a POSIX system")

_LIMIT = 1300 << 20
_SPACES = 16 << 20  # one gzip member of blanks, repeated: the test builds 640 MiB from ~16 KB
_EVENT = event("aws", {"eventName": "PutObject", "eventSource": "s3.amazonaws.com"})


def _blanks() -> bytes:
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)
    return packer.compress(b" " * _SPACES) + packer.flush()


def _run(path: Path) -> subprocess.CompletedProcess[str]:
    def limit() -> None:  # runs in the child, before exec
        resource.setrlimit(resource.RLIMIT_AS, (_LIMIT, _LIMIT))

    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    return subprocess.run(
        [sys.executable, "-m", "mlstix", "detect", "logs", str(path), "--format", "json"],
        preexec_fn=limit,
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        check=False,
    )


@pytest.mark.parametrize(
    ("name", "head", "tail"),
    [
        ("CloudTrail.json.gz", b'{"Records": [' + json.dumps(_EVENT).encode() + b",", b"]}"),
        ("gcloud.json.gz", b"[" + json.dumps(_EVENT).encode() + b",", b"]"),
    ],
)
def test_a_gzip_bomb_is_one_error_naming_the_file_within_bounded_memory(
    tmp_path: Path, name: str, head: bytes, tail: bytes
) -> None:
    path = tmp_path / name
    # concatenated members, as gzip writes appended logs: 40 x 16 MiB of blanks inside the array
    path.write_bytes(gzip.compress(head) + _blanks() * 40 + gzip.compress(tail))
    assert path.stat().st_size < 2 << 20
    done = _run(path)
    assert "Traceback" not in done.stderr and "MemoryError" not in done.stderr, done.stderr
    assert done.returncode == 2, done.stderr
    report = json.loads(done.stdout)
    assert report["errors"] == [
        {"path": str(path), "message": f"larger than {512 << 20} bytes decompressed; not read"}
    ]
    assert report["findings"] == []
    assert "1 file could not be scanned in full" in done.stderr


def test_a_large_document_of_concatenated_members_is_read_past_duckdbs_limit(
    tmp_path: Path,
) -> None:
    """Under the cap but over what DuckDB reads whole: the streaming reader reads every record,
    across member boundaries, without an error."""
    path = tmp_path / "CloudTrail.json.gz"
    head = b'{"Records": [' + json.dumps(_EVENT).encode() + b","
    tail = json.dumps(_EVENT).encode() + b"]}"
    path.write_bytes(gzip.compress(head) + _blanks() * 6 + gzip.compress(tail))
    done = _run(path)
    assert "Traceback" not in done.stderr, done.stderr
    report = json.loads(done.stdout)
    assert report["errors"] == [], report["errors"]
    assert [s["path"] for s in report["scanned"]] == [str(path)]


def test_a_gzip_bomb_of_zeros_in_json_lines_is_one_error_for_its_line(tmp_path: Path) -> None:
    """640 MiB of NUL bytes after a first event: line 2 is refused at the line limit, the event
    before it is still read, and the file is not inflated further."""
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)
    zeros = packer.compress(b"\0" * _SPACES) + packer.flush()
    path = tmp_path / "audit.jsonl.gz"
    path.write_bytes(gzip.compress((json.dumps(_EVENT) + "\n").encode()) + zeros * 40)
    done = _run(path)
    assert "Traceback" not in done.stderr and "MemoryError" not in done.stderr, done.stderr
    assert done.returncode == 2, done.stderr
    report = json.loads(done.stdout)
    assert report["errors"] == [
        {"path": str(path), "message": f"line 2: longer than {64 << 20} bytes; not read"}
    ]
    assert [s["path"] for s in report["scanned"]] == [str(path)]
