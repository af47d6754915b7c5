"""Object tables: a listing cache in DuckDB plus a view with BigQuery's fixed columns.

The listing is written from a streamed walk or store listing into ``__bqml.<cache>``; the
user's table is a view over it that derives ``ref`` and computes ``md5_hash`` through a UDF
where the store gave none (a local file), so a file is only read where a query asks for it.
``data`` is not a column at all (BigQuery's pseudocolumn): the translator turns it into
``bqml_read({uri, generation, size})`` where used.
Refresh follows BigQuery's metadata caching: every query without ``max_staleness``; when
older than it with ``metadata_cache_mode='AUTOMATIC'``; only on request with ``'MANUAL'``.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

import duckdb
import pyarrow as pa
from sqlglot import exp

from bqml_magic.catalog.schema import SCHEMA
from bqml_magic.errors import SQLError
from bqml_magic.sql.names import Name, quoted
from bqml_magic.storage.listing import Skipped
from bqml_magic.storage.objects import ObjectStore
from bqml_magic.storage.rows import OBJECT_SCHEMA, Pattern

MIN_STALENESS = timedelta(minutes=30)
MAX_STALENESS = timedelta(days=7)
_KNOWN_OPTIONS = {"object_metadata", "uris", "max_staleness", "metadata_cache_mode", "description", "labels"}


@dataclass(frozen=True)
class ObjectTable:
    """An object table's definition as stored in the catalog."""

    name: Name
    uris: list[str]
    connection: str | None
    staleness: timedelta
    cache_mode: str | None
    cache_table: str

    @classmethod
    def from_options(cls, name: Name, connection: str | None, options: dict[str, Any]) -> ObjectTable:
        """Validate OPTIONS as BigQuery does; raise SQLError naming the bad option."""
        unknown = set(options) - _KNOWN_OPTIONS
        if unknown:
            raise SQLError(f"Unknown option(s) for an object table: {', '.join(sorted(unknown))}")
        if str(options.get("object_metadata", "")).upper() != "SIMPLE":
            raise SQLError("Object tables need OPTIONS(object_metadata = 'SIMPLE', uris = [...])")
        uris = options.get("uris")
        if isinstance(uris, str):
            uris = [uris]
        if not uris or not all(isinstance(u, str) and u for u in uris):
            raise SQLError("OPTIONS(uris = [...]) must be a non-empty array of URI strings")
        for uri in uris:
            Pattern.parse(uri)
        staleness = _staleness(options.get("max_staleness"))
        mode = options.get("metadata_cache_mode")
        mode = str(mode).upper() if mode is not None else None
        if mode not in (None, "AUTOMATIC", "MANUAL"):
            raise SQLError(f"metadata_cache_mode must be 'AUTOMATIC' or 'MANUAL', not {mode!r}")
        if staleness and mode is None:
            raise SQLError("max_staleness needs metadata_cache_mode = 'AUTOMATIC' or 'MANUAL'")
        return cls(name, list(uris), connection, staleness, mode, cache_table_name(name))

    def view_sql(self, source: str | None = None) -> str:
        """The user-visible table: BigQuery's columns, md5 computed lazily per row.

        ``source``: where the listed rows come from (default: the listing cache); a statement
        that streams the rows to DuckDB in small batches reads the same columns over its stream.
        """
        auth = exp.null() if self.connection is None else exp.Literal.string(self.connection)
        return f"""
            SELECT uri, generation, content_type, size,
                   CASE WHEN md5_hash IS NULL THEN bqml_md5(uri, generation) ELSE md5_hash END AS md5_hash,
                   updated, coalesce(metadata, []) AS metadata,
                   {{'uri': uri, 'version': generation::VARCHAR, 'authorizer': {auth.sql("duckdb")}::VARCHAR,
                     'details': json_object('gcs_metadata', json_object(
                        'content_type', content_type, 'size', size,
                        'updated', strftime(updated, '%Y-%m-%dT%H:%M:%S.%fZ')))}} AS ref
            FROM {source or quoted(SCHEMA, self.cache_table)}"""


