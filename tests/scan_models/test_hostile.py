"""Hostile input: seeded random corruption of every format never crashes an analyzer (the
per-file safety net, "analysis failed", must not be what catches it) and never hangs."""

from __future__ import annotations

import json
import random
import time
from pathlib import Path

import pytest

from mlstix.scan.models._context import Limits
from mlstix.scan.models._walk import Target
from mlstix.scan.models.engine import scan_file

from . import builders as b

SAMPLES = {
    "pickle.pkl": b.torch_state_pickle() + b.call_pickle("os", "system", "x"),
    "proto0.pkl": b"(dp0\nVa\np1\nccollections\nOrderedDict\np2\n(tRp3\ns.",
    "model.pt": b.torch_zip(b.torch_state_pickle()),
    "deflated.zip": b.zip_bytes({"a/data.pkl": b.torch_state_pickle(), "b.npy": b.npy(
        "|O", (1,), b.call_pickle("os", "system", "x"))}, deflate=True),
    "arr.npy": b.npy("<f4", (4,), b"\0" * 16),
    "m.safetensors": b.safetensors({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}},
                                   b"\0" * 8),
    "m.gguf": b.gguf({"general.architecture": "llama", "tokenizer.chat_template": "{{ x }}"}),
    "m.onnx": b.onnx_model([("Conv", ""), ("X", "custom")], external=["w.bin"]),
    "saved_model.pb": b.saved_model(["MatMul", "ReadFile"], ["PyFunc"]),
    "m.keras": b.zip_bytes({"config.json": json.dumps({"class_name": "Lambda"}).encode(),
                            "metadata.json": b"{}"}),
}  # fmt: skip


def _mutations(data: bytes, rng: random.Random, count: int) -> list[bytes]:
    out = [data[: rng.randrange(1, len(data))] for _ in range(count // 4)]  # truncations
    for _ in range(count - len(out)):
        buf = bytearray(data)
        for _ in range(rng.randrange(1, 6)):
            pos = rng.randrange(len(buf))
            buf[pos] = rng.randrange(256) if rng.random() < 0.7 else buf[pos] ^ 0x80
        out.append(bytes(buf))
    return out


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_corrupted_files_never_crash_an_analyzer(tmp_path: Path, name: str) -> None:
    rng = random.Random(f"mlstix-{name}")
    path = tmp_path / name
    for i, data in enumerate(_mutations(SAMPLES[name], rng, 60)):
        path.write_bytes(data)
        target = Target(str(path), str(path), str(tmp_path), len(data))
        start = time.perf_counter()
        result = scan_file(target, (), Limits())
        assert time.perf_counter() - start < 5, f"mutation {i} took too long"
        assert result.error is None or not result.error.startswith("analysis failed"), (
            f"mutation {i} of {name}: {result.error}"
        )
