"""Native code shipped with a model: ELF, Mach-O and PE executables and shared libraries.

Some loaders take native code from the model itself and run it: an AOTInductor package
(``.pt2`` with ``data/aotinductor/**.so``) is ``dlopen``-ed by
``torch._inductor.aoti_load_package``, custom operator libraries by ``torch.ops.load_library``
or ONNX Runtime's ``register_custom_ops_library``, and a Triton repository may ship its own
``triton_python_backend_stub``. Loading a shared library runs its initialisers, so the file is
reported as code the model ships (it is never loaded or disassembled here).

Reference: the ELF header (``e_ident``, ``e_type``), Mach-O ``mach_header`` magics, and the PE
``MZ``/``PE\\0\\0`` signatures.
"""

from __future__ import annotations

import struct

from mlstix.scan.models._context import Context, Source

__all__ = ["analyze_native", "native_kind"]

_ELF_TYPES = {2: "executable", 3: "shared library"}
_MACHO = (b"\xfe\xed\xfa\xce", b"\xfe\xed\xfa\xcf", b"\xce\xfa\xed\xfe", b"\xcf\xfa\xed\xfe")


def native_kind(head: bytes) -> str | None:
    """What native file ``head`` starts, if any."""
    if head[:4] == b"\x7fELF" and len(head) >= 18:
        order = "<" if head[5] == 1 else ">"
        return f"ELF {_ELF_TYPES.get(struct.unpack(order + 'H', head[16:18])[0], 'object')}"
    if head[:4] in _MACHO:
        return "Mach-O binary"
    if head[:2] == b"MZ" and len(head) >= 64:
        at = struct.unpack("<I", head[60:64])[0]
        if head[at : at + 4] == b"PE\x00\x00":
            return "PE (Windows) binary"
    return None


def analyze_native(src: Source, ctx: Context) -> str:
    what = native_kind(src.head(4096)) or "native binary"
    ctx.hit(
        "models/shipped-python-code",
        f"{src.name} is an {what} shipped with the model: loaders that take native code from "
        "the model (AOTInductor's aoti_load_package, torch.ops.load_library, ONNX Runtime "
        "custom-op libraries) run its initialisers when they load it",
        src,
        reference=src.member or src.name,
        binary=what,
    )
    return "native-code"
