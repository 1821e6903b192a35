"""A small model registry for the remote scan tests and benchmark: benign files in every format
the scanner reads, and hostile ones whose payload sits where only a complete reader finds it
(after megabytes of tensor data, behind a pickle, in a zip's central directory)."""

from __future__ import annotations

import io
import json
import random
import struct
import zipfile

from tests.scan_models import builders as b

PAYLOAD = b.call_pickle("os", "system", "id")
MiB = 1 << 20


def safetensors(tensors: int = 4, each: int = MiB, seed: bytes = b"") -> bytes:
    """A safetensors shard whose header indexes every data byte."""
    header = {
        f"layer.{i}.weight": {
            "dtype": "F32",
            "shape": [each // 4],
            "data_offsets": [i * each, (i + 1) * each],
        }
        for i in range(tensors)
    }
    header["__metadata__"] = {"format": "pt", "seed": seed.hex()}
    raw = json.dumps(header).encode()
    raw += b" " * (-len(raw) % 8)
    return struct.pack("<Q", len(raw)) + raw + _noise(tensors * each, seed)


def _noise(n: int, seed: bytes) -> bytes:
    """Tensor-like bytes: pseudo-random, repeatable."""
    block = random.Random(seed).randbytes(1 << 16)
    return (block * (n // len(block) + 1))[:n]


def torch_zip(pickled: bytes, data: int = 2 * MiB, *, payload_last: bool = False) -> bytes:
    """A PyTorch zip checkpoint; with ``payload_last`` its data.pkl comes after the tensors."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as z:
        if not payload_last:
            z.writestr("archive/data.pkl", pickled)
        z.writestr("archive/byteorder", b"little")
        z.writestr("archive/data/0", _noise(data, b"t"))
        z.writestr("archive/version", b"3\n")
        if payload_last:
            z.writestr("archive/data.pkl", pickled)
    return buf.getvalue()


def benign_pickle() -> bytes:
    return b.torch_state_pickle()


def gguf(size: int = 2 * MiB, template: str = "{{ messages }}") -> bytes:
    head = b.gguf({"general.name": "demo", "tokenizer.chat_template": template})
    return head + _noise(size, b"g")


def hostile() -> dict[str, bytes]:
    """name -> bytes; every one holds ``os.system`` where some loader reads it."""
    big_zip_behind_pickle = PAYLOAD + b.zip_bytes(
        {"x/data.pkl": PAYLOAD, "x/data/0": _noise(3 * MiB, b"z")}
    )
    tail_zip = safetensors(2, MiB) + b.zip_bytes({"archive/data.pkl": PAYLOAD})
    return {
        "evil_last_member.pt": torch_zip(PAYLOAD, 3 * MiB, payload_last=True),
        "evil_first_member.pt": torch_zip(PAYLOAD, 3 * MiB),
        "polyglot.pkl": big_zip_behind_pickle,
        "pickle_before.gguf": PAYLOAD + gguf(2 * MiB),
        "zip_after_tensors.safetensors": tail_zip,
        "plain.pkl": PAYLOAD + bytes(16),  # junk after STOP that pickle.load ignores; fixed: a
        # random tail sometimes made a second stream the scanner (rightly) calls malformed
    }


def benign() -> dict[str, bytes]:
    return {
        "model-00001-of-00002.safetensors": safetensors(4, MiB, b"1"),
        "model-00002-of-00002.safetensors": safetensors(3, MiB, b"2"),
        "model.gguf": gguf(3 * MiB),
        "weights.pt": torch_zip(benign_pickle(), 3 * MiB),
        "config.json": json.dumps({"architectures": ["Demo"]}).encode(),
    }
