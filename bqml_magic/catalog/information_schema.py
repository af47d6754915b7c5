"""BigQuery's INFORMATION_SCHEMA views of this catalog: TABLES, COLUMNS, TABLE_OPTIONS, VIEWS,
SCHEMATA and VECTOR_INDEXES, with BigQuery's columns and values (docs/behaviour.md#information-schema).

Each view is a DuckDB table macro over DuckDB's own catalog (``duckdb_tables()``, ``duckdb_views()``,
``duckdb_columns()``, ``duckdb_schemas()``) and ours (``__bqml``), taking the dataset or the region
asked for. A statement's ``d.INFORMATION_SCHEMA.TABLES`` becomes a call of its macro
(``relation``), so the view is plain SQL to join, count, wrap in CTEs and views; and a view over it
stores the call, not our SQL, so reading that view later reads the catalog as it is then (the
translator, which re-resolves a stored view's table names, leaves a call alone).

The macros live in a small in-memory database attached to each connection (``install``), so the
workspace file never holds them: they are always this release's, whatever release wrote the
workspace. What DuckDB does not keep (when a relation was created, a view's text as written) is
recorded in ``__bqml.relations`` in the transaction that creates the relation (``remember``).
"""

from __future__ import annotations

import functools

import duckdb
import pyarrow as pa
from sqlglot import exp

from bqml_magic.catalog.db import run
from bqml_magic.catalog.schema import OBJECT_TABLES, RELATIONS, SCHEMA, VECTOR_INDEXES
from bqml_magic.sql.bigquery_words import bigquery_type
from bqml_magic.sql.metadata_names import MetadataRef, MetadataView
from bqml_magic.sql.names import Name, quoted

PROJECT = "bqml-local"
"""``table_catalog`` / ``catalog_name``: the one local project (a project named in SQL is ignored)."""
LOCATION = "US"
"""Every dataset's location: BigQuery's default for a dataset created without one [doc]."""
SYSTEM_DATABASE = "__bqml_system"
"""The in-memory database of the macros; ``__`` names are reserved, so no dataset shadows it."""
TYPE_UDF = "bqml_bigquery_type"
"""The Python function (``execution/udfs.py``) that writes a DuckDB type as BigQuery writes it."""
PLAIN_NAME = "[A-Za-z_][A-Za-z0-9_]*"
"""A column name that a DDL writes without backticks."""

_SYSTEM = quoted(SYSTEM_DATABASE, "main")
_PARAMS = "(wanted_dataset, wanted_region)"


def _literal(text: str) -> str:
    return exp.Literal.string(text).sql("duckdb")


def _path(*columns: str) -> str:
    """```project.dataset[.name]``` as a DDL writes it: SQL joining the project and ``columns``."""
    return " || '.' || ".join(["'`' || " + _literal(PROJECT), *columns]) + " || '`'"


_NL = "chr(10)"
_FACTS = f"LEFT JOIN {RELATIONS} AS f ON lower(f.dataset) = lower(r.dataset) AND lower(f.name) = lower(r.name)"
_OBJECT = f"{OBJECT_TABLES} AS o ON lower(o.dataset) = lower(r.dataset) AND lower(o.name) = lower(r.name)"

_DATASETS = f"""
    SELECT schema_name AS dataset FROM duckdb_schemas()
    WHERE database_name = current_database() AND NOT internal AND schema_name <> {_literal(SCHEMA)}
      AND (wanted_dataset IS NULL OR lower(schema_name) = lower(wanted_dataset))
      AND (wanted_region IS NULL OR upper(wanted_region) = {_literal(LOCATION)})"""

_RELATIONS = f"""
    SELECT d.dataset, t.table_name AS name, 'BASE TABLE' AS table_type
    FROM {_SYSTEM}.datasets{_PARAMS} AS d
    JOIN duckdb_tables() AS t ON t.database_name = current_database() AND t.schema_name = d.dataset
    UNION ALL
    SELECT d.dataset, v.view_name, CASE WHEN o.name IS NULL THEN 'VIEW' ELSE 'EXTERNAL' END
    FROM {_SYSTEM}.datasets{_PARAMS} AS d
    JOIN duckdb_views() AS v ON v.database_name = current_database() AND v.schema_name = d.dataset AND NOT v.internal
    LEFT JOIN {OBJECT_TABLES} AS o ON lower(o.dataset) = lower(v.schema_name) AND lower(o.name) = lower(v.view_name)"""

