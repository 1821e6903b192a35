"""Benchmark: ``mlstix scan models`` against ``modelscan`` and ``picklescan`` on one corpus.

Generates a mixed corpus (large PyTorch checkpoints, many small pickles, joblib, NumPy, Keras,
ONNX, safetensors, GGUF) with planted payloads, each a different evasion, then times the three
scanners on it in one run (page cache warmed first; with --repeat, in rounds that run every
tool in turn, best of N) and prints files/s, GB/s, the ratios, which planted payloads each tool
found, and how many clean files each flagged.

    python benchmarks/scan_models.py --gb 3          # corpus size, default 2
    python benchmarks/scan_models.py --keep          # keep benchmarks/.work/scan_models/corpus
    python benchmarks/scan_models.py --reuse --repeat 3   # same corpus, best of 3 runs each
    python benchmarks/scan_models.py --reuse --baseline REV  # also time mlstix as of commit REV

The peer tools, and numpy/joblib/h5py used to write real joblib and HDF5 files, are installed
into benchmarks/.work/scan_models/venv (git-ignored). Nothing generated here is ever loaded or
unpickled.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import pickle
import shutil
import struct
import subprocess
import sys
import tarfile
import textwrap
import time
import zipfile
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
WORK = HERE / ".work" / "scan_models"
VENV = WORK / "venv"
CORPUS = WORK / "corpus"
MLSTIX = REPO / ".venv" / "bin" / "mlstix"
MB = 1 << 20

# -- helpers: raw pickle opcodes (no object is ever unpickled) ---------------------------------


def g(module: str, name: str) -> bytes:
    return b"c" + module.encode() + b"\n" + name.encode() + b"\n"


def u(text: str) -> bytes:
    data = text.encode()
    return b"\x8c" + bytes([len(data)]) + data


def call(module: str, name: str, arg: str, proto: int = 2) -> bytes:
    return b"\x80" + bytes([proto]) + g(module, name) + u(arg) + b"\x85R."


def state_dict_pickle(n_tensors: int) -> bytes:
    od = g("collections", "OrderedDict") + b")R"
    out = b"\x80\x02" + od
    for i in range(n_tensors):
        storage = (
            b"("
            + u("storage")
            + g("torch", "FloatStorage")
            + u(str(i))
            + u("cpu")
            + b"J"
            + struct.pack("<i", 1024)
            + b"tQ"
        )
        args = b"(" + storage + b"K\x00" + b"M\x00\x04\x85" + b"K\x01\x85" + b"\x89" + od + b"t"
        out += u(f"layer{i}.weight") + g("torch._utils", "_rebuild_tensor_v2") + args + b"Rs"
    return out + b"."


def torch_zip(path: Path, pkl: bytes, storages: list[int], block: bytes, top: str = "archive"):
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as z:
        z.writestr(f"{top}/data.pkl", pkl)
        z.writestr(f"{top}/byteorder", "little")
        for i, size in enumerate(storages):
            with z.open(f"{top}/data/{i}", "w", force_zip64=True) as fh:
                left = size
                while left > 0:
                    fh.write(block[: min(left, len(block))])
                    left -= len(block)
        z.writestr(f"{top}/version", "3\n")


def flip_crc(path: Path, member: str) -> None:
    data = bytearray(path.read_bytes())
    for sig, crc_at, nlen_at, name_at in ((b"PK\x03\x04", 14, 26, 30), (b"PK\x01\x02", 16, 28, 46)):
        pos = data.find(sig)
        while pos >= 0:
            (nlen,) = struct.unpack("<H", data[pos + nlen_at : pos + nlen_at + 2])
            if data[pos + name_at : pos + name_at + nlen] == member.encode():
                data[pos + crc_at : pos + crc_at + 4] = bytes(
                    b ^ 0xFF for b in data[pos + crc_at : pos + crc_at + 4]
                )
            pos = data.find(sig, pos + 4)
    path.write_bytes(bytes(data))


def rename_local(path: Path, old: str, new: str) -> None:
    data = bytearray(path.read_bytes())
    pos = data.find(b"PK\x03\x04")
    while pos >= 0:
        (nlen,) = struct.unpack("<H", data[pos + 26 : pos + 28])
        if data[pos + 30 : pos + 30 + nlen] == old.encode():
            data[pos + 30 : pos + 30 + nlen] = new.encode()
        pos = data.find(b"PK\x03\x04", pos + 4)
    path.write_bytes(bytes(data))


def npy_bytes(descr: str, shape: tuple[int, ...], payload: bytes) -> bytes:
    header = repr({"descr": descr, "fortran_order": False, "shape": shape}).encode()
    header += b" " * (63 - (len(header) + 10) % 64) + b"\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header + payload


def safetensors_bytes(n: int, each: int, block: bytes) -> bytes:
    header, off = {}, 0
    for i in range(n):
        header[f"t{i}"] = {"dtype": "F32", "shape": [each // 4], "data_offsets": [off, off + each]}
        off += each
    raw = json.dumps(header).encode()
    data = (block * (off // len(block) + 1))[:off]
    return struct.pack("<Q", len(raw)) + raw + data


def _varint(n: int) -> bytes:
    out = b""
    while True:
        b, n = n & 0x7F, n >> 7
        if not n:
            return out + bytes([b])
        out += bytes([b | 0x80])


def pb(field: int, payload: bytes) -> bytes:
    return _varint(field << 3 | 2) + _varint(len(payload)) + payload


def onnx_bytes(raw: int, block: bytes, external: str | None = None) -> bytes:
    graph = pb(1, pb(4, b"MatMul") + pb(7, b""))
    graph += pb(5, pb(8, b"w") + pb(9, (block * (raw // len(block) + 1))[:raw]))
    if external:
        graph += pb(
            5,
            pb(8, b"x")
            + pb(13, pb(1, b"location") + pb(2, external.encode()))
            + _varint(14 << 3)
            + b"\x01",
        )
    return _varint(8) + b"\x08" + pb(7, graph) + pb(8, _varint(2 << 3) + b"\x11")


def gguf_bytes(template: str) -> bytes:
    def s(x: str) -> bytes:
        return struct.pack("<Q", len(x.encode())) + x.encode()

    return (
        b"GGUF"
        + struct.pack("<IQQ", 3, 0, 1)
        + s("tokenizer.chat_template")
        + struct.pack("<I", 8)
        + s(template)
    )


# -- the corpus -------------------------------------------------------------------------------

NUMPY_SCRIPT = textwrap.dedent(
    """
    import os, sys, joblib, numpy as np, h5py, json
    out = sys.argv[1]; n = int(sys.argv[2]); size = int(sys.argv[3])
    rng = np.random.default_rng(0)
    for i in range(n):
        arr = rng.standard_normal(size // 8)
        joblib.dump({"coef": arr, "intercept": float(i), "classes": np.arange(10)},
                    os.path.join(out, "joblib", f"clf{i}.joblib"))
        np.save(os.path.join(out, "npy", f"emb{i}.npy"), arr.astype(np.float32))
    class Payload:
        def __reduce__(self):
            return (os.system, ("touch /tmp/mlstix-bench-PWNED",))
    joblib.dump({"coef": rng.standard_normal(1000), "hook": Payload()},
                os.path.join(out, "planted", "payload.joblib"))
    joblib.dump({"coef": rng.standard_normal(1000), "hook": Payload()},
                os.path.join(out, "planted", "compressed.joblib"), compress=3)
    for name, layers in (("clean_keras.h5", [{"class_name": "Dense", "config": {"name": "d"}}]),
                         ("lambda.h5", [{"class_name": "Lambda", "config": {"name": "l",
                          "function": ["4wEAAAAAAAAA", None, None]}}])):
        folder = "keras" if name.startswith("clean") else "planted"
        with h5py.File(os.path.join(out, folder, name), "w") as f:
            f.attrs["model_config"] = json.dumps({"class_name": "Sequential",
                                                  "config": {"layers": layers}})
            f.attrs["keras_version"] = "2.12.0"
            f.attrs["backend"] = "tensorflow"
            f.create_dataset("model_weights/d/kernel", data=rng.standard_normal((256, 256)))
    """
)


def build(total_gb: float) -> tuple[list[str], int]:
    """Write the corpus; return the planted files (relative paths) and the file count."""
    if CORPUS.exists():
        shutil.rmtree(CORPUS)
    for d in ("torch", "pickles", "safetensors", "onnx", "joblib", "npy", "keras", "planted"):
        (CORPUS / d).mkdir(parents=True)
    block = os.urandom(MB)
    total = int(total_gb * (1 << 30))
    # ~60%: large PyTorch checkpoints of 48 tensors each
    n_big = max(2, int(total * 0.6 // (400 * MB)))
    per = int(total * 0.6 // n_big)
    for i in range(n_big):
        torch_zip(CORPUS / "torch" / f"ckpt{i}.pt", state_dict_pickle(48), [per // 48] * 48, block)
    # ~20%: safetensors
    n_st = max(2, int(total * 0.2 // (200 * MB)))
    for i in range(n_st):
        (CORPUS / "safetensors" / f"model-{i:05d}.safetensors").write_bytes(
            safetensors_bytes(32, int(total * 0.2 // n_st // 32) // 4 * 4, block)
        )
    # ~8%: ONNX with raw initializers
    for i in range(2):
        (CORPUS / "onnx" / f"model{i}.onnx").write_bytes(onnx_bytes(int(total * 0.04), block))
    # ~10%: joblib + npy (real files written by numpy/joblib), keras h5
    n_np = 40
    subprocess.run(
        [
            str(VENV / "bin" / "python"),
            "-c",
            NUMPY_SCRIPT,
            str(CORPUS),
            str(n_np),
            str(int(total * 0.05 // n_np)),
        ],
        check=True,
    )
    # many small pickles: what sklearn/xgboost-style pipelines leave around
    for i in range(3000):
        obj = {
            "params": {"alpha": i * 0.1, "layers": list(range(i % 50))},
            "weights": [float(j) for j in range(500 + i % 500)],
            "name": f"m{i}",
        }
        (CORPUS / "pickles" / f"model{i}.pkl").write_bytes(pickle.dumps(obj, protocol=2 + i % 3))
    planted = plant(block)
    count = sum(1 for p in CORPUS.rglob("*") if p.is_file())
    return planted, count


def plant(block: bytes) -> list[str]:
    p = CORPUS / "planted"
    marker = "touch /tmp/mlstix-bench-PWNED"
    torch_zip(p / "checkpoint.pt", call("os", "system", marker), [MB], block)
    torch_zip(p / "bad_crc.pt", call("os", "system", marker), [MB], block)
    flip_crc(p / "bad_crc.pt", "archive/data.pkl")
    torch_zip(p / "name_mismatch.pt", call("os", "system", marker), [MB], block)
    rename_local(p / "name_mismatch.pt", "archive/data.pkl", "archive/data.pk_")
    torch_zip(p / "renamed_checkpoint.dat", call("subprocess", "check_call", marker), [MB], block)
    torch_zip(p / "odd_top_folder.pt", call("os", "system", marker), [MB], block, top="x/y/z")
    (p / "raw.pkl").write_bytes(call("os", "system", marker))
    (p / "stacked.pkl").write_bytes(
        pickle.dumps([1, 2, 3], protocol=2) + call("os", "system", marker)
    )
    memo = (
        b"\x80\x04"
        + u("os")
        + b"\x94"
        + u("system")
        + b"\x94"
        + b"00"
        + b"h\x00h\x01\x93"
        + u(marker)
        + b"\x85R."
    )
    (p / "memo_stack_global.pkl").write_bytes(memo)
    (p / "pkgutil_indirection.pkl").write_bytes(call("pkgutil", "resolve_name", "os:system"))
    (p / "submodule.pkl").write_bytes(call("asyncio.unix_events", "_UnixSubprocessTransport", "x"))
    (p / "runstring.pkl").write_bytes(
        call("numpy.testing._private.utils", "runstring", "import os")
    )
    (p / "object_array.npy").write_bytes(npy_bytes("|O", (1,), call("os", "system", marker)))
    legacy = (
        pickle.dumps(0x1950A86A20F9469CFC6C, protocol=2)
        + pickle.dumps(1001, protocol=2)
        + pickle.dumps({"little_endian": True}, protocol=2)
        + call("os", "system", marker)
    )
    (p / "legacy.pth").write_bytes(legacy)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data in (
            ("sys_info", b"\x80\x02}."),
            ("pickle", call("os", "system", marker)),
            ("storages", b"\x80\x02K\x00."),
            ("tensors", b"\x80\x02K\x00."),
        ):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    (p / "legacy_tar.pt").write_bytes(buf.getvalue())
    keras_cfg = {
        "class_name": "Sequential",
        "config": {
            "layers": [{"class_name": "Lambda", "module": "keras.layers", "config": {"name": "l"}}]
        },
    }
    with zipfile.ZipFile(p / "lambda.keras", "w") as z:
        z.writestr("config.json", json.dumps(keras_cfg))
        z.writestr("metadata.json", json.dumps({"keras_version": "3.5.0"}))
        z.writestr("model.weights.h5", b"")
    (p / "template.gguf").write_bytes(
        gguf_bytes("{{ cycler.__init__.__globals__.os.popen('id').read() }}")
    )
    (p / "external_escape.onnx").write_bytes(
        onnx_bytes(1024, block, external="../../../etc/passwd")
    )
    plant_evasions(p, marker, block)
    return sorted(str(f.relative_to(CORPUS)) for f in p.rglob("*") if f.is_file())


def plant_evasions(p: Path, marker: str, block: bytes) -> None:
    """The loader views of issue 10: what torch.load, joblib and pandas read although the
    first bytes, the name or the extension say otherwise."""
    import lzma

    evil = call("os", "system", marker)
    # current PyTorch: ZIP64 end record and locator between the directory and the end record
    torch_zip(p / "zip64_current_torch.pt", evil, [MB], block)
    data = (p / "zip64_current_torch.pt").read_bytes()
    eocd = data.rfind(b"PK\x05\x06")
    count, cd_size, cd_offset = struct.unpack("<HII", data[eocd + 10 : eocd + 20])
    rec = struct.pack("<4sQHHIIQQQQ", b"PK\x06\x06", 44, 45, 45, 0, 0, count, count, cd_size,
                      cd_offset)  # fmt: skip
    loc = struct.pack("<4sIQI", b"PK\x06\x07", 0, eocd, 1)
    (p / "zip64_current_torch.pt").write_bytes(data[:eocd] + rec + loc + data[eocd:])
    # pickle.load needs no PROTO: a FRAME first
    frame = evil[2:]
    (p / "headerless.bin").write_bytes(b"\x95" + len(frame).to_bytes(8, "little") + frame)
    # joblib's LZMA-alone prefix; pandas' xz reader takes it too
    (p / "lzma_alone.joblib").write_bytes(lzma.compress(evil, format=lzma.FORMAT_ALONE))
    # a pickle in front of a GGUF header: torch.load's legacy path reads it from offset 0
    (p / "polyglot.gguf").write_bytes(evil + gguf_bytes("{{ messages }}"))
    plant_session3(p, marker)


def _joblib_array(flags: int, count: int, align: bool) -> bytes:
    """joblib's NumpyArrayWrapper for a float64 array whose dtype state carries ``flags``."""
    dtype = (
        g("numpy", "dtype") + u("f8") + b"\x89\x88\x87R"
        + b"(K\x03" + u("<") + b"NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xff"
        + b"J" + struct.pack("<i", flags) + b"tb"
    )  # fmt: skip
    state = (
        b"}(" + u("subclass") + g("numpy", "ndarray") + u("shape")
        + b"J" + struct.pack("<i", count) + b"\x85" + u("order") + u("C") + u("dtype") + dtype
        + (u("numpy_array_alignment_bytes") + b"K\x10" if align else b"") + b"u"
    )  # fmt: skip
    return b"\x80\x02" + g("joblib.numpy_pickle", "NumpyArrayWrapper") + b")\x81" + state + b"b"


def plant_session3(p: Path, marker: str) -> None:
    """Evasions found in the third session: joblib's arrays and the plain-pickle view of a
    joblib file, the pure-Python unpickler joblib uses, allowed functions that call their
    arguments, chat templates with names built at run time, Hugging Face remote code."""
    evil = call("os", "system", marker)
    # the padding byte is an opcode (78, N) and the padding a payload: pickle.load runs it
    body = evil[2:-1] + b"0"
    pad = (body + b"N0" * 80)[:78]
    (p / "joblib_padding.joblib").write_bytes(
        _joblib_array(0, 8, True) + bytes([78]) + pad + b"N0" * 32 + b"."
    )
    # float64 whose pickled dtype state says "has objects": joblib reads a nested pickle
    core = evil[:-1]
    nested = core + b"N" * (-(len(core) + 1) % 8) + b"."
    (p / "joblib_dtype_flags.joblib").write_bytes(
        _joblib_array(1, len(nested) // 8, False) + nested + b"."
    )
    # the last line without its newline: pickle._Unpickler (joblib.load) calls os.system
    (p / "eof_inst.joblib").write_bytes(b"(V" + marker.encode() + b"\nios\nsystem.")
    # an allowed torch rebuild helper calling its first argument with the command
    (p / "rebuild_from_type.pkl").write_bytes(
        b"\x80\x02" + g("torch._tensor", "_rebuild_from_type_v2")
        + b"(" + g("evil_tools.shell", "run") + g("torch", "Tensor")
        + b"(V" + marker.encode() + b"\nt}tR."
    )  # fmt: skip
    (p / "folded_template.gguf").write_bytes(
        gguf_bytes(
            "{{ namespace[('_'*2)~'init'~('_'*2)][('%s%sglobals%s%s'|format('_','_','_','_'))] }}"
        )
    )
    (p / "hf_remote_code").mkdir(exist_ok=True)
    (p / "hf_remote_code" / "config.json").write_text(
        json.dumps({"model_type": "x", "auto_map": {"AutoModel": "someone/repo--modeling_x.X"}})
    )
    plant_session4(p, marker)


def plant_session4(p: Path, marker: str) -> None:
    """Evasions closed in the fourth session: a module chosen through the outer memo in the
    plain view of a joblib object array, code a BUILD state attaches to an allowlisted object,
    TorchScript programs that reach files, and bytes a GGUF loader skips."""
    # an object array's nested pickle meant numpy.core.multiarray._reconstruct; pickle.load
    # reads it against the outer memo, whose entry 0 is "copy": copy._reconstruct(x, memo,
    # func, args) calls func(*args)
    nested = (
        b"\x80\x04" + u("numpy.core.multiarray") + b"\x940" + b"h\x00" + u("_reconstruct")
        + b"\x93(NN" + g("evil_tools.shell", "run") + u(marker) + b"\x85tR."
    )  # fmt: skip
    (p / "outer_memo_module.joblib").write_bytes(
        b"\x80\x02" + u("copy") + b"q\x000" + _joblib_array(63, 1, False)[2:] + nested + b"."
    )
    # BUILD sets __setstate__ on a Namespace; the second BUILD makes the loader call it
    (p / "setstate_attribute.pkl").write_bytes(
        b"\x80\x02" + g("argparse", "Namespace") + b")\x81}" + u("__setstate__")
        + g("evil_tools.shell", "run") + b"sb" + u(marker) + b"b."
    )  # fmt: skip
    code = (
        "class M(Module):\n  training : bool\n  def forward(self: __torch__.M, x: Tensor)"
        ' -> Tensor:\n    return torch.from_file("/etc/shadow", False, 64)\n'
    )
    with zipfile.ZipFile(p / "torchscript_from_file.pt", "w") as z:
        z.writestr("m/data.pkl", b"\x80\x02" + g("__torch__", "M") + b")\x81}b.")
        z.writestr("m/code/__torch__.py", code)
        z.writestr("m/constants.pkl", b"\x80\x02).")
        z.writestr("m/version", "3\n")
    (p / "gguf_tail.gguf").write_bytes(gguf_bytes("{{ messages }}") + call("os", "system", marker))
    plant_session5(p, marker)


def plant_session5(p: Path, marker: str) -> None:
    """Evasions closed in the sixth session: objects the stream fills or changes run code,
    walks that stopped at a cap without a word, HDF5 weights that read other files, and
    TensorFlow graphs in text or MetaGraphDef form."""
    gadget = g("evil_tools.shell", "run")
    # DataFrame.__setitem__ calls a callable key with the frame
    (p / "dataframe_setitem.pkl").write_bytes(
        b"\x80\x02" + g("pandas", "DataFrame") + b")R" + gadget + u(marker) + b"s."
    )
    # DataFrame.agg calls the method its first argument names: to_csv writes a file
    frame = g("pandas", "DataFrame") + b"(}" + u("a") + b"]K\x01asNtR"
    (p / "dataframe_agg.pkl").write_bytes(
        b"\x80\x02" + g("builtins", "getattr") + b"(" + frame + u("agg") + b"tR("
        + u("to_csv") + b"K\x00" + u("/home/user/.bashrc") + b"tR."
    )  # fmt: skip
    # a Bunch answers APPENDS' lookup of "extend" with its item
    (p / "bunch_extend.pkl").write_bytes(
        b"\x80\x02" + g("sklearn.utils._bunch", "Bunch") + b")R" + u("extend") + gadget
        + b"s(" + u(marker) + b"e."
    )  # fmt: skip
    # _compat_pickle.NAME_MAPPING renames the next protocol-2 OrderedDict import
    (p / "name_mapping.pkl").write_bytes(
        b"\x80\x02" + g("_compat_pickle", "NAME_MAPPING") + b"(" + u("collections")
        + u("OrderedDict") + b"t(" + u("evil_tools.shell") + u("run") + b"ts0"
        + g("collections", "OrderedDict") + b"(" + u(marker) + b"tR."
    )  # fmt: skip
    # copyreg's inverted registry decides what EXT1 imports
    (p / "ext_registry.pkl").write_bytes(
        b"\x80\x02" + g("copyreg", "_inverted_registry") + b"K\x07(" + u("evil_tools.shell")
        + u("run") + b"ts0\x82\x07(" + u(marker) + b"tR."
    )  # fmt: skip
    # the kept function after 5,000 padding attributes of the estimator's state
    pads = b"".join(u(f"p{i}") + b"K\x00" for i in range(5000))
    ft = g("sklearn.preprocessing._function_transformer", "FunctionTransformer") + b")\x81"
    (p / "padded_state.pkl").write_bytes(
        b"\x80\x02" + ft + b"}(" + pads + u("func") + gadget + b"ub."
    )
    # TF graphs: text format, and a TF1 MetaGraphDef
    (p / "graph.pbtxt").write_text('node {\n  name: "p"\n  op: "Py" "Func"\n}\n')
    graph = pb(1, pb(1, b"p") + pb(2, b"PyFunc"))
    (p / "model.ckpt.meta").write_bytes(pb(1, pb(1, b"serve")) + pb(2, graph) + pb(3, pb(1, b"s")))
    try:
        import h5py
    except ImportError:
        return
    with h5py.File(p / "external.weights.h5", "w") as f:  # CVE-2026-1669
        f.create_dataset("layers/dense/vars/0", shape=(64,), dtype="u1",
                         external=[("/etc/passwd", 0, 64)])  # fmt: skip


# -- running the tools ------------------------------------------------------------------------


REPEAT = 1


def baseline_command(rev: str) -> list[str]:
    """``mlstix`` as of commit ``rev``: its ``src`` tree (``git archive``, the repository is not
    touched) run by this checkout's interpreter, ahead of the installed package."""
    dest = WORK / f"baseline-{rev.replace('/', '_')}"
    if not (dest / "src" / "mlstix").is_dir():
        dest.mkdir(parents=True, exist_ok=True)
        archive = subprocess.run(
            ["git", "-C", str(REPO), "archive", rev, "src"], capture_output=True, check=True
        ).stdout
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            tar.extractall(dest, filter="data")
    os.environ["PYTHONPATH"] = str(dest / "src")  # only the baseline's runs see it: see timed()
    return [str(REPO / ".venv" / "bin" / "python"), "-m", "mlstix"]


def timed(cmds: dict[str, list[str]]) -> dict[str, tuple[float, float, Any]]:
    """``tool -> (best wall s, best CPU s, last run)`` over ``REPEAT`` rounds. Each round runs
    every tool once, in turn, so that a load spike on a shared machine falls on all tools
    alike instead of on whichever tool's runs it met (load only ever adds time: best of N).
    CPU is user + system time of the command and its children."""
    import resource

    best: dict[str, tuple[float, float, Any]] = {}
    for _ in range(REPEAT):
        for tool, cmd in cmds.items():
            env = dict(os.environ)
            if cmd[1:3] != ["-m", "mlstix"]:
                env.pop("PYTHONPATH", None)
            # as installed: bytecode cached (pip compiles at install; with this variable set,
            # every run of a checkout whose sources changed since their .pyc compiles them again)
            env.pop("PYTHONDONTWRITEBYTECODE", None)
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            start = time.perf_counter()
            proc = subprocess.run(cmd, capture_output=True, text=True, cwd=WORK, env=env)
            wall = time.perf_counter() - start
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
            old = best.get(tool, (float("inf"), float("inf"), None))
            best[tool] = (min(old[0], wall), min(old[1], cpu), proc)
    return best


def found_mlstix(out: Path) -> set[str]:
    doc = json.loads(out.read_text())
    # what says "this content is unsafe", not "unsigned", "pickle format" or "cannot parse"
    ignore = {
        "models/unsigned-model",
        "models/no-provenance",
        "models/pickle-format",
        "models/unrecognized-model-file",
        "models/archive-anomaly",
        "models/archive-limit",
        "models/unreadable",
    }
    rank = {"critical": 4, "high": 3, "medium": 2, "low": 1, "info": 0}
    return {
        str(Path(f["location"]["path"]).relative_to(CORPUS))
        for f in doc["findings"]
        if f["rule_id"] not in ignore and rank[f["severity"]] >= 2
    }


def _comparable(out: Path) -> object:
    """The report as data (the reports carry no time stamp: equal data, equal findings)."""
    return json.loads(out.read_text())


def found_modelscan(out: Path) -> set[str]:
    if not out.exists():
        return set()
    doc = json.loads(out.read_text())
    return {i["source"].split(":")[0] for i in doc.get("issues", [])}


def found_picklescan(stdout: str) -> set[str]:
    files = set()
    for line in stdout.splitlines():
        if " import " in line and "FOUND" in line:
            path = line.split(": ")[0].split(":")[0]
            files.add(str(Path(path).relative_to(CORPUS)))
    return files


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--gb", type=float, default=2.0, help="corpus size in GiB (default 2)")
    ap.add_argument("--keep", action="store_true", help="keep the corpus afterwards")
    ap.add_argument("--reuse", action="store_true", help="reuse an existing corpus")
    ap.add_argument("--repeat", type=int, default=1, help="runs per tool; the best is kept")
    ap.add_argument(
        "--baseline", metavar="REV", help="also time mlstix as of this commit (before/after)"
    )
    args = ap.parse_args()
    global REPEAT
    REPEAT = max(1, args.repeat)
    WORK.mkdir(parents=True, exist_ok=True)
    if not (VENV / "bin" / "modelscan").exists():
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
        subprocess.run(
            [
                str(VENV / "bin" / "pip"),
                "install",
                "-q",
                "modelscan",
                "picklescan",
                "joblib",
                "h5py",
            ],
            check=True,
        )
    if args.reuse and CORPUS.exists():
        planted = sorted(
            str(f.relative_to(CORPUS)) for f in (CORPUS / "planted").rglob("*") if f.is_file()
        )
        n_files = sum(1 for p in CORPUS.rglob("*") if p.is_file())
    else:
        print(f"building a {args.gb} GiB corpus in {CORPUS} ...", flush=True)
        planted, n_files = build(args.gb)
    size = sum(p.stat().st_size for p in CORPUS.rglob("*") if p.is_file())
    subprocess.run(["cat", *map(str, CORPUS.rglob("*.*"))], stdout=subprocess.DEVNULL, check=False)
    print(
        f"corpus: {n_files} files, {size / (1 << 30):.2f} GiB, {len(planted)} planted payloads; "
        f"{os.cpu_count()} cores\n"
    )
    out = WORK / "mlstix.json"
    scan = ["scan", "models", str(CORPUS), "--format", "json", "--output"]
    ms_out = WORK / "modelscan.json"
    ms_out.unlink(missing_ok=True)
    outs = {"mlstix": out, "mlstix*": WORK / "mlstix-nohash.json"}
    cmds = {
        "mlstix": [str(MLSTIX), *scan, str(out)],
        "mlstix*": [str(MLSTIX), *scan, str(outs["mlstix*"]), "--no-hash"],
    }
    if args.baseline:
        outs["baseline"] = WORK / "mlstix-baseline.json"
        cmds["baseline"] = [*baseline_command(args.baseline), *scan, str(outs["baseline"])]
    cmds["modelscan"] = [
        str(VENV / "bin" / "modelscan"), "-p", str(CORPUS), "-r", "json", "-o", str(ms_out)
    ]  # fmt: skip
    cmds["picklescan"] = [str(VENV / "bin" / "picklescan"), "--path", str(CORPUS)]
    runs = timed(cmds)
    results: dict[str, tuple[float, set[str], int]] = {}
    cpu: dict[str, float] = {}
    for tool, (wall, used, proc) in runs.items():
        if tool in outs:
            flagged = found_mlstix(outs[tool])
        elif tool == "modelscan":
            flagged = found_modelscan(ms_out)
        else:
            flagged = found_picklescan(proc.stdout)
        results[tool] = (wall, flagged, proc.returncode)
        cpu[tool] = used
    if args.baseline:
        same = _comparable(outs["baseline"]) == _comparable(out)
        print(f"baseline {args.baseline}: JSON report {'identical' if same else 'DIFFERENT'}")
    base = results["mlstix"][0]
    print(
        f"{'tool':<11} {'seconds':>8} {'files/s':>9} {'GB/s':>7} {'time/mlstix':>11} "
        f"{'payloads':>9} {'clean flagged':>14} {'CPU s':>6} {'CPU/mlstix':>10}"
    )
    for tool, (secs, flagged, _rc) in results.items():
        hits = sum(1 for p in planted if p in flagged)
        false_pos = len({f for f in flagged if not f.startswith("planted/")})
        print(
            f"{tool:<11} {secs:8.2f} {n_files / secs:9.0f} {size / 1e9 / secs:7.2f} "
            f"{secs / base:10.2f}x {hits:>4}/{len(planted):<4} {false_pos:>14} "
            f"{cpu[tool]:6.2f} {cpu[tool] / cpu['mlstix']:9.2f}x"
        )
    print("\nplanted payload           " + "  ".join(f"{t:>10}" for t in results))
    for p in planted:
        marks = "  ".join(f"{'found' if p in r[1] else '-':>10}" for r in results.values())
        print(f"{Path(p).name:<25} {marks}")
    print(
        "\nmlstix* = mlstix scan models --no-hash (no SHA-256 of every file); "
        "baseline = mlstix scan models as of --baseline REV; "
        "time/mlstix is each tool's time over mlstix's (with hashing); CPU s is user + system "
        "time of the tool and its worker processes (what a busy machine's wall time tends to)"
    )
    if Path("/tmp/mlstix-bench-PWNED").exists():
        print("\nWARNING: the marker file exists: something executed a payload")
    if not args.keep:
        shutil.rmtree(CORPUS)


if __name__ == "__main__":
    main()
