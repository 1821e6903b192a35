"""Class 3, archive members that leave the folder they are extracted into: NeMo unpacks
``.nemo`` tars, SageMaker untars ``model.tar.gz``, ``get_file(extract=True)`` and ``torch.hub``
unpack downloads, and ``tarfile.extractall`` without a filter writes where a member says.
Absolute and ``..`` names, links out of the destination and members written through a symlink
member are ``models/archive-path-escape`` (high). Each was clean. The judgement is checked
against CPython's own extraction filter (PEP 706 ``tarfile.data_filter``) on the same members."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest

from mlstix.scan.models.formats._paths import escapes, link_escapes

from . import builders as b
from .conftest import Scan, rules

_RULE = "models/archive-path-escape"


def _tar(files: dict[str, bytes], links: list[tuple[str, str, bytes]] = ()) -> bytes:  # type: ignore[assignment]
    bio = io.BytesIO()
    with tarfile.open(fileobj=bio, mode="w:gz") as tar:
        for name, target, kind in links:
            info = tarfile.TarInfo(name)
            info.type, info.linkname = kind, target
            tar.addfile(info)
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return bio.getvalue()


_CFG = {"model_config.yaml": b"a: 1\n"}


@pytest.mark.parametrize(
    "archive",
    [
        _tar({**_CFG, "../../site-packages/evil.pth": b"import os\n"}),
        _tar({**_CFG, "/etc/cron.d/evil": b"* * * * * root id\n"}),
        _tar(_CFG, [("ssh", "/root/.ssh", tarfile.SYMTYPE)]),
        _tar(_CFG, [("up", "../../..", tarfile.SYMTYPE)]),
        _tar(_CFG, [("passwd", "/etc/passwd", tarfile.LNKTYPE)]),
        _tar({**_CFG, "d/evil.pth": b"x"}, [("d", "sub/../..", tarfile.SYMTYPE)]),
    ],
    ids=["dotdot", "absolute", "symlink-absolute", "symlink-up", "hardlink", "through-symlink"],
)
def test_a_member_that_leaves_the_extraction_folder_is_high(
    tmp_path: Path, scan: Scan, archive: bytes
) -> None:
    (tmp_path / "asr.nemo").write_bytes(archive)
    assert _RULE in rules(scan(tmp_path / "asr.nemo"), "asr.nemo")


def test_a_zip_member_that_leaves_the_folder_is_high(tmp_path: Path, scan: Scan) -> None:
    (tmp_path / "m.zip").write_bytes(b.zip_bytes({"..\\..\\evil.pth": b"x", "w.bin": b"\0"}))
    assert _RULE in rules(scan(tmp_path / "m.zip"), "m.zip")


def test_ordinary_archives_stay_clean(tmp_path: Path, scan: Scan) -> None:
    archive = _tar({**_CFG, "./model_weights.ckpt": b"\x80\x02}.", "a/../b/c.txt": b"x"},
                   [("latest", "model_weights.ckpt", tarfile.SYMTYPE)])  # fmt: skip
    (tmp_path / "asr.nemo").write_bytes(archive)
    assert _RULE not in rules(scan(tmp_path / "asr.nemo"), "asr.nemo")


@pytest.mark.parametrize(
    ("name", "target", "kind"),
    [("a/b", "", tarfile.REGTYPE), ("../x", "", tarfile.REGTYPE), ("/x", "", tarfile.REGTYPE),
     ("a/../../x", "", tarfile.REGTYPE), ("l", "../x", tarfile.SYMTYPE),
     ("d/l", "../x", tarfile.SYMTYPE), ("d/l", "../../x", tarfile.SYMTYPE),
     ("l", "/etc", tarfile.SYMTYPE), ("h", "a/b", tarfile.LNKTYPE), ("h", "../b", tarfile.LNKTYPE)],
)  # fmt: skip
def test_judged_as_cpythons_extraction_filter_judges(
    tmp_path: Path, name: str, target: str, kind: bytes
) -> None:
    """``tarfile.data_filter`` (PEP 706) refuses exactly the members we call escaping, but
    for absolute names, which it rewrites (strips the ``/``) where extraction without a filter
    (the default before Python 3.14, and NeMo's) writes them at that absolute path."""
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, target
    dest = tmp_path / "dest"
    dest.mkdir()
    try:
        filtered = tarfile.data_filter(info, str(dest))
        refused = filtered.name != info.name and info.name.startswith("/")
    except tarfile.FilterError:
        refused = True
    ours = escapes(name) or (
        kind != tarfile.REGTYPE and link_escapes(name, target, kind == tarfile.LNKTYPE)
    )
    assert ours == refused