_STALENESS = "CAST(o.staleness_seconds AS BIGINT)"
_OPTIONS = f"""
    SELECT r.dataset, r.name, option.position, option.option_name, option.option_type, option.option_value
    FROM {_SYSTEM}.relations{_PARAMS} AS r
    JOIN {_OBJECT},
    UNNEST([
        {{'position': 1, 'option_name': 'object_metadata', 'option_type': 'STRING', 'option_value': '"SIMPLE"'}},
        {{'position': 2, 'option_name': 'uris', 'option_type': 'ARRAY<STRING>',
          'option_value': '[' || array_to_string(list_transform(o.uris, lambda u: to_json(u)::VARCHAR), ', ') || ']'}},
        {{'position': 3, 'option_name': 'max_staleness', 'option_type': 'INTERVAL',
          'option_value': CASE WHEN {_STALENESS} > 0 THEN printf('INTERVAL "0-0 %d %d:%d:%d" YEAR TO SECOND',
              {_STALENESS} // 86400, {_STALENESS} % 86400 // 3600, {_STALENESS} % 3600 // 60, {_STALENESS} % 60) END}},
        {{'position': 4, 'option_name': 'metadata_cache_mode', 'option_type': 'STRING',
          'option_value': '"' || o.cache_mode || '"'}}
    ]) AS options(option)
    WHERE option.option_value IS NOT NULL"""

_COLUMN_DDL = (
    f"'  ' || CASE WHEN regexp_full_match(column_name, {_literal(PLAIN_NAME)}) THEN column_name "
    "ELSE '`' || column_name || '`' END "
    f"|| ' ' || {TYPE_UDF}(data_type) || CASE WHEN is_nullable THEN '' ELSE ' NOT NULL' END"
)
_CONNECTION_DDL = f"""CASE WHEN o.connection IS NULL THEN ''
        WHEN o.connection = 'DEFAULT' THEN 'WITH CONNECTION DEFAULT' || {_NL}
        ELSE 'WITH CONNECTION `' || o.connection || '`' || {_NL} END"""

_TABLES = f"""
    SELECT {_literal(PROJECT)} AS table_catalog, r.dataset AS table_schema, r.name AS table_name, r.table_type,
        CASE WHEN r.table_type = 'BASE TABLE' THEN 'NATIVE' END AS managed_table_type,
        CASE WHEN r.table_type = 'BASE TABLE' THEN 'YES' ELSE 'NO' END AS is_insertable_into,
        'NO' AS is_fine_grained_mutations_enabled, 'NO' AS is_typed, 'NO' AS is_change_history_enabled,
        f.created AS creation_time,
        NULL::VARCHAR AS base_table_catalog, NULL::VARCHAR AS base_table_schema, NULL::VARCHAR AS base_table_name,
        NULL::TIMESTAMPTZ AS snapshot_time_ms,
        NULL::VARCHAR AS replica_source_catalog, NULL::VARCHAR AS replica_source_schema,
        NULL::VARCHAR AS replica_source_name, NULL::VARCHAR AS replication_status, NULL::VARCHAR AS replication_error,
        CASE r.table_type
            WHEN 'BASE TABLE' THEN 'CREATE TABLE ' || {_path("r.dataset", "r.name")}
                || {_NL} || '(' || {_NL} || c.columns || {_NL} || ');'
            WHEN 'VIEW' THEN 'CREATE VIEW ' || {_path("r.dataset", "r.name")} || {_NL} || 'AS ' || f.definition || ';'
            ELSE 'CREATE EXTERNAL TABLE ' || {_path("r.dataset", "r.name")} || {_NL} || {_CONNECTION_DDL}
                || 'OPTIONS(' || {_NL} || opts.options || {_NL} || ');'
        END AS ddl,
        NULL::VARCHAR AS default_collation_name, NULL::JSON AS sync_status,
        NULL::TIMESTAMPTZ AS upsert_stream_apply_watermark
    FROM {_SYSTEM}.relations{_PARAMS} AS r
    {_FACTS}
    LEFT JOIN {_OBJECT}
    LEFT JOIN (
        SELECT schema_name, table_name, string_agg({_COLUMN_DDL}, ',' || {_NL} ORDER BY column_index) AS columns
        FROM duckdb_columns() WHERE database_name = current_database() GROUP BY schema_name, table_name
    ) AS c ON c.schema_name = r.dataset AND c.table_name = r.name
    LEFT JOIN (
        SELECT dataset, name, string_agg('  ' || option_name || '=' || option_value, ',' || {_NL} ORDER BY position)
            AS options
        FROM {_SYSTEM}.options{_PARAMS} GROUP BY dataset, name
    ) AS opts ON opts.dataset = r.dataset AND opts.name = r.name
    ORDER BY r.dataset, r.name"""

