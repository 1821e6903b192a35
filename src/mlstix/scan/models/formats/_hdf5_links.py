"""HDF5 objects whose bytes live in other files: what loading the weights reads off the host.

HDF5 lets a link point into another file (``ExternalLink``), a dataset keep its bytes in raw
files named in its creation properties (external storage), and a virtual dataset map regions
of datasets in other files. ``h5py`` follows all three when a loader subscripts or reads them,
so a small ``.h5``/``.weights.h5`` (or the ``model.weights.h5`` of a ``.keras`` zip) makes
``load_model``/``load_weights`` read any file the process can read and hand its bytes back as
weights, which ``get_weights``, ``save`` or inference then disclose (CVE-2026-1669; Keras 3.13
and TF-Keras reject them, older versions and other HDF5 readers do not). No writer of model
weights makes any of them.

The links are listed without being followed (``visititems_links``; ``get(name,
getlink=True)``), and of datasets only their creation properties are read, never their data.

Reference: HDF5 User Guide (links, external storage, virtual datasets); h5py ``Group``,
``Dataset.external``, ``Dataset.virtual_sources``; keras ``saving_lib.safe_get_h5_dataset``.
"""

from __future__ import annotations

from typing import Any

from mlstix.scan.models._context import Context, Source

__all__ = ["check_links"]

_MAX_OBJECTS = 200_000  # links visited per file; past it the file is an error
_RULE = "models/keras-file-reference"
_CVE = "CVE-2026-1669"


def check_links(f: Any, src: Source, ctx: Context) -> None:
    """Report external links, external storage and virtual datasets that read other files."""
    import h5py  # type: ignore[import-untyped]

    seen = 0
    reported = 0

    def report(name: str, what: str, target: str) -> None:
        nonlocal reported
        reported += 1
        if reported <= 20:
            ctx.hit(_RULE, f"HDF5 {name!r} {what} {target!r}: h5py reads that file when the "
                    f"weights load, and its bytes become weights ({_CVE})", src,
                    hdf5_object=name, target=target, cve=_CVE)  # fmt: skip

    def visit(name: str, link: Any) -> int | None:
        nonlocal seen
        seen += 1
        if seen > _MAX_OBJECTS:
            return 1  # stop: reported below
        if isinstance(link, h5py.ExternalLink):
            report(name, "is an external link into", f"{link.filename}:{link.path}")
        elif isinstance(link, h5py.HardLink):
            obj = f.get(name)
            if isinstance(obj, h5py.Dataset):
                _dataset(name, obj, report)
        return None

    f.visititems_links(visit)
    if seen > _MAX_OBJECTS:
        ctx.malformed("models/unrecognized-model-file",
                      f"HDF5 file has more than {_MAX_OBJECTS} links to check", src)  # fmt: skip


def _dataset(name: str, ds: Any, report: Any) -> None:
    for entry in ds.external or ():
        report(name, "keeps its data in the external file", _text(entry[0]))
    if ds.is_virtual:
        for source in ds.virtual_sources():
            if source.file_name != ".":  # "." is this file
                report(
                    name, "is a virtual dataset mapping", f"{source.file_name}:{source.dset_name}"
                )


def _text(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
