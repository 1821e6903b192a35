"""Storage of the TAXII 2.1 collections, objects and status resources (SQLAlchemy Core).

Works the same on SQLite and PostgreSQL. Every write runs in one transaction that also writes its
status resource, and the server answers only after the commit: what was acknowledged is on disk,
and a killed process leaves either a whole POST or none of it. Pagination is keyset pagination on
(date_added, id), carried by an opaque cursor (:mod:`mlstix.taxii.cursor`), so it needs no state
in the server and works across processes and restarts.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Engine,
    and_,
    delete,
    func,
    insert,
    or_,
    select,
    true,
    update,
)

from mlstix.taxii._bodies import body_crc, check_body, same_json
from mlstix.taxii._schema import collections, make_engine, objects, statuses
from mlstix.taxii._time import format_us, now_us
from mlstix.taxii._values import (
    CollectionInfo,
    Filters,
    Page,
    StatusRecord,
    StoredObject,
    VersionFilter,
)
from mlstix.taxii.validate import ValidObject

__all__ = [
    "CollectionInfo",
    "Filters",
    "Page",
    "StatusRecord",
    "Store",
    "StoredObject",
    "VersionFilter",
]

_CHUNK = 400  # ids per IN (...) clause
MAX_STATUS_DETAILS = 1000  # success and failure entries kept per status (counts stay exact)


def _chunks(items: Sequence[str]) -> Iterable[Sequence[str]]:
    for start in range(0, len(items), _CHUNK):
        yield items[start : start + _CHUNK]


def _version_clause(vf: VersionFilter) -> ColumnElement[bool] | None:
    if vf.all:
        return None
    parts: list[ColumnElement[bool]] = []
    if vf.first:
        parts.append(objects.c.is_first == true())
    if vf.last:
        parts.append(objects.c.is_last == true())
    if vf.timestamps:
        parts.append(objects.c.version.in_(vf.timestamps))
    return or_(*parts) if parts else None


class Store:
    """The collections of one API root in one database."""

    def __init__(self, url: str, *, max_status_details: int = MAX_STATUS_DETAILS) -> None:
        self.engine: Engine = make_engine(url)
        self.max_status_details = max_status_details

    def close(self) -> None:
        self.engine.dispose()

    def _write(self) -> Any:
        return self.engine.connect().execution_options(taxii_write=True)

    # -- collections -------------------------------------------------------------------------

    def ensure_collection(self, info: CollectionInfo) -> None:
        """Create or update a collection; writes nothing when it is stored as ``info`` says."""
        if info in self.collections():
            return
        with self._write() as conn, conn.begin():
            found = conn.execute(
                select(collections.c.id).where(collections.c.id == info.id).with_for_update()
            ).first()
            values = {
                "title": info.title,
                "description": info.description,
                "alias": info.alias,
                "writable": info.writable,
            }
            if found is None:
                conn.execute(insert(collections).values(id=info.id, last_added=0, **values))
            else:
                conn.execute(update(collections).where(collections.c.id == info.id).values(values))

    def collections(self) -> tuple[CollectionInfo, ...]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(
                    collections.c.id,
                    collections.c.title,
                    collections.c.description,
                    collections.c.alias,
                    collections.c.writable,
                ).order_by(collections.c.title)
            ).all()
        return tuple(CollectionInfo(r[0], r[1], r[2] or "", r[3], bool(r[4])) for r in rows)

    # -- writes ------------------------------------------------------------------------------

    def add_objects(
        self,
        collection_id: str,
        valid: Sequence[ValidObject],
        rejected: Sequence[tuple[str | None, str]],
        owner: str | None,
        *,
        record_status: bool = True,
    ) -> StatusRecord:
        """Store ``valid`` in one transaction with the status resource that reports them and
        the ``rejected`` (id, message) pairs; return that status after the commit.

        An object stored before with the same id and version is "already stored" when its JSON
        is the same, whatever the order of its keys, and a failure otherwise."""
        requested = now_us()
        successes: list[dict[str, str]] = []
        failures = [{"id": oid or "", "message": msg} for oid, msg in rejected]
        with self._write() as conn, conn.begin():
            last_added = conn.execute(
                select(collections.c.last_added)
                .where(collections.c.id == collection_id)
                .with_for_update()
            ).scalar_one()
            existing = self._existing(conn, collection_id, sorted({v.object_id for v in valid}))
            stored_before = set(existing)
            new_rows: list[dict[str, Any]] = []
            for obj in valid:
                versions = existing.setdefault(obj.object_id, {})
                version = obj.version
                if version is None:  # unversioned (an SCO): identical content is the same object
                    same = next(
                        (v for v, (_, b) in versions.items() if same_json(b, obj.body)), None
                    )
                    if same is not None:
                        successes.append(_success(obj, versions[same][0], "already stored"))
                        continue
                elif version in versions:
                    if same_json(versions[version][1], obj.body):
                        successes.append(_success(obj, versions[version][0], "already stored"))
                    else:
                        failures.append(
                            {
                                "id": obj.object_id,
                                "version": versions[version][0],
                                "message": "a different object with this id and version "
                                "is already stored",
                            }
                        )
                    continue
                added = max(now_us(), last_added + 1)
                last_added = added
                version = added if version is None else version
                text = obj.version_text or format_us(added)
                versions[version] = (text, obj.body)
                new_rows.append(
                    {
                        "collection_id": collection_id,
                        "object_id": obj.object_id,
                        "type": obj.type,
                        "spec_version": obj.spec_version,
                        "version": version,
                        "version_text": text,
                        "date_added": added,
                        "is_first": False,
                        "is_last": False,
                        "body": obj.body,
                        "body_crc": body_crc(obj.body),
                    }
                )
                successes.append(_success(obj, text, "added"))
            if new_rows:
                self._insert_with_flags(conn, collection_id, new_rows, existing, stored_before)
                conn.execute(
                    update(collections)
                    .where(collections.c.id == collection_id)
                    .values(last_added=last_added)
                )
            cap = self.max_status_details
            record = StatusRecord(
                id=str(uuid.uuid4()),
                collection_id=collection_id,
                owner=owner,
                request_timestamp=requested,
                successes=tuple(successes[:cap]),
                failures=tuple(failures[:cap]),
                success_count=len(successes),
                failure_count=len(failures),
            )
            if record_status:
                conn.execute(
                    insert(statuses).values(
                        id=record.id,
                        collection_id=collection_id,
                        owner=owner,
                        request_timestamp=requested,
                        total_count=len(successes) + len(failures),
                        success_count=len(successes),
                        failure_count=len(failures),
                        successes=json.dumps(record.successes),
                        failures=json.dumps(record.failures),
                    )
                )
        return record

    def missing(self, collection_id: str, valid: Sequence[ValidObject]) -> list[ValidObject]:
        """The objects of ``valid`` not stored yet as they are (read only)."""
        with self.engine.connect() as conn:
            existing = self._existing(conn, collection_id, sorted({v.object_id for v in valid}))
        out: list[ValidObject] = []
        for obj in valid:
            stored = existing.get(obj.object_id, {})
            if obj.version is None:
                if any(same_json(b, obj.body) for _, b in stored.values()):
                    continue
            elif obj.version in stored and same_json(stored[obj.version][1], obj.body):
                continue
            out.append(obj)
        return out

    def prune_statuses(self, before_us: int) -> int:
        """Delete the status resources requested before ``before_us``; how many."""
        with self._write() as conn, conn.begin():
            result = conn.execute(delete(statuses).where(statuses.c.request_timestamp < before_us))
        return int(result.rowcount or 0)

    def _existing(
        self, conn: Connection, collection_id: str, ids: Sequence[str]
    ) -> dict[str, dict[int, tuple[str, str]]]:
        """id → version → (version text, body) of the stored versions of ``ids``."""
        found: dict[str, dict[int, tuple[str, str]]] = {}
        for chunk in _chunks(ids):
            rows = conn.execute(
                select(
                    objects.c.object_id, objects.c.version, objects.c.version_text, objects.c.body
                ).where(objects.c.collection_id == collection_id, objects.c.object_id.in_(chunk))
            )
            for oid, version, text, body in rows:
                found.setdefault(oid, {})[version] = (text, body)
        return found

    def _insert_with_flags(
        self,
        conn: Connection,
        collection_id: str,
        new_rows: list[dict[str, Any]],
        versions: dict[str, dict[int, tuple[str, str]]],
        stored_before: set[str],
    ) -> None:
        """Insert with ``is_first``/``is_last`` set from every known version, then fix the
        flags of previously stored versions of the same objects."""
        for row in new_rows:
            known = versions[row["object_id"]]
            row["is_first"] = row["version"] == min(known)
            row["is_last"] = row["version"] == max(known)
        conn.execute(insert(objects), new_rows)
        for oid in sorted(stored_before & {r["object_id"] for r in new_rows}):
            self._reflag(conn, collection_id, oid, versions[oid])

    @staticmethod
    def _reflag(
        conn: Connection, collection_id: str, object_id: str, known: dict[int, Any]
    ) -> None:
        where = and_(objects.c.collection_id == collection_id, objects.c.object_id == object_id)
        if not known:
            return
        conn.execute(
            update(objects)
            .where(where)
            .values(
                is_first=objects.c.version == min(known),
                is_last=objects.c.version == max(known),
            )
        )

    def delete_object(self, collection_id: str, object_id: str, flt: Filters) -> int:
        """Delete the versions of one object that match ``flt``; the number deleted."""
        with self._write() as conn, conn.begin():
            last_added = conn.execute(
                select(collections.c.last_added)
                .where(collections.c.id == collection_id)
                .with_for_update()
            ).scalar()
            where = [objects.c.collection_id == collection_id, objects.c.object_id == object_id]
            clause = _version_clause(flt.versions)
            if clause is not None:
                where.append(clause)
            if flt.spec_versions:
                where.append(objects.c.spec_version.in_(flt.spec_versions))
            count = conn.execute(delete(objects).where(*where)).rowcount or 0
            left = conn.execute(
                select(objects.c.version).where(
                    objects.c.collection_id == collection_id, objects.c.object_id == object_id
                )
            ).scalars()
            self._reflag(conn, collection_id, object_id, dict.fromkeys(left))
            if count:  # a new version of the collection: cached pages are not served again
                conn.execute(
                    update(collections)
                    .where(collections.c.id == collection_id)
                    .values(last_added=max(now_us(), (last_added or 0) + 1))
                )
        return count

    # -- reads -------------------------------------------------------------------------------

    def query(
        self,
        collection_id: str,
        flt: Filters,
        limit: int,
        after: tuple[int, str] | None,
        *,
        with_body: bool = True,
        max_bytes: int | None = None,
    ) -> Page:
        """Up to ``limit`` objects after the cursor key ``after``; with ``max_bytes``, fewer
        when their bodies would exceed it (at least one), and ``more`` is then true."""
        cols = [objects.c.object_id, objects.c.version_text, objects.c.date_added]
        if with_body:
            cols += [objects.c.body, objects.c.body_crc]
        where: list[ColumnElement[bool]] = [objects.c.collection_id == collection_id]
        if flt.ids:
            where.append(objects.c.object_id.in_(flt.ids))
        if flt.types:
            where.append(objects.c.type.in_(flt.types))
        if flt.spec_versions:
            where.append(objects.c.spec_version.in_(flt.spec_versions))
        clause = _version_clause(flt.versions)
        if clause is not None:
            where.append(clause)
        # date_added is unique per collection, so it alone orders the listing and resumes it:
        # an index range scan, whatever the page.
        floor = max(
            (v for v in (flt.added_after, after[0] if after else None) if v is not None),
            default=None,
        )
        if floor is not None:
            where.append(objects.c.date_added > floor)
        stmt = select(*cols).where(*where).order_by(objects.c.date_added).limit(limit + 1)
        with self.engine.connect() as conn:
            rows = conn.execute(stmt).all()
        items: list[StoredObject] = []
        size = 0
        for r in rows[:limit]:
            body = check_body(r[0], r[3], r[4]) if with_body else ""
            size += len(body) + 1
            if items and max_bytes is not None and size > max_bytes:
                return Page(items=tuple(items), more=True)
            items.append(StoredObject(r[0], r[1], r[2], body))
        return Page(items=tuple(items), more=len(rows) > limit)

    def count(self, collection_id: str) -> int:
        with self.engine.connect() as conn:
            return int(
                conn.execute(
                    select(func.count()).where(objects.c.collection_id == collection_id)
                ).scalar_one()
            )

    def status(self, status_id: str) -> StatusRecord | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(statuses).where(statuses.c.id == status_id)).first()
        if row is None:
            return None
        return StatusRecord(
            id=row.id,
            collection_id=row.collection_id,
            owner=row.owner,
            request_timestamp=row.request_timestamp,
            successes=tuple(json.loads(row.successes)),
            failures=tuple(json.loads(row.failures)),
            success_count=row.success_count,
            failure_count=row.failure_count,
        )


def _success(obj: ValidObject, version: str, message: str) -> dict[str, str]:
    return {"id": obj.object_id, "version": version, "message": message}
