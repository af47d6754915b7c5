"""The catalog's own tables, versioned, and the migrations between versions.

A workspace outlives the code that wrote it: a notebook made with one release must open with
the next. The hidden ``__bqml`` schema records its layout version in ``__bqml.catalog_meta``;
opening a workspace applies every migration from its version to ``VERSION``, each in its own
transaction, and refuses a workspace written by a newer release instead of damaging it.

Versions:
1. bqml_magic 0.1.0 (no version recorded): ``object_tables`` and ``models``; model folders
   stored as absolute paths.
2. ``catalog_meta`` holds the version; model folders are stored relative to the workspace's
   model root, so a workspace can be moved or copied and its models still load.
3. Object-table listings record ``md5_hash``, ``updated`` and custom ``metadata`` as the store
   gives them (``storage/rows.py``); older listings, all of local files, get NULL digests
   (computed when read, as before), ``updated`` from the generation, and no metadata.
4. ``relations`` records what INFORMATION_SCHEMA shows and DuckDB does not keep: when a table,
   view or object table was created, and a view's query as the user wrote it. Older views get
   DuckDB's stored query rendered in BigQuery's dialect, and no creation time.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import duckdb
import sqlglot

from bqml_magic.catalog.db import run, transaction
from bqml_magic.errors import CatalogError
from bqml_magic.sql.names import quoted

SCHEMA = "__bqml"
VERSION = 5
OBJECT_TABLES = quoted(SCHEMA, "object_tables")
MODELS = quoted(SCHEMA, "models")
META = quoted(SCHEMA, "catalog_meta")
RELATIONS = quoted(SCHEMA, "relations")
VECTOR_INDEXES = quoted(SCHEMA, "vector_indexes")

_META_TABLE = f"CREATE TABLE {META} (key VARCHAR PRIMARY KEY, value VARCHAR)"
_RELATIONS_TABLE = f"CREATE TABLE {RELATIONS} (dataset VARCHAR, name VARCHAR, created TIMESTAMPTZ, definition VARCHAR)"
_VECTOR_INDEXES_TABLE = f"""CREATE TABLE {VECTOR_INDEXES} (
    dataset VARCHAR, table_name VARCHAR, index_name VARCHAR, column_name VARCHAR, storing VARCHAR[],
    index_type VARCHAR, distance_type VARCHAR, options_json VARCHAR, ddl VARCHAR,
    created TIMESTAMPTZ, refreshed TIMESTAMPTZ, stale BOOLEAN,
    snapshot VARCHAR, row_count BIGINT, width INTEGER, graph BLOB,
    PRIMARY KEY (dataset, table_name, index_name))"""
_LATEST = [
    f"CREATE SCHEMA IF NOT EXISTS {quoted(SCHEMA)}",
    f"""CREATE TABLE {OBJECT_TABLES} (
        dataset VARCHAR, name VARCHAR, uris VARCHAR[], connection VARCHAR,
        staleness_seconds DOUBLE, cache_mode VARCHAR, cache_table VARCHAR, refreshed TIMESTAMPTZ,
        PRIMARY KEY (dataset, name))""",
    f"""CREATE TABLE {MODELS} (
        dataset VARCHAR, name VARCHAR, model_type VARCHAR, model_path VARCHAR, folder VARCHAR,
        size_bytes BIGINT, schema_json VARCHAR, options_json VARCHAR, created TIMESTAMPTZ,
        PRIMARY KEY (dataset, name))""",
    _META_TABLE,
    _RELATIONS_TABLE,
    _VECTOR_INDEXES_TABLE,
]


def _v1_to_v2(con: duckdb.DuckDBPyConnection, models_root: Path) -> None:
    run(con, _META_TABLE)
    for dataset, name, folder in run(con, f"SELECT dataset, name, folder FROM {MODELS}"):
        run(
            con,
            f"UPDATE {MODELS} SET folder = ? WHERE dataset = ? AND name = ?",
            [relative_folder(Path(folder), models_root), dataset, name],
        )


def _v2_to_v3(con: duckdb.DuckDBPyConnection, models_root: Path) -> None:
    for (cache,) in run(con, f"SELECT cache_table FROM {OBJECT_TABLES}"):
        table = quoted(SCHEMA, cache)
        run(con, f"ALTER TABLE {table} ADD COLUMN IF NOT EXISTS md5_hash VARCHAR")
        run(con, f"ALTER TABLE {table} ADD COLUMN IF NOT EXISTS updated TIMESTAMPTZ")
        run(con, f"UPDATE {table} SET updated = make_timestamp(generation // 1000)")
        run(con, f"ALTER TABLE {table} ADD COLUMN IF NOT EXISTS metadata STRUCT(name VARCHAR, value VARCHAR)[]")


def _v3_to_v4(con: duckdb.DuckDBPyConnection, models_root: Path) -> None:
    run(con, _RELATIONS_TABLE)
    objects = {(d.lower(), n.lower()) for d, n in run(con, f"SELECT dataset, name FROM {OBJECT_TABLES}")}
    views = run(
        con,
        "SELECT schema_name, view_name, sql FROM duckdb_views() "
        "WHERE NOT internal AND database_name = current_database() AND schema_name <> ?",
        [SCHEMA],
    )
    for dataset, name, sql in views:
        if (dataset.lower(), name.lower()) not in objects:
            run(con, f"INSERT INTO {RELATIONS} VALUES (?, ?, NULL, ?)", [dataset, name, _rendered_view(sql)])


def _v4_to_v5(con: duckdb.DuckDBPyConnection, models_root: Path) -> None:
    run(con, _VECTOR_INDEXES_TABLE)


def _rendered_view(create_view: str) -> str | None:
    """A view's query as DuckDB stored it, in BigQuery's dialect: the nearest to the text, which was not kept."""
    try:
        create = sqlglot.parse_one(create_view, read="duckdb")
    except sqlglot.errors.SqlglotError:
        return None
    query = create.expression if isinstance(create, sqlglot.exp.Create) else None
    return query.sql("bigquery") if query is not None else None


MIGRATIONS: dict[int, Callable[[duckdb.DuckDBPyConnection, Path], None]] = {
    1: _v1_to_v2,
    2: _v2_to_v3,
    3: _v3_to_v4,
    4: _v4_to_v5,
}
"""version -> the step that brings a catalog of that version to the next one."""


def relative_folder(folder: Path, models_root: Path) -> str:
    """A model folder as stored: relative to the model root when inside it, else as it is."""
    try:
        return Path(os.path.relpath(folder, models_root)).as_posix() if folder.is_absolute() else folder.as_posix()
    except ValueError:  # another drive (Windows)
        return str(folder)


def prepare(con: duckdb.DuckDBPyConnection, models_root: Path) -> None:
    """Create the catalog's tables in a new workspace, or bring an older one up to ``VERSION``."""
    version = stored_version(con)
    if version is None:
        with transaction(con):
            for sql in _LATEST:
                run(con, sql)
            _set_version(con, VERSION)
        return
    if version > VERSION:
        raise CatalogError(
            f"This workspace's catalog has layout version {version}, written by a newer bqml_magic; "
            f"this one reads up to version {VERSION}. Upgrade bqml_magic (pip install -U bqml_magic)."
        )
    for step in range(version, VERSION):
        with transaction(con):
            MIGRATIONS[step](con, models_root)
            _set_version(con, step + 1)


def stored_version(con: duckdb.DuckDBPyConnection) -> int | None:
    """The catalog's layout version; None for a database without a catalog."""
    tables = {
        name
        for (name,) in run(con, "SELECT table_name FROM information_schema.tables WHERE table_schema = ?", [SCHEMA])
    }
    if "catalog_meta" in tables:
        rows = run(con, f"SELECT value FROM {META} WHERE key = 'version'")
        return int(rows[0][0]) if rows else None
    return 1 if "object_tables" in tables else None


def _set_version(con: duckdb.DuckDBPyConnection, version: int) -> None:
    run(con, f"INSERT OR REPLACE INTO {META} VALUES ('version', ?)", [str(version)])
