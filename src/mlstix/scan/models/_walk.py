"""Collecting the files to scan from the user's paths.

Directories are walked without following symlinks out of the scanned root: a symlink whose
target lies outside the root is reported as an error and not read. Only regular files are
opened; FIFOs, sockets and devices (a FIFO would block the reader) are reported as errors and
not read. ``.git`` folders are skipped. Each file gets a display path (the user's path joined
with the relative path) used in every report.
"""

# Paths stay strings here: os.walk/os.path on large trees, no Path object per file.
# ruff: noqa: PTH110, PTH112, PTH114, PTH115, PTH116, PTH118, PTH119, PTH120

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path

from mlstix.errors import UsageError
from mlstix.findings.model import ScanError

__all__ = ["Target", "collect"]


@dataclass(frozen=True)
class Target:
    real: str  # resolved path to open
    display: str  # path shown in reports
    root: str  # resolved scan root (a directory)
    size: int


def _inside(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


_SPECIAL = (
    (stat.S_ISFIFO, "a FIFO"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
)


def _target(real: str, display: str, root: str) -> Target | ScanError | None:
    """The file to scan; a :class:`ScanError` for a special file (never opened: a FIFO
    would block the reader forever); ``None`` for what vanished or is a directory."""
    try:
        st = os.stat(real)
    except OSError as exc:
        return ScanError(display, f"cannot read: {exc.strerror or exc}")
    if stat.S_ISREG(st.st_mode):
        return Target(real, display, root, st.st_size)
    for test, what in _SPECIAL:
        if test(st.st_mode):
            return ScanError(display, f"{what}, not a regular file: not read")
    return None


def collect(paths: list[str], ignored: object = None) -> tuple[list[Target], list[ScanError]]:
    """Files under ``paths`` (deduplicated by real path) and the errors met while walking.
    ``ignored`` is a callable taking a path relative to its root."""
    is_ignored = ignored if callable(ignored) else (lambda _rel: False)
    targets: dict[str, Target] = {}
    errors: list[ScanError] = []
    for arg in paths:
        if not os.path.lexists(arg):
            scheme, sep, _ = arg.partition("://")
            if sep and scheme.isalnum():
                raise UsageError(
                    f"{arg}: {scheme}:// is not a location mlstix reads; it reads local paths "
                    "and s3://, gs://, az://, hf:// (pip install 'mlstix[remote]')"
                )
            raise UsageError(f"{arg}: no such file or directory")
        if os.path.isdir(arg):
            root = os.path.realpath(arg)
            for dirpath, dirnames, filenames in os.walk(arg, followlinks=False):
                dirnames[:] = sorted(d for d in dirnames if d != ".git")
                rel_dir = os.path.relpath(dirpath, arg)
                real_dir = os.path.normpath(os.path.join(root, rel_dir))  # no symlinked dirs
                for d in dirnames:
                    full = os.path.join(dirpath, d)
                    if os.path.islink(full) and not _inside(os.path.realpath(full), root):
                        errors.append(_escape_error(full, root))
                for name in sorted(filenames):
                    full = os.path.join(dirpath, name)
                    rel = os.path.normpath(os.path.join(rel_dir, name))
                    if is_ignored(rel):
                        continue
                    if os.path.islink(full):
                        if not _inside(os.path.realpath(full), root):
                            errors.append(_escape_error(full, root))
                        continue  # a target inside the root is scanned under its own name
                    real = os.path.join(real_dir, name)
                    t = _target(real, os.path.normpath(full), root)
                    if isinstance(t, ScanError):
                        errors.append(t)
                    elif t is not None:
                        targets.setdefault(real, t)
        else:
            real = os.path.realpath(arg)
            root = os.path.dirname(real)
            if is_ignored(os.path.basename(arg)):
                continue
            t = _target(real, os.path.normpath(arg), root)
            if not isinstance(t, Target):
                if not os.path.exists(arg):
                    raise UsageError(f"{arg}: broken symlink")
                raise UsageError(f"{arg}: not a regular file or directory")
            targets.setdefault(real, t)
    return list(targets.values()), errors


def _escape_error(full: str, root: str) -> ScanError:
    target = os.readlink(full) if os.path.islink(full) else Path(full).resolve()
    return ScanError(
        os.path.normpath(full),
        f"symlink to {target} leaves the scanned root {root}; not followed",
    )
