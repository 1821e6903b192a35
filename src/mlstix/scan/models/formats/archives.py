"""Analyzers for containers: ZIP (PyTorch checkpoints, TorchScript, ``torch.package``, Keras v3,
NumPy ``.npz``, TorchServe, plain zips) and tar (PyTorch legacy tar and plain tars).
Compressed streams are :mod:`.compressed`.

ZIPs are read with the tolerant reader of :mod:`._zip` (the way PyTorch reads them). In a
PyTorch or TorchScript archive every pickle member is analysed whatever the top folder is
called, tensor storages (``*/data/<n>``) are never read, and quirks Python's ``zipfile`` would
refuse (CRC mismatch, local/central name mismatch) are findings. Members of other archives are
recognized by content and scanned recursively. Decompression is bounded per member and per
top-level file; nesting depth is bounded by :class:`~mlstix.scan.models._context.Limits`.
"""

from __future__ import annotations

import io
import lzma
import re
import tarfile
import tempfile
import zlib
from typing import IO

from mlstix.scan.models._context import Context, Hit, Source
from mlstix.scan.models.formats._paths import escapes, link_escapes, member_key, through_link
from mlstix.scan.models.formats._torchscript import judge_bytecode, judge_name, judge_script
from mlstix.scan.models.formats.serialized import report_pickle
from mlstix.scan.models.formats.ziparchive import (
    LimitExceeded,
    Window,
    ZipEntry,
    ZipError,
    crc_ok,
    open_member,
    read_central_directory,
)
from mlstix.scan.models.pickles.analyze import analyze_pickle_stream

__all__ = ["analyze_tar", "analyze_zip", "zip_view"]

_STORAGE = re.compile(r"(^|/)data/\d+$")
_PICKLE_MEMBER = re.compile(r"\.(pkl|debug_pkl|pickle)$", re.IGNORECASE)


def _zip_kind(names: list[str]) -> str:
    """What the archive is to its loader. PyTorch's reader looks members up case-insensitively
    under the first member's top folder, whatever that folder is called."""
    lower = [n.lower() for n in names]
    if any(n.endswith(".data/extern_modules") for n in lower):
        return "torch-package"
    if any(n == "data.pkl" or n.endswith("/data.pkl") for n in lower):
        if any("/code/" in n or n.startswith("code/") for n in lower) or any(
            n.endswith("constants.pkl") for n in lower
        ):
            return "torchscript"
        return "pytorch-zip"
    if any(n.endswith("mar-inf/manifest.json") for n in lower):
        return "torchserve-mar"
    if "config.json" in names:
        return "keras-v3"  # keras.saving reads config.json whatever else the zip holds
    if names and all(n.endswith(".npy") for n in names if not n.endswith("/")):
        return "numpy-npz"
    return "zip"


_CODE_KINDS = frozenset({"torch-package", "torchscript", "torchserve-mar"})


def _shipped_code(ctx: Context, src: Source, entry: ZipEntry, kind: str) -> bool:
    """Report source code a loader runs: Python modules of a ``torch.package`` (imported by
    its importer when the pickles name them) or a TorchServe handler, and the TorchScript
    program of a ``torch.jit`` archive (compiled and run by ``torch.jit.load``)."""
    name = entry.name.lower()
    if kind == "torchscript" and name.endswith(".py") and "/code/" in f"/{name}":
        ctx.hit("models/torchscript-code", f"TorchScript program {entry.name} runs when "
                "the archive is loaded with torch.jit.load", src,
                archive_member=entry.name)  # fmt: skip
        opened = _open(ctx, src, entry)
        if opened is not None:
            with opened[0] as stream:
                judge_script(ctx, src, entry.name, stream)
        return True
    if kind in ("torch-package", "torchserve-mar") and name.endswith(".py"):
        loader = "torch.package's importer" if kind == "torch-package" else "TorchServe"
        ctx.hit("models/shipped-python-code", f"Python module {entry.name} ships in the "
                f"archive and runs when {loader} imports it", src,
                archive_member=entry.name, format=kind)  # fmt: skip
        return True
    return False


def _anomaly(ctx: Context, src: Source, member: str, quirk: str) -> None:
    ctx.hit(
        "models/archive-anomaly",
        f"{quirk} (PyTorch loads such archives; Python's zipfile refuses or disagrees)",
        src,
        archive_member=member,
        quirk=quirk,
    )


