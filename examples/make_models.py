"""Write the example models that ``mlstix demo`` and the README scan.

    python examples/make_models.py [DEST]        # default: examples/models

DEST/safe-model/       a safetensors model with its config and a CycloneDX ML-BOM (unsigned)
DEST/malicious/        a PyTorch checkpoint whose pickle would call ``os.system`` on
                       ``torch.load`` (the command only echoes a line), and a joblib-style
                       pickle importing ``builtins.exec``

The files are written byte by byte (no torch, no pickling of live objects) and are
deterministic: running the script twice gives identical bytes. Nothing here ever loads them.
"""

from __future__ import annotations

import json
import struct
import sys
import zipfile
from pathlib import Path

_WHEN = (2026, 11, 26, 0, 0, 0)


def _global(module: str, name: str) -> bytes:
    return b"c" + module.encode() + b"\n" + name.encode() + b"\n"


def _str(text: str) -> bytes:
    data = text.encode()
    return b"\x8c" + bytes([len(data)]) + data


def _call(module: str, name: str, arg: str) -> bytes:
    """A protocol-2 pickle of ``module.name(arg)``."""
    return b"\x80\x02" + _global(module, name) + _str(arg) + b"\x85R."


def _safetensors() -> bytes:
    header = {
        "__metadata__": {"format": "pt"},
        "classifier.weight": {"dtype": "F32", "shape": [2, 4], "data_offsets": [0, 32]},
        "classifier.bias": {"dtype": "F32", "shape": [2], "data_offsets": [32, 40]},
    }
    raw = json.dumps(header, separators=(",", ":")).encode()
    raw += b" " * (-len(raw) % 8)
    data = struct.pack("<10f", 0.1, -0.2, 0.3, -0.4, 0.5, -0.6, 0.7, -0.8, 0.01, -0.01)
    return struct.pack("<Q", len(raw)) + raw + data


def _bom() -> str:
    bom = {
        "bomFormat": "CycloneDX",
        "specVersion": "1.6",
        "version": 1,
        "metadata": {"component": {"type": "machine-learning-model", "name": "safe-model"}},
        "components": [
            {"type": "file", "name": "model.safetensors"},
            {"type": "file", "name": "config.json"},
        ],
    }
    return json.dumps(bom, indent=2) + "\n"


def _checkpoint(pickle_bytes: bytes) -> bytes:
    import io

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as z:
        for name, data in (
            ("checkpoint/data.pkl", pickle_bytes),
            ("checkpoint/byteorder", b"little"),
            ("checkpoint/data/0", b"\x00" * 32),
            ("checkpoint/version", b"3\n"),
        ):
            z.writestr(zipfile.ZipInfo(name, _WHEN), data)
    return buf.getvalue()


def write_examples(dest: Path) -> list[Path]:
    safe = dest / "safe-model"
    bad = dest / "malicious"
    safe.mkdir(parents=True, exist_ok=True)
    bad.mkdir(parents=True, exist_ok=True)
    files = {
        safe / "model.safetensors": _safetensors(),
        safe / "config.json": json.dumps({"architectures": ["TinyClassifier"]}, indent=2) + "\n",
        safe / "model.cdx.json": _bom(),
        bad / "checkpoint.pt": _checkpoint(
            _call("os", "system", "echo this model runs code when torch.load opens it")
        ),
        bad / "pipeline.joblib": _call("builtins", "exec", "print('code ran on joblib.load')"),
    }
    for path, data in files.items():
        if isinstance(data, str):
            path.write_text(data, encoding="utf-8")
        else:
            path.write_bytes(data)
    return sorted(files)


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).parent / "models"
    for written in write_examples(target):
        print(written)
