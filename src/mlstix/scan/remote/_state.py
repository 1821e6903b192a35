"""The incremental scan state: per object, the identity it had (ETag, generation, blob id) and
what its scan found, so a rescan analyses only new and changed objects and still reports the
whole location.

Stored with SQLAlchemy Core like the TAXII server's storage: SQLite by default (``--state
FILE``), PostgreSQL for a state shared by scheduled jobs (``--state postgresql://...``, with the
psycopg driver). A row is reused only when the object's identity *and* the scan's fingerprint
(mlstix version, import allowlist, limits, hashing, byte cap) are the same, and only when its
scan completed without an error: an object that could not be fetched or analysed is scanned
again next time. Rows of objects that disappeared from a scanned location are deleted.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlstix.errors import MlstixError

__all__ = ["Row", "StateStore"]


@dataclass(frozen=True)
class Row:
    url: str
    identity: str
    fingerprint: str
    kind: str | None
    sha256: str | None
    hits: list[dict[str, Any]]


def _url(where: str) -> str:
    if "://" in where:
        return where
    path = Path(where)
    if path.is_dir():
        raise MlstixError(f"--state {where}: is a folder; give a file or a database URL")
    if not path.parent.is_dir():
        raise MlstixError(f"--state {where}: no such folder {path.parent}")
    return f"sqlite:///{path.resolve()}"


class StateStore:
    """The state in the database at ``where`` (a file path for SQLite, or a SQLAlchemy URL)."""

    def __init__(self, where: str) -> None:
        try:
            import sqlalchemy as sa
        except ImportError:
            raise MlstixError(
                "--state needs the Python package 'sqlalchemy', which is not installed",
                hint="pip install 'mlstix[remote]'",
            ) from None
        self._sa = sa
        self.where = where
        meta = sa.MetaData()
        self.table = sa.Table(
            "mlstix_remote_scan_state",
            meta,
            sa.Column("url", sa.String(2048), primary_key=True),
            sa.Column("identity", sa.String(512), nullable=False),
            sa.Column("fingerprint", sa.String(64), nullable=False),
            sa.Column("kind", sa.String(64)),
            sa.Column("sha256", sa.String(64)),
            sa.Column("hits", sa.Text, nullable=False),
            sa.Column("scanned_at", sa.Float, nullable=False),
        )
        url = _url(where)
        try:
            self.engine = sa.create_engine(url)
            with self.engine.begin() as conn:
                meta.create_all(conn)
        except ImportError as exc:  # the database driver (psycopg for PostgreSQL)
            raise MlstixError(
                f"--state {self._shown()}: needs the database driver {exc.name!r}",
                hint="pip install 'mlstix[remote]' (psycopg for PostgreSQL)",
            ) from None
        except (sa.exc.SQLAlchemyError, OSError) as exc:
            raise MlstixError(f"--state {self._shown()}: cannot open: {_short(exc)}") from None

    def _shown(self) -> str:
        if "://" not in self.where:
            return self.where
        return str(self._sa.engine.make_url(self.where).render_as_string(hide_password=True))

    def load(self, roots: Iterable[str]) -> dict[str, Row]:
        """The rows of every object under the locations ``roots``."""
        t = self.table
        out: dict[str, Row] = {}
        try:
            with self.engine.connect() as conn:
                for root in roots:
                    prefix = root.rstrip("/")
                    like = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
                    q = self._sa.select(t).where(
                        self._sa.or_(t.c.url == prefix, t.c.url.like(like + "/%", escape="\\"))
                    )
                    for r in conn.execute(q):
                        try:
                            hits = json.loads(r.hits)
                        except ValueError:
                            continue  # a damaged row is scanned again
                        if isinstance(hits, list):
                            out[r.url] = Row(
                                r.url, r.identity, r.fingerprint, r.kind, r.sha256, hits
                            )
        except self._sa.exc.SQLAlchemyError as exc:
            raise MlstixError(f"--state {self._shown()}: cannot read: {_short(exc)}") from None
        return out

    def save(self, rows: Iterable[Row], gone: Iterable[str]) -> None:
        """Write ``rows`` and delete the rows of objects in ``gone``, in one transaction."""
        t = self.table
        now = time.time()
        values = [
            {
                "url": r.url,
                "identity": r.identity,
                "fingerprint": r.fingerprint,
                "kind": r.kind,
                "sha256": r.sha256,
                "hits": json.dumps(r.hits, sort_keys=True, default=str),
                "scanned_at": now,
            }
            for r in rows
        ]
        gone = list(gone)
        try:
            with self.engine.begin() as conn:
                urls = [v["url"] for v in values] + gone
                for i in range(0, len(urls), 500):
                    conn.execute(self._sa.delete(t).where(t.c.url.in_(urls[i : i + 500])))
                for i in range(0, len(values), 500):
                    conn.execute(self._sa.insert(t), values[i : i + 500])
        except self._sa.exc.SQLAlchemyError as exc:
            raise MlstixError(f"--state {self._shown()}: cannot write: {_short(exc)}") from None

    def close(self) -> None:
        self.engine.dispose()


def _short(exc: BaseException) -> str:
    orig = getattr(exc, "orig", None)
    text = str(orig if orig is not None else exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