_COLUMNS = f"""
    SELECT {_literal(PROJECT)} AS table_catalog, r.dataset AS table_schema, r.name AS table_name, c.column_name,
        CAST(c.column_index AS BIGINT) AS ordinal_position,
        CASE WHEN c.is_nullable THEN 'YES' ELSE 'NO' END AS is_nullable,
        {TYPE_UDF}(c.data_type) AS data_type,
        'NEVER' AS is_generated, NULL::VARCHAR AS generation_expression, NULL::VARCHAR AS is_stored,
        'NO' AS is_hidden, NULL::VARCHAR AS is_updatable, 'NO' AS is_system_defined, 'NO' AS is_partitioning_column,
        NULL::BIGINT AS clustering_ordinal_position, NULL::VARCHAR AS collation_name,
        c.column_default, NULL::VARCHAR AS rounding_mode, []::VARCHAR[] AS policy_tags
    FROM {_SYSTEM}.relations{_PARAMS} AS r
    JOIN duckdb_columns() AS c
      ON c.database_name = current_database() AND c.schema_name = r.dataset AND c.table_name = r.name
    ORDER BY r.dataset, r.name, c.column_index"""

_TABLE_OPTIONS = f"""
    SELECT {_literal(PROJECT)} AS table_catalog, dataset AS table_schema, name AS table_name,
        option_name, option_type, option_value
    FROM {_SYSTEM}.options{_PARAMS}
    ORDER BY dataset, name, position"""

_VIEWS = f"""
    SELECT {_literal(PROJECT)} AS table_catalog, r.dataset AS table_schema, r.name AS table_name,
        f.definition AS view_definition, NULL::VARCHAR AS check_option, 'YES' AS use_standard_sql
    FROM {_SYSTEM}.relations{_PARAMS} AS r
    {_FACTS}
    WHERE r.table_type = 'VIEW'
    ORDER BY r.dataset, r.name"""

_SCHEMATA = f"""
    SELECT {_literal(PROJECT)} AS catalog_name, dataset AS schema_name, NULL::VARCHAR AS schema_owner,
        NULL::TIMESTAMPTZ AS creation_time, NULL::TIMESTAMPTZ AS last_modified_time, {_literal(LOCATION)} AS location,
        'CREATE SCHEMA ' || {_path("dataset")} || {_NL} || 'OPTIONS(' || {_NL}
            || '  location="' || {_literal(LOCATION.lower())} || '"' || {_NL} || ');' AS ddl,
        NULL::VARCHAR AS default_collation_name, NULL::JSON AS sync_status
    FROM {_SYSTEM}.datasets{_PARAMS}
    ORDER BY dataset"""

_VECTOR_INDEXES = f"""
    SELECT {_literal(PROJECT)} AS table_catalog, i.dataset AS table_schema, i.table_name, i.index_name,
        'ACTIVE' AS index_status, i.created AS creation_time, i.refreshed AS last_modification_time,
        i.refreshed AS last_refresh_time, NULL::TIMESTAMPTZ AS disable_time, NULL::VARCHAR AS disable_reason,
        i.ddl, CASE WHEN i.stale THEN 0 ELSE 100 END::BIGINT AS coverage_percentage,
        CASE WHEN i.stale THEN NULL ELSE 0 END::BIGINT AS unindexed_row_count,
        CASE WHEN i.stale THEN 0 ELSE i.row_count END AS indexed_row_count,
        octet_length(i.graph)::BIGINT AS total_logical_bytes, octet_length(i.graph)::BIGINT AS total_storage_bytes
    FROM {_SYSTEM}.datasets{_PARAMS} AS d
    JOIN {VECTOR_INDEXES} AS i ON lower(i.dataset) = lower(d.dataset)
    ORDER BY i.dataset, i.table_name, i.index_name"""

