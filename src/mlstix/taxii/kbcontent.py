"""The objects of the knowledge-base collection, compiled in memory from the packaged KB.

An installed package has no ``stix/`` folder, so the server compiles the authored YAML the same
way ``mlstix kb build`` does: the objects of ``bundle.json`` followed by those of
``mappings.json`` (the MITRE objects and ``related-to`` relationships), each id once.
"""

from __future__ import annotations

import json
from typing import Any

__all__ = ["kb_objects"]


def kb_objects() -> list[dict[str, Any]]:
    """Every STIX object of the knowledge base; raises ``KbDataError`` if the KB is invalid."""
    from mlstix.kb.compile import compile_kb
    from mlstix.kb.load import load_kb

    bundles = compile_kb(load_kb()).bundles()
    seen: set[str] = set()
    out: list[dict[str, Any]] = []
    for name in ("bundle.json", "mappings.json"):
        for obj in bundles[name]:
            data: dict[str, Any] = json.loads(obj.serialize())
            if data["id"] not in seen:
                seen.add(data["id"])
                out.append(data)
    return out
