"""Write the legacy PyTorch checkpoints of ``tests/scan_models/legacy/`` and record what the
real ``torch.load`` does with each (``EXPECTED.json``).

Every file starts from ``torch.save(..., _use_new_zipfile_serialization=False)`` and is then
changed where an attacker would change it: a payload in one of the five pickles
``torch.serialization._legacy_load`` reads, after the storage data, a protocol version torch
refuses, storage counts and keys that do not match the object. ``torch.load`` is run on each
with ``weights_only=False`` and a ``pickle_module`` whose unpickler records every name it is
asked to import and returns inert stand-ins (nothing in the files runs; torch's own storage
handling is real). Run it where torch is installed (not the project's venv)::

    /work/fixture-venv-b/bin/python tests/scan_models/legacy/make_legacy.py
"""

from __future__ import annotations

import io
import json
import pickle
import pickletools
import platform
import types
from pathlib import Path
from typing import Any

import torch

OUT = Path(__file__).parent
MAGIC = 0x1950A86A20F9469CFC6C


def _payload(command: str) -> bytes:
    """``os.system(command)`` left on the stack, then POP: a prefix for any pickle body."""
    return b"cos\nsystem\n(V" + command.encode() + b"\ntR0"


def _pickles(data: bytes) -> tuple[list[bytes], bytes]:
    """The five pickles of a legacy checkpoint and the storage data after them."""
    fp = io.BytesIO(data)
    out = []
    for _ in range(5):
        start = fp.tell()
        for _op in pickletools.genops(fp):
            pass
        out.append(data[start : fp.tell()])
    return out, data[fp.tell() :]


def _with_payload(pickled: bytes, command: str) -> bytes:
    """The same pickle with a payload run first (after its PROTO)."""
    assert pickled[:1] == b"\x80"
    return pickled[:2] + _payload(command) + pickled[2:]


class _Stub:
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        pass

    def __setstate__(self, state: Any) -> None:
        pass


def _recording_module(events: list[list[str]]) -> types.ModuleType:
    class Unpickler(pickle.Unpickler):
        def find_class(self, module: str, name: str) -> Any:
            events.append([module, name])
            if (module, name) in (("collections", "OrderedDict"),):
                return super().find_class(module, name)
            if module == "torch._utils" and name.startswith("_rebuild"):
                return super().find_class(module, name)
            return type(name, (_Stub,), {})

    module = types.ModuleType("recording_pickle")
    module.Unpickler = Unpickler  # type: ignore[attr-defined]
    module.load = lambda f, **kw: Unpickler(f, **kw).load()  # type: ignore[attr-defined]
    return module


def _torch_load(path: Path) -> dict[str, Any]:
    events: list[list[str]] = []
    try:
        torch.load(path, weights_only=False, pickle_module=_recording_module(events))
    except Exception as exc:  # every refusal of the real loader is data
        return {"ok": False, "error": f"{type(exc).__name__}: {exc}"[:200], "imports": events}
    return {"ok": True, "error": None, "imports": events}


def main() -> None:
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Linear(4, 2))
    base_path = OUT / "benign.pt"
    torch.save(model.state_dict(), base_path, _use_new_zipfile_serialization=False)
    base = base_path.read_bytes()
    pickles, storages = _pickles(base)
    first_count = storages[:8]

    def variant(name: str, parts: list[bytes], data: bytes = storages, tail: bytes = b"") -> None:
        (OUT / name).write_bytes(b"".join(parts) + data + tail)

    p = pickles
    variant("payload_in_sysinfo.pt", [p[0], p[1], _with_payload(p[2], "id"), p[3], p[4]])
    variant("payload_in_keys.pt", [p[0], p[1], p[2], p[3], _with_payload(p[4], "id")])
    variant("payload_in_magic.pt", [_with_payload(p[0], "id"), *p[1:]])
    variant("payload_after_storages.pt", p, tail=b"\x80\x02" + _payload("id") + b"N.")
    refused_version = pickle.dumps(1002, protocol=2)
    variant("refused_protocol.pt", [p[0], refused_version, p[2], _with_payload(p[3], "id"), p[4]])
    bad_count = (int.from_bytes(first_count, "little") + 1).to_bytes(8, "little")
    variant("wrong_storage_count.pt", p, data=bad_count + storages[8:])
    keys = pickle.loads(p[4])
    variant("unknown_storage_key.pt", [*p[:4], pickle.dumps([*keys, "999"], protocol=2)])
    variant("keys_not_a_list.pt", [*p[:4], pickle.dumps(7, protocol=2)])
    variant("truncated_storage.pt", p, data=storages[:-3])
    expected = {
        "generator": "tests/scan_models/legacy/make_legacy.py",
        "versions": {"torch": torch.__version__, "python": platform.python_version()},
        "files": {f.name: _torch_load(f) for f in sorted(OUT.glob("*.pt"))},
    }
    (OUT / "EXPECTED.json").write_text(json.dumps(expected, indent=2) + "\n")


if __name__ == "__main__":
    main()
