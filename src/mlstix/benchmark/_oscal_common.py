"""What the OSCAL documents of the benchmark share: our namespace, deterministic uuids, metadata
and the catalog's back-matter resource the profiles, the component definition and the assessment
results point at."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, time

from trestle.oscal import OSCAL_VERSION, common

from mlstix import __version__
from mlstix.kb.controls import Benchmark, Control

__all__ = [
    "CATALOG_HREF",
    "NS",
    "catalog_resource",
    "control_id",
    "metadata",
    "prop",
    "released",
    "uuid5",
]

NS = "https://github.com/mlstix/mlstix/ns/oscal"
_UUID_NS = uuid.UUID("3b0f6a53-54c4-4c43-9d55-6f0b8a0b2a11")
CATALOG_HREF = "mlcs-catalog.json"


def uuid5(*parts: str) -> str:
    return str(uuid.uuid5(_UUID_NS, "\x1f".join(parts)))


def control_id(control: Control) -> str:
    """The OSCAL id of a control: its id in lower case (``MLCS-3.2`` -> ``mlcs-3.2``)."""
    return control.id.lower()


def prop(name: str, value: str, *, ours: bool = True) -> common.Property:
    return common.Property(name=name, value=value, ns=NS if ours else None)


def released(bench: Benchmark) -> datetime:
    return datetime.combine(bench.info.released, time(0, 0), tzinfo=UTC)


def metadata(bench: Benchmark, title: str, when: datetime) -> common.Metadata:
    return common.Metadata(
        title=title,
        last_modified=when,
        published=released(bench),
        version=bench.info.version,
        oscal_version=common.OscalVersion(OSCAL_VERSION),
        props=[prop("generator", f"mlstix {__version__}")],
    )


def catalog_resource(bench: Benchmark) -> common.Resource:
    return common.Resource(
        uuid=uuid5("catalog-resource", bench.info.id, bench.info.version),
        title=f"{bench.info.title} {bench.info.version} (OSCAL catalog)",
        rlinks=[common.Rlink(href=CATALOG_HREF, media_type="application/oscal.catalog+json")],
    )