def _limit(ctx: Context, src: Source, message: str, **evidence: object) -> None:
    ctx.hit("models/archive-limit", message, src, **evidence)


def _open(ctx: Context, src: Source, entry: ZipEntry) -> tuple[IO[bytes], list[str]] | None:
    lim = ctx.limits
    if entry.method != 0 and entry.size > 10 << 20:
        ratio = entry.size / max(1, entry.compressed_size)
        if ratio > lim.max_ratio:
            _limit(
                ctx, src,
                f"member {entry.name} expands {ratio:.0f}x to {entry.size} bytes (zip bomb)",
                member_name=entry.name, limit="max_ratio",
            )  # fmt: skip
            return None
    try:
        stream, quirks = open_member(src.fp, entry, ctx.budget())
    except LimitExceeded as exc:
        _limit(ctx, src, f"not scanned: {exc}", member_name=entry.name, limit="max_bytes")
        return None
    except (ZipError, OSError, EOFError, ValueError, zlib.error, lzma.LZMAError) as exc:
        ctx.malformed("models/archive-anomaly", f"member {entry.name} cannot be read: {exc}",
                      src, archive_member=entry.name, quirk="unreadable member")  # fmt: skip
        return None
    if entry.method != 0:
        ctx.decompressed += entry.size
    for quirk in quirks:
        _anomaly(ctx, src, entry.name, quirk)
    return stream, quirks


def analyze_zip(src: Source, ctx: Context) -> str:
    try:
        entries, quirks = read_central_directory(src.fp, src.size)
    except ZipError as exc:
        ctx.malformed("models/archive-anomaly", f"archive directory cannot be read: {exc}", src,
                      quirk="unreadable directory")  # fmt: skip
        return "zip"
    return _analyze_entries(src, ctx, entries, quirks)


def zip_view(src: Source, ctx: Context) -> str:
    """``zipfile``'s view of a file whose own format is another: an archive found through its
    end record (a polyglot). No readable directory means no zip to any reader: nothing."""
    try:
        entries, quirks = read_central_directory(src.fp, src.size)
    except ZipError:
        return "none"
    if not entries:
        return "none"
    _anomaly(ctx, src, "", "a zip archive is hidden in a file of another format")
    return _analyze_entries(src, ctx, entries, quirks)


def _analyze_entries(src: Source, ctx: Context, entries: list[ZipEntry], quirks: list[str]) -> str:
    if len(entries) > ctx.limits.max_members:
        _limit(ctx, src, f"archive has {len(entries)} members; only the first were scanned")
        entries = entries[: ctx.limits.max_members]
    for quirk in quirks:
        _anomaly(ctx, src, "", quirk)
    for e in entries:
        if escapes(e.name):
            _escape(ctx, src, e.name, "its name")
    files = [e for e in entries if not e.is_dir]
    kind = _zip_kind([e.name for e in files])
    if kind in ("pytorch-zip", "torchscript", "torch-package", "torchserve-mar"):
        _scan_torch(src, ctx, files, kind)
    elif kind == "keras-v3":
        from mlstix.scan.models.formats.keras import analyze_keras_zip

        analyze_keras_zip(src, ctx, files, _open)
    else:
        _scan_members(src, ctx, files)
    return kind


def _scan_torch(src: Source, ctx: Context, files: list[ZipEntry], kind: str) -> None:
    found = False
    for entry in files:
        if _STORAGE.search(entry.name) and kind != "torchserve-mar":
            continue  # raw tensor bytes: torch.load never parses them
        if kind in _CODE_KINDS and _shipped_code(ctx, src, entry, kind):
            continue
        opened = _open(ctx, src, entry)
        if opened is None:
            continue
        stream, _ = opened
        with stream:
            if _PICKLE_MEMBER.search(entry.name):
                found = True
                if not crc_ok(stream, entry):
                    _anomaly(ctx, src, entry.name, f"CRC mismatch in {entry.name}")
                result = analyze_pickle_stream(stream, ctx.policy, joblib=False)  # torch.load's
                before = len(ctx.hits)
                member = _member(src, entry, stream)
                if entry.name.rsplit("/", 1)[-1].lower() == "data.pkl":
                    _check_storages(ctx, src, files, entry, result.persistent_ids)
                report_pickle(result, member, ctx, kind)
                if kind == "torchscript":
                    ctx.hits[before:] = [h for h in ctx.hits[before:] if not _script_class(h)]
                    if entry.name.lower().endswith("bytecode.pkl"):
                        judge_bytecode(ctx, src, entry.name, stream)
                if ctx.sniff(member) not in (None, "pickle"):
                    ctx.scan(member)  # extracted, another loader reads it as what it is
            else:
                _scan_child(ctx, src, entry, stream)
    if found:
        ctx.hit(
            "models/pickle-format",
            f"{kind} format: loading it without weights_only runs what its pickles name",
            src,
            format=kind,
        )