def cache_table_name(name: Name) -> str:
    """The listing cache's table in ``__bqml``: readable, and distinct for distinct tables.

    The readable part alone collides (``a.b__c`` and ``a__b.c``, ``x-y`` and ``x_y``), so a hash
    of the exact (case-folded) name follows it. Only new tables get such names: the catalog keeps
    each table's cache name as recorded, so older workspaces need no migration.
    """
    dataset, table = name.key
    readable = re.sub(r"\W", "_", f"{dataset}__{table}")[:48]
    digest = hashlib.sha256(f"{dataset}\x00{table}".encode()).hexdigest()[:16]
    return f"objects__{readable}__{digest}"


class ListingWarning(UserWarning):
    """Entries under an object table's uris that its listing had to leave out."""


def _staleness(value: Any) -> timedelta:
    if value is None:
        return timedelta(0)
    if not isinstance(value, exp.Interval):
        raise SQLError("max_staleness must be an INTERVAL, e.g. INTERVAL 1 HOUR")
    seconds = _interval_seconds(value)
    delta = timedelta(seconds=seconds)
    if delta and not MIN_STALENESS <= delta <= MAX_STALENESS:
        raise SQLError("max_staleness must be 0 or between 30 minutes and 7 days")
    return delta


_UNIT_SECONDS = {"SECOND": 1, "MINUTE": 60, "HOUR": 3600, "DAY": 86400}


def _interval_seconds(interval: exp.Interval) -> float:
    text = interval.this.name
    unit = interval.unit.name.upper() if interval.unit else ""
    if unit in _UNIT_SECONDS and re.fullmatch(r"\s*\d+(?:\.\d+)?\s*", text):
        return float(text) * _UNIT_SECONDS[unit]
    # BigQuery's canonical form: INTERVAL 'Y-M D H:M:S' YEAR TO SECOND
    match = re.fullmatch(r"\s*(\d+)-(\d+)\s+(\d+)\s+(\d+):(\d+):(\d+(?:\.\d+)?)\s*", text)
    if match:
        y, mo, d, h, mi, s = (float(g) for g in match.groups())
        return (y * 365 + mo * 30 + d) * 86400 + h * 3600 + mi * 60 + s
    raise SQLError(f"Cannot read max_staleness INTERVAL {text!r} {unit}")


def needs_refresh(table: ObjectTable, refreshed: datetime | None, now: datetime | None = None) -> bool:
    """BigQuery's caching rule, applied before each query that reads the table."""
    if refreshed is None or not table.staleness:
        return True
    if table.cache_mode == "MANUAL":
        return False
    now = now or datetime.now(timezone.utc)
    return now - refreshed > table.staleness


def refresh(con: duckdb.DuckDBPyConnection, table: ObjectTable, objects: ObjectStore) -> None:
    """Re-list the objects into the cache table, and (re)define the table's view over it; the
    caller owns the transaction.

    A listing error (unmapped bucket, missing folder) surfaces as itself, not as DuckDB's
    wrapping of it, and the caller's rollback keeps the previous listing. Entries the listing
    left out (a symlink loop, an unreadable subfolder...) are named in a ListingWarning.
    """
    failures: list[BaseException] = []
    skipped: list[Skipped] = []

    def batches() -> Iterator[pa.RecordBatch]:
        try:
            yield from objects.list(table.uris, skipped)
        except BaseException as exc:
            failures.append(exc)
            raise

    con.register("__bqml_listing", pa.RecordBatchReader.from_batches(OBJECT_SCHEMA, batches()))
    try:
        con.execute(
            f"CREATE OR REPLACE TABLE {quoted(SCHEMA, table.cache_table)} AS SELECT * FROM __bqml_listing"
        ).fetchall()
        con.execute(f"CREATE OR REPLACE VIEW {table.name.sql()} AS {table.view_sql()}").fetchall()
    except duckdb.Error:
        if failures:
            raise failures[0] from None
        raise
    finally:
        with contextlib.suppress(duckdb.Error):  # an aborted transaction refuses it; its rollback drops it anyway
            con.unregister("__bqml_listing")
    if skipped:
        warnings.warn(ListingWarning(_skipped_text(table.name, skipped)), stacklevel=2)


def _skipped_text(name: Name, skipped: list[Skipped], shown: int = 5) -> str:
    listed = "; ".join(f"{s.uri} {s.reason}" for s in skipped[:shown])
    more = f"; and {len(skipped) - shown} more" if len(skipped) > shown else ""
    return f"Object table {name}: {len(skipped)} entr{'y' if len(skipped) == 1 else 'ies'} left out: {listed}{more}"
