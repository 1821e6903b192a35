"""Hand-built model files for the tests: pickles from raw opcodes, PyTorch archives written
byte by byte, NumPy, safetensors, GGUF, ONNX and SavedModel protobufs. Nothing here imports
torch, onnx or tensorflow, and nothing unpickles."""

from __future__ import annotations

import io
import json
import struct
import zipfile
import zlib
from pathlib import Path

# -- pickles ----------------------------------------------------------------------------------


def global_op(module: str, name: str) -> bytes:
    return b"c" + module.encode() + b"\n" + name.encode() + b"\n"


def unicode_op(text: str) -> bytes:
    data = text.encode()
    return b"\x8c" + bytes([len(data)]) + data  # SHORT_BINUNICODE


def call_pickle(module: str, name: str, arg: str, proto: int = 2) -> bytes:
    """``module.name(arg)`` as a protocol-``proto`` pickle using GLOBAL + REDUCE."""
    body = global_op(module, name) + b"(" + (b"V" + arg.encode() + b"\n") + b"tR."
    return (b"\x80" + bytes([proto]) if proto >= 2 else b"") + body


def stack_global_pickle(module: str, name: str, arg: str) -> bytes:
    """Protocol 4: module and name memoized, fetched back with BINGET, then STACK_GLOBAL."""
    return (
        b"\x80\x04"
        + unicode_op(module)
        + b"\x94"  # MEMOIZE -> 0
        + unicode_op(name)
        + b"\x94"  # MEMOIZE -> 1
        + b"0"
        + b"0"  # POP, POP
        + b"h\x00"
        + b"h\x01"  # BINGET 0, BINGET 1
        + b"\x93"  # STACK_GLOBAL
        + unicode_op(arg)
        + b"\x85"  # TUPLE1
        + b"R."
    )


def marker_payload(marker: Path) -> bytes:
    """A pickle that would create ``marker`` if anything unpickled it."""
    return call_pickle("os", "system", f"touch {marker}")


def exec_payload(marker: Path) -> bytes:
    return call_pickle("builtins", "exec", f"open({str(marker)!r}, 'w').close()")


def torch_state_pickle() -> bytes:
    """What ``torch.save({"weight": tensor})`` writes: an OrderedDict of a rebuilt tensor whose
    storage is a persistent id."""
    od = global_op("collections", "OrderedDict") + b")R"
    storage = (
        b"("
        + unicode_op("storage")
        + global_op("torch", "FloatStorage")
        + unicode_op("0")
        + unicode_op("cpu")
        + b"K\x04t"
        + b"Q"
    )
    args = b"(" + storage + b"K\x00" + b"K\x04\x85" + b"K\x01\x85" + b"\x89" + od + b"t"
    return (
        b"\x80\x02"
        + od
        + unicode_op("weight")
        + global_op("torch._utils", "_rebuild_tensor_v2")
        + args
        + b"R"
        + b"s."
    )


# -- PyTorch zip checkpoints ----------------------------------------------------------------