def _check_storages(
    ctx: Context, src: Source, files: list[ZipEntry], pickle: ZipEntry, ids: list[object]
) -> None:
    """Every storage ``data.pkl`` names must be a record of at least ``numel * element size``
    bytes beside it: torch.load fails on a missing one, and reads a short one past its end
    (memory corruption before torch 2.10, CVE-2026-24747; refused since)."""
    from mlstix.scan.models.formats._legacy import zip_storages

    storages = zip_storages(list(ids))
    if not storages:
        return
    prefix = pickle.name.rsplit("/", 1)[0] + "/" if "/" in pickle.name else ""
    sizes = {e.name.lower(): e.size for e in files}
    for key, need in sorted(storages.items())[:100_000]:
        name = f"{prefix}data/{key}"
        have = sizes.get(name.lower())
        if have is None:
            ctx.malformed("models/unrecognized-model-file",
                          f"{pickle.name} names storage {key!r}, but {name} is not in the "
                          "archive (torch.load fails)", src)  # fmt: skip
            return
        if have < need:
            ctx.malformed("models/unrecognized-model-file",
                          f"{name} holds {have} bytes where {pickle.name} says {need}: torch "
                          "before 2.10 reads past it (CVE-2026-24747), later ones refuse it",
                          src)  # fmt: skip
            return


def _script_class(hit: Hit) -> bool:
    """``__torch__.*`` classes in a TorchScript archive are resolved by ``torch.jit.load`` from
    the archive's compiled program, never imported from Python (and no Python module of that
    name exists for ``pickle.load`` to import): neither an unknown import nor a call of one."""
    name = str(hit.evidence.get("import", ""))
    return (
        hit.rule_id.partition("/")[2].startswith("pickle-")
        and hit.rule_id != "models/pickle-dangerous-import"
        and name.startswith("__torch__.")
        and judge_name(name) is None  # TorchBind classes of other namespaces: native code
    )


def _member(src: Source, entry: ZipEntry, stream: IO[bytes]) -> Source:
    return Source(stream, entry.size, entry.name.rsplit("/", 1)[-1],
                  src.child_member(entry.name), src.depth + 1)  # fmt: skip


def _scan_child(ctx: Context, src: Source, entry: ZipEntry, stream: IO[bytes]) -> None:
    ctx.scan(_member(src, entry, stream))


def _scan_members(src: Source, ctx: Context, files: list[ZipEntry]) -> None:
    for entry in files:
        if entry.size == 0 and entry.compressed_size == 0:
            continue
        opened = _open(ctx, src, entry)
        if opened is None:
            continue
        stream, _ = opened
        with stream:
            if not crc_ok(stream, entry):
                ctx.malformed("models/archive-anomaly", f"CRC mismatch in {entry.name}: zipfile "
                              "(numpy.load, pandas) refuses this member", src,
                              archive_member=entry.name, quirk="CRC mismatch")  # fmt: skip
            _scan_child(ctx, src, entry, stream)


def analyze_tar(src: Source, ctx: Context) -> str:
    src.fp.seek(0)
    kind = "tar"
    try:
        with tarfile.open(fileobj=src.fp, mode="r:") as tar:
            members = []
            links: set[str] = set()
            for i, info in enumerate(tar):
                if i >= ctx.limits.max_members:
                    _limit(ctx, src, "tar has too many members; the rest were not scanned")
                    break
                _tar_escape(ctx, src, info, links)
                if info.isfile() and info.size:
                    members.append(info)
            names = {m.name.rsplit("/", 1)[-1] for m in members}
            if {"pickle", "storages", "tensors"} <= names:
                kind = "pytorch-legacy-tar"
            for info in members:
                if info.sparse is not None:
                    # GNU/PAX sparse member: its stored bytes are not its content; read it
                    # through tarfile from the start, as the loader does (holes become zeros;
                    # tarfile's sparse reader does not survive seeking back)
                    stream: IO[bytes] | None = _sparse_copy(ctx, src, tar, info)
                else:
                    window = Window(src.fp, info.offset_data, info.size)
                    stream = io.BufferedReader(window, 1 << 16)
                if stream is None:
                    continue
                child = Source(stream, info.size, info.name.rsplit("/", 1)[-1],
                               src.child_member(info.name), src.depth + 1)  # fmt: skip
                _sagemaker_code(ctx, child, info.name)
                if kind == "pytorch-legacy-tar" and child.name in ("storages", "tensors"):
                    _legacy_member(ctx, child)
                else:
                    ctx.scan(child)
    except (tarfile.TarError, EOFError) as exc:
        ctx.malformed("models/archive-anomaly", f"tar cannot be read: {exc}", src,
                      quirk="unreadable tar")  # fmt: skip
    return kind


