"""Object tables: a listing cache in DuckDB plus a view with BigQuery's fixed columns.

The listing is written from a streamed walk into ``__bqml.<cache>``; the user's table is a
view over it that derives ``updated``, ``metadata`` and ``ref`` and computes ``md5_hash``
through a UDF, so it is only read where a query asks for it. ``data`` is not a column at all
(BigQuery's pseudocolumn): the translator turns it into ``bqml_read(uri)`` where used.
Refresh follows BigQuery's metadata caching: every query without ``max_staleness``; when
older than it with ``metadata_cache_mode='AUTOMATIC'``; only on request with ``'MANUAL'``.
"""

from __future__ import annotations

import contextlib
import re
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
from bqml_magic.storage.listing import OBJECT_SCHEMA, Pattern, list_objects
from bqml_magic.storage.uris import BucketMap

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
        cache = "objects__" + re.sub(r"\W", "_", f"{name.dataset}__{name.name}".lower())
        return cls(name, list(uris), connection, staleness, mode, cache)

    def view_sql(self) -> str:
        """The user-visible table: BigQuery's columns, md5 computed lazily per row."""
        auth = exp.null() if self.connection is None else exp.Literal.string(self.connection)
        return f"""
            SELECT uri, generation, content_type, size,
                   bqml_md5(uri, generation) AS md5_hash,
                   make_timestamp(generation // 1000)::TIMESTAMPTZ AS updated,
                   []::STRUCT(name VARCHAR, value VARCHAR)[] AS metadata,
                   {{'uri': uri, 'version': generation::VARCHAR, 'authorizer': {auth.sql("duckdb")}::VARCHAR,
                     'details': json_object('gcs_metadata', json_object(
                        'content_type', content_type, 'size', size,
                        'updated', strftime(make_timestamp(generation // 1000), '%Y-%m-%dT%H:%M:%S.%fZ')))}} AS ref
            FROM {quoted(SCHEMA, self.cache_table)}"""


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
    if unit in _UNIT_SECONDS:
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


def refresh(con: duckdb.DuckDBPyConnection, table: ObjectTable, buckets: BucketMap) -> None:
    """Re-list the objects into the cache table; the caller owns the transaction.

    A listing error (unmapped bucket, missing folder) surfaces as itself, not as DuckDB's
    wrapping of it, and the caller's rollback keeps the previous listing.
    """
    failures: list[BaseException] = []

    def batches() -> Iterator[pa.RecordBatch]:
        try:
            yield from list_objects(buckets, table.uris)
        except BaseException as exc:
            failures.append(exc)
            raise

    con.register("__bqml_listing", pa.RecordBatchReader.from_batches(OBJECT_SCHEMA, batches()))
    try:
        con.execute(
            f"CREATE OR REPLACE TABLE {quoted(SCHEMA, table.cache_table)} AS SELECT * FROM __bqml_listing"
        ).fetchall()
    except duckdb.Error:
        if failures:
            raise failures[0] from None
        raise
    finally:
        with contextlib.suppress(duckdb.Error):  # an aborted transaction refuses it; its rollback drops it anyway
            con.unregister("__bqml_listing")