VIEWS: dict[MetadataView, str] = {
    MetadataView.TABLES: _TABLES,
    MetadataView.COLUMNS: _COLUMNS,
    MetadataView.TABLE_OPTIONS: _TABLE_OPTIONS,
    MetadataView.VIEWS: _VIEWS,
    MetadataView.SCHEMATA: _SCHEMATA,
    MetadataView.VECTOR_INDEXES: _VECTOR_INDEXES,
}
"""Each view's query over ``wanted_dataset`` (NULL: every dataset) and ``wanted_region`` (NULL: any)."""
_HELPERS = {"datasets": _DATASETS, "relations": _RELATIONS, "options": _OPTIONS}


def _macro(view: MetadataView) -> str:
    return f"information_schema_{view.value.lower()}"


def install(con: duckdb.DuckDBPyConnection) -> None:
    """Define the macros on this database (its connection and cursors), once: when a statement first
    names an INFORMATION_SCHEMA view. Defining them costs ~20 ms, which a workspace reopened after
    idling would otherwise pay on every first query (docs/behaviour.md#workspace-sharing).

    The database is attached only with every macro defined, so being attached means installed."""
    if run(con, "SELECT 1 FROM duckdb_databases() WHERE database_name = ?", [SYSTEM_DATABASE]):
        return
    run(con, f"ATTACH ':memory:' AS {quoted(SYSTEM_DATABASE)}")
    try:
        macros = {**_HELPERS, **{_macro(view): body for view, body in VIEWS.items()}}  # helpers first: views call them
        for name, body in macros.items():
            run(con, f"CREATE MACRO {quoted(SYSTEM_DATABASE, 'main', name)}{_PARAMS} AS TABLE {body}")
    except BaseException:
        run(con, f"DETACH {quoted(SYSTEM_DATABASE)}")
        raise


def install_if_stored(con: duckdb.DuckDBPyConnection) -> None:
    """As a workspace opens: the macros, if a view of the catalog may call them (DuckDB binds a view's
    query whenever it is read or another view is created over it). Our record of each view's text is
    searched, not ``duckdb_views()``, which lists DuckDB's own hundred views too (~10 ms)."""
    if run(con, f"SELECT 1 FROM {RELATIONS} WHERE definition ILIKE '%information_schema%' LIMIT 1"):
        install(con)


_bigquery_type = functools.lru_cache(maxsize=1024)(bigquery_type)


def bigquery_types(duckdb_types: pa.Array) -> pa.Array:
    """``TYPE_UDF``: DuckDB type names as BigQuery writes them, each distinct one mapped once."""
    return pa.array([None if t is None else _bigquery_type(t) for t in duckdb_types.to_pylist()], pa.string())


def relation(ref: MetadataRef) -> exp.Table:
    """The view a statement names, as the table DuckDB reads: a call of its macro."""
    arguments = [exp.Literal.string(v) if v is not None else exp.null() for v in (ref.dataset, ref.region)]
    return exp.Table(
        this=exp.Anonymous(this=_macro(ref.view), expressions=arguments),
        db=exp.to_identifier("main", quoted=True),
        catalog=exp.to_identifier(SYSTEM_DATABASE, quoted=True),
    )


def remember(con: duckdb.DuckDBPyConnection, name: Name, definition: str | None) -> None:
    """A relation just created, in the caller's transaction: its creation time, a view's text."""
    forget(con, name)
    run(con, f"INSERT INTO {RELATIONS} VALUES (?, ?, now(), ?)", [name.dataset, name.name, definition])


def forget(con: duckdb.DuckDBPyConnection, name: Name) -> None:
    run(con, f"DELETE FROM {RELATIONS} WHERE lower(dataset) = ? AND lower(name) = ?", list(name.key))


def forget_dataset(con: duckdb.DuckDBPyConnection, dataset: str) -> None:
    run(con, f"DELETE FROM {RELATIONS} WHERE lower(dataset) = lower(?)", [dataset])