def _escape(ctx: Context, src: Source, name: str, how: str) -> None:
    ctx.hit("models/archive-path-escape", f"archive member {name!r} leaves the folder it is "
            f"extracted into ({how}): extracting the model writes outside it", src,
            member_name=name)  # fmt: skip


def _tar_escape(ctx: Context, src: Source, info: tarfile.TarInfo, links: set[str]) -> None:
    """Absolute or ``..`` names, links out of the destination, and members written through a
    symlink member (``tarfile`` without a filter follows it)."""
    if escapes(info.name):
        _escape(ctx, src, info.name, "its name")
    elif info.issym() or info.islnk():
        if link_escapes(info.name, info.linkname, hard=info.islnk()):
            kind = "hard link" if info.islnk() else "symlink"
            _escape(ctx, src, info.name, f"a {kind} to {info.linkname!r}")
        if info.issym():
            links.add(member_key(info.name))
    if (via := through_link(info.name, links)) is not None:
        _escape(ctx, src, info.name, f"written through the symlink member {via!r}")


_SAGEMAKER_CODE = re.compile(r"^(?:\./)?code/(?:[^/]+\.py|requirements\.txt)$")


def _sagemaker_code(ctx: Context, child: Source, name: str) -> None:
    """A ``model.tar.gz``'s ``code/``: SageMaker's framework serving containers import the
    entry script (``inference.py`` unless ``SAGEMAKER_PROGRAM`` names another) and
    ``pip install -r code/requirements.txt`` when the endpoint starts (sagemaker-inference-toolkit,
    sagemaker-pytorch-inference-toolkit)."""
    if not _SAGEMAKER_CODE.match(name):
        return
    what = (
        "SageMaker's serving containers pip-install the packages it lists (from any index it "
        "names) when the endpoint starts"
        if name.endswith(".txt")
        else "SageMaker's serving containers import it from code/ when the endpoint starts"
    )
    ctx.hit("models/shipped-python-code", f"{name} ships in the archive: {what}", child,
            reference=name)  # fmt: skip


def _legacy_member(ctx: Context, child: Source) -> None:
    """A legacy tar's ``storages``/``tensors``: pickles between raw records, each pickle read
    where torch reads one (the records are never taken for opcodes, nor opcodes for data)."""
    from mlstix.scan.models.formats._legacy import legacy_tar_pickles

    starts, problem = legacy_tar_pickles(child.fp, child.size, child.name)
    for start in starts:
        child.fp.seek(start)
        result = analyze_pickle_stream(child.fp, ctx.policy, stacked=False)
        report_pickle(result, child, ctx, "pytorch-legacy-tar")
    if problem:
        ctx.malformed("models/unrecognized-model-file",
                      f"legacy PyTorch checkpoint is truncated: {problem}", child)  # fmt: skip


def _sparse_copy(
    ctx: Context, src: Source, tar: tarfile.TarFile, info: tarfile.TarInfo
) -> IO[bytes] | None:
    if info.size > ctx.budget():
        _limit(ctx, src, f"sparse member {info.name} expands to {info.size} bytes; not scanned",
               member_name=info.name, limit="max_bytes")  # fmt: skip
        return None
    reader = tar.extractfile(info)
    if reader is None:
        return None
    out: IO[bytes] = tempfile.SpooledTemporaryFile(max_size=64 << 20)  # noqa: SIM115
    while chunk := reader.read(1 << 20):
        out.write(chunk)
    ctx.decompressed += info.size
    out.seek(0)
    return out
