"""The TorchScript program of a ``torch.jit`` archive (``code/**.py``), judged name by name.

``torch.jit.load`` compiles the serialized code with the TorchScript compiler, which resolves
only builtin operators (``torch.<op>`` for ``aten::`` ops, ``ops.<namespace>.<op>``, ``ops.prim``),
TorchBind classes (``__torch__.torch.classes.<namespace>.<Class>``), the archive's own
``__torch__`` classes and functions, and a few Python builtins (``getattr``, ``isinstance``,
``len``, ...). The code is parsed with :mod:`ast` (never compiled or run) and every dotted name
in it is judged:

- *reaches the system* (``models/torchscript-dangerous-op``, high): ``aten::from_file``
  (``torch.from_file``: maps any file, and creates it when shared), the file readers and
  writers of torchvision and torchaudio (``image::read_file``, ``write_file``, ``write_png``,
  ``sox_io_load_audio_file``, ...), the distributed RPC and collective ops
  (``rpc_async``/``rpc_sync``/``remote``, ``c10d``: the network), and what loads or saves more
  code or files (``torch.jit.load``, ``torch.load``, ``torch.ops.load_library``, ``torch._C``);
  Python that no TorchScript compiler resolves (``os``, ``subprocess``, ``open``, ``eval``,
  ``__import__``, ``__globals__``, ...) is reported the same way: ``torch.jit.load`` refuses
  the archive, but the code says what it was made for, and another runner (``exec`` of the
  member, a patched loader) would run it;
- *custom native code* (``models/torchscript-custom-op``, medium): operators of a namespace
  outside PyTorch and its domain libraries (``torch.ops.myns.op``) and TorchBind classes of one
  (``torch.classes.myns.Cls``): C++ that a library loaded into the process registered, which
  the program calls with its own arguments.

Code that :mod:`ast` cannot parse is scanned for the same names as text, and is an error for
the file (the analysis could not follow it).

Reference: PyTorch ``torch/csrc/jit/serialization/python_print.cpp`` (how ops print),
``torch/csrc/jit/frontend/ir_emitter.cpp`` (what resolves), the TorchScript language reference
(builtin functions, ``torch.ops``, custom classes), ``aten/src/ATen/native/native_functions.yaml``
(``from_file``), ``torch/csrc/distributed/rpc/`` (``aten::rpc_async``, ``rpc_sync``, ``remote``).
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from typing import IO

from mlstix.scan.models._context import Context, Source

__all__ = ["ScriptFinding", "judge_bytecode", "judge_code", "judge_name", "judge_script"]

# operator and TorchBind namespaces of PyTorch itself and its domain libraries
_KNOWN_NAMESPACES = frozenset(
    ["aten", "prim", "quantized", "_quantized", "quantized_decomposed", "prepacked", "mkldnn",
     "mkldnn_prepacked", "mkl", "onednn", "xnnpack", "sparse", "fbgemm", "_caffe2", "profiler",
     "cuda", "_nnapi", "torchvision", "torchaudio", "torchtext", "image", "debugprims",
     "_test", "_TorchScriptTesting", "torch", "c10", "at", "std"]
)  # fmt: skip
_NETWORK_NAMESPACES = frozenset(["c10d", "_c10d_functional", "c10d_functional", "dist_c10d",
                                 "dist_rpc", "dist_autograd"])  # fmt: skip
_PYTHON_ROOTS = frozenset(
    ["os", "posix", "nt", "subprocess", "sys", "socket", "shutil", "importlib", "ctypes",
     "builtins", "__builtins__", "pickle", "marshal", "runpy", "pty", "io", "pathlib", "urllib",
     "http", "requests", "tempfile", "multiprocessing", "signal", "webbrowser", "code",
     "open", "eval", "exec", "compile", "__import__", "globals", "locals", "vars",
     "breakpoint", "input", "exit", "quit", "setattr", "delattr"]
)  # fmt: skip
_PYTHON_ATTRS = frozenset(["__globals__", "__builtins__", "__subclasses__", "__code__",
                           "__closure__", "__mro__", "__bases__", "__import__"])  # fmt: skip
# ops that open paths: aten::from_file, the image and audio readers/writers of the domain
# libraries (torchvision.io.read_file/write_file/write_png/write_jpeg, torchaudio's sox_io),
# and what loads programs or native libraries
_FILE_OPS = frozenset(["from_file", "read_file", "write_file", "write_png", "write_jpeg",
                       "sox_io_load_audio_file", "sox_io_save_audio_file", "load_audio_file",
                       "save_audio_file", "_load_for_mobile", "_jit_load", "load_library",
                       "_import_ir_module", "_save_for_mobile", "_save_parameters"])  # fmt: skip
_NETWORK_OPS = frozenset(["rpc_async", "rpc_sync", "remote", "init_rpc", "init_process_group"])
_COLLECTIVES = frozenset(["all_reduce", "all_gather", "all_to_all", "broadcast", "reduce",
                          "reduce_scatter", "gather", "scatter", "send", "recv", "isend",
                          "irecv", "barrier", "new_group"])  # fmt: skip
_LOADERS = re.compile(
    r"^torch\.(?:jit\.(?:load|save)$|load$|save$|hub\.|package\.|utils\.cpp_extension|"
    r"_C\.(?:_jit|_import|import_ir|_load|_save))"
)
_TEXT_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\s*\.\s*[A-Za-z_][A-Za-z0-9_]*)*")
_MAX_FINDINGS = 20
_MAX_CODE = 64 << 20  # bytes of one code member read; a longer one is an error


@dataclass(frozen=True)
class ScriptFinding:
    rule_id: str
    name: str
    why: str
    line: int


def judge_script(ctx: Context, src: Source, member: str, stream: IO[bytes]) -> None:
    """Judge one ``code/**.py`` member of a TorchScript archive (see the module docstring)."""
    raw = stream.read(_MAX_CODE + 1)
    if len(raw) > _MAX_CODE:
        ctx.malformed("models/archive-limit", f"TorchScript code {member} is longer than "
                      f"{_MAX_CODE} bytes; not judged", src, archive_member=member)  # fmt: skip
        return
    # the TorchScript lexer reads UTF-8; a byte it cannot decode fails the load
    findings, error = judge_code(raw.decode("utf-8", "replace"))
    for f in findings:
        ctx.hit(f.rule_id, f"TorchScript code {member} line {f.line}: {f.name} {f.why}", src,
                archive_member=member, name=f.name, line=f.line)  # fmt: skip
    if error is not None:
        ctx.malformed("models/torchscript-code", f"{member}: {error}", src,
                      archive_member=member)  # fmt: skip


def judge_code(text: str) -> tuple[list[ScriptFinding], str | None]:
    """What the TorchScript program ``text`` calls that reaches the system or custom native
    code, and why the code could not be parsed (None when it could)."""
    names: list[tuple[str, int]] = []
    bound: set[str] = set()
    error = None
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:
        error = f"TorchScript code cannot be parsed: {type(exc).__name__}: {exc}"[:300]
        names = [(re.sub(r"\s+", "", m.group(0)), text.count("\n", 0, m.start()) + 1)
                 for m in _TEXT_NAME.finditer(text)]  # fmt: skip
    else:
        names, bound = _dotted_names(tree)
    out: list[ScriptFinding] = []
    seen: set[str] = set()
    for name, line in names:
        if name in seen:
            continue
        seen.add(name)
        verdict = judge_name(name, name.split(".", 1)[0] in bound)
        if verdict is not None:
            out.append(ScriptFinding(verdict[0], name, verdict[1], line))
            if len(out) >= _MAX_FINDINGS:
                break
    return out, error


def judge_name(name: str, local: bool = False) -> tuple[str, str] | None:
    """The rule and reason for one dotted name of the program, or None (a builtin op, the
    archive's own classes, data). ``local``: its first part is a name the program binds
    (a parameter, a variable: ``input.size``), not a module or builtin."""
    parts = name.split(".")
    if any(p in _PYTHON_ATTRS for p in parts):
        return _DANGER, "reaches Python internals no TorchScript program can use"
    if name.startswith("import "):
        return _DANGER, "is a Python import, which no TorchScript program can hold"
    if parts[0] in _PYTHON_ROOTS and not local:
        return _DANGER, "is Python the TorchScript compiler does not resolve (os, files, code)"
    if parts[0] not in ("torch", "ops", "__torch__"):
        return None
    if parts[-1] in _FILE_OPS:
        return _DANGER, "reads or writes files, or loads native code"
    if parts[-1] in _NETWORK_OPS and len(parts) > 1:
        return _DANGER, "talks to other processes over the network (distributed RPC)"
    if _LOADERS.match(name):
        return _DANGER, "loads more code or files"
    if name.startswith("torch.distributed.") and (
        ".rpc." in name or ".nn." in name or parts[-1] in _COLLECTIVES
    ):
        return _DANGER, "talks to other processes over the network (torch.distributed)"
    namespace = _namespace(parts)
    if namespace is None:
        return None
    if namespace in _NETWORK_NAMESPACES:
        return _DANGER, f"uses the {namespace} namespace (collectives or RPC over the network)"
    if namespace not in _KNOWN_NAMESPACES:
        return _CUSTOM, (
            f"is custom native code of namespace {namespace!r} (registered by a library "
            "loaded into the process, called with the program's arguments)"
        )
    return None


_DANGER = "models/torchscript-dangerous-op"
_CUSTOM = "models/torchscript-custom-op"


def _namespace(parts: list[str]) -> str | None:
    """The operator or TorchBind namespace a name uses: ``torch.ops.<ns>.op``,
    ``ops.<ns>.op``, ``torch.classes.<ns>.Cls``, ``__torch__.torch.classes.<ns>.Cls``."""
    if parts[0] == "__torch__":
        parts = parts[1:]
    if len(parts) >= 3 and parts[0] == "torch" and parts[1] in ("ops", "classes"):
        return parts[2]
    if len(parts) >= 2 and parts[0] == "ops":
        return parts[1]
    return None


def _dotted_names(tree: ast.AST) -> tuple[list[tuple[str, int]], set[str]]:
    """Every maximal dotted name (``a.b.c``) and bare name the program mentions, with its
    line (attribute chains on other expressions keep their attribute part: ``x().__globals__``
    is ``.__globals__``; ``getattr(x, "__globals__")`` names it too; an import is
    ``import <module>``), and the names the program binds (parameters, variables, its own
    functions and classes)."""
    out: list[tuple[str, int]] = []
    bound: set[str] = set()
    inner: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and id(node) not in inner:
            parts = []
            cur: ast.expr = node
            while isinstance(cur, ast.Attribute):
                inner.add(id(cur))
                parts.append(cur.attr)
                cur = cur.value
            if isinstance(cur, ast.Name):
                inner.add(id(cur))
                parts.append(cur.id)
            else:
                parts.append("")
            out.append((".".join(reversed(parts)), node.lineno))
        elif isinstance(node, ast.Name):
            if not isinstance(node.ctx, ast.Load):
                bound.add(node.id)
            elif id(node) not in inner:
                out.append((node.id, node.lineno))
        elif isinstance(node, ast.arg):
            bound.add(node.arg)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            bound.add(node.name)
        elif isinstance(node, ast.Import | ast.ImportFrom):
            modules = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            for module in modules or [node.module or "."]:  # type: ignore[union-attr]
                out.append((f"import {module}", node.lineno))
        elif isinstance(node, ast.Constant) and node.value in _PYTHON_ATTRS:
            out.append((f".{node.value}", node.lineno))
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in ("getattr", "hasattr")
            and len(node.args) >= 2
            and isinstance(node.args[1], ast.Constant)
            and isinstance(node.args[1].value, str)
        ):  # getattr(torch.ops, "myns"): the attribute it names
            out.append((f"{_dotted(node.args[0])}.{node.args[1].value}", node.lineno))
    return out, bound


def _dotted(node: ast.expr) -> str:
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    parts.append(node.id if isinstance(node, ast.Name) else "")
    return ".".join(reversed(parts))


_BYTECODE_OP = re.compile(rb"([A-Za-z_][A-Za-z0-9_]{0,63})::([A-Za-z_][A-Za-z0-9_]{0,127})")


def judge_bytecode(ctx: Context, src: Source, member: str, stream: IO[bytes]) -> None:
    """The operator names a mobile archive's ``bytecode.pkl`` lists (``'aten::add'``,
    ``'myns::op'``): ``torch.jit._load_for_lite_interpreter`` runs them without compiling
    ``code/``, so they are judged as the program's ops are."""
    stream.seek(0)
    raw = stream.read(_MAX_CODE)
    seen: set[str] = set()
    for m in _BYTECODE_OP.finditer(raw):
        name = f"ops.{m.group(1).decode()}.{m.group(2).decode()}"
        if name in seen:
            continue
        seen.add(name)
        verdict = judge_name(name)
        if verdict is not None:
            op = name[4:].replace(".", "::", 1)
            ctx.hit(verdict[0], f"TorchScript bytecode {member} runs operator {op}, which "
                    f"{verdict[1].removeprefix('is ')}", src,
                    archive_member=member, name=name)  # fmt: skip
            if len(seen) > 10_000:
                break