def torch_zip(pkl: bytes, top: str = "archive", extra: dict[str, bytes] | None = None) -> bytes:
    """A PyTorch-style checkpoint: ``<top>/data.pkl``, ``<top>/data/0``, version, byteorder."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as z:
        z.writestr(f"{top}/data.pkl", pkl)
        z.writestr(f"{top}/byteorder", b"little")
        z.writestr(f"{top}/data/0", b"\x00" * 16)
        z.writestr(f"{top}/version", b"3\n")
        for name, data in (extra or {}).items():
            z.writestr(f"{top}/{name}", data)
    return buf.getvalue()


def corrupt_crc(archive: bytes, member: str) -> bytes:
    """Flip the CRC of ``member`` in both headers: zipfile refuses it, PyTorch does not."""
    data = bytearray(archive)
    _patch_crc(data, member.encode(), b"PK\x03\x04", 14, 26, 30)
    _patch_crc(data, member.encode(), b"PK\x01\x02", 16, 28, 46)
    return bytes(data)


def _patch_crc(
    data: bytearray, name: bytes, sig: bytes, crc_at: int, nlen_at: int, name_at: int
) -> None:
    pos = data.find(sig)
    while pos >= 0:
        (nlen,) = struct.unpack("<H", data[pos + nlen_at : pos + nlen_at + 2])
        if bytes(data[pos + name_at : pos + name_at + nlen]) == name:
            (crc,) = struct.unpack("<I", data[pos + crc_at : pos + crc_at + 4])
            data[pos + crc_at : pos + crc_at + 4] = struct.pack("<I", crc ^ 0xFFFFFFFF)
        pos = data.find(sig, pos + 4)


def rename_local(archive: bytes, old: str, new: str) -> bytes:
    """Change ``old`` to ``new`` in the local header only (same length)."""
    assert len(old) == len(new)
    pos = archive.find(b"PK\x03\x04")
    data = bytearray(archive)
    while pos >= 0:
        (nlen,) = struct.unpack("<H", data[pos + 26 : pos + 28])
        if bytes(data[pos + 30 : pos + 30 + nlen]) == old.encode():
            data[pos + 30 : pos + 30 + nlen] = new.encode()
        pos = archive.find(b"PK\x03\x04", pos + 4)
    return bytes(data)


def zip_bytes(members: dict[str, bytes], deflate: bool = False) -> bytes:
    buf = io.BytesIO()
    method = zipfile.ZIP_DEFLATED if deflate else zipfile.ZIP_STORED
    with zipfile.ZipFile(buf, "w", method) as z:
        for name, data in members.items():
            z.writestr(name, data)
    return buf.getvalue()


# -- NumPy ----------------------------------------------------------------------------------


def npy(descr: str, shape: tuple[int, ...], payload: bytes) -> bytes:
    header = repr({"descr": descr, "fortran_order": False, "shape": shape}).encode()
    header += b" " * (63 - (len(header) + 10) % 64) + b"\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header + payload


# -- safetensors ------------------------------------------------------------------------------


def safetensors(tensors: dict[str, dict[str, object]], data: bytes) -> bytes:
    header = json.dumps(tensors).encode()
    return struct.pack("<Q", len(header)) + header + data


# -- GGUF -------------------------------------------------------------------------------------


def _gstr(s: str) -> bytes:
    b = s.encode()
    return struct.pack("<Q", len(b)) + b


def gguf(metadata: dict[str, str | int]) -> bytes:
    out = b"GGUF" + struct.pack("<IQQ", 3, 0, len(metadata))
    for key, value in metadata.items():
        out += _gstr(key)
        if isinstance(value, str):
            out += struct.pack("<I", 8) + _gstr(value)
        else:
            out += struct.pack("<I", 4) + struct.pack("<I", value)
    return out


# -- protobuf (ONNX, SavedModel) --------------------------------------------------------------


def _varint(n: int) -> bytes:
    out = b""
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out += bytes([b | 0x80])
        else:
            return out + bytes([b])


def pb_len(field: int, payload: bytes) -> bytes:
    return _varint(field << 3 | 2) + _varint(len(payload)) + payload


def pb_int(field: int, value: int) -> bytes:
    return _varint(field << 3) + _varint(value)


def onnx_model(
    nodes: list[tuple[str, str]],
    external: list[str] = (),
    raw: int = 0,  # type: ignore[assignment]
) -> bytes:
    """ModelProto with ``(op_type, domain)`` nodes and initializers with external locations."""
    graph = b""
    for op, domain in nodes:
        graph += pb_len(1, pb_len(4, op.encode()) + pb_len(7, domain.encode()))
    for loc in external:
        entry = pb_len(1, b"location") + pb_len(2, loc.encode())
        graph += pb_len(5, pb_len(8, b"w") + pb_len(13, entry) + pb_int(14, 1))
    if raw:
        graph += pb_len(5, pb_len(8, b"big") + pb_len(9, b"\x00" * raw))
    return pb_int(1, 8) + pb_len(2, b"pytorch") + pb_len(7, graph) + pb_len(8, pb_int(2, 17))


def saved_model(ops: list[str], function_ops: list[str] = ()) -> bytes:  # type: ignore[assignment]
    graph = b"".join(
        pb_len(1, pb_len(1, f"n{i}".encode()) + pb_len(2, op.encode())) for i, op in enumerate(ops)
    )
    if function_ops:
        fdef = b"".join(pb_len(3, pb_len(1, b"f") + pb_len(2, op.encode())) for op in function_ops)
        graph += pb_len(2, pb_len(1, fdef))
    meta = pb_len(2, graph)
    return pb_int(1, 1) + pb_len(2, meta)


def deflate_raw(data: bytes) -> bytes:
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    return c.compress(data) + c.flush()
