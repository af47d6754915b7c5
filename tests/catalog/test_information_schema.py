"""INFORMATION_SCHEMA: each view over a catalog holding every kind of object, checked against the
columns and values BigQuery documents (docs/behaviour.md#information-schema)."""

from __future__ import annotations

import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from bqml_magic import Engine
from bqml_magic.catalog import schema
from bqml_magic.engine import CATALOG_FILE
from bqml_magic.errors import NotFoundError, SQLError

JPEGS = "SELECT uri FROM my_dataset.object_table WHERE uri LIKE '%.jpg'"


@pytest.fixture
def catalog(scorer: Engine) -> Engine:
    """``my_dataset`` with a table, a view, an object table and a model (``scorer``); ``other``, an
    empty dataset; ``more``, a table of its own."""
    scorer.query(f"""CREATE TABLE my_dataset.sizes AS (SELECT uri, size FROM my_dataset.object_table);
        CREATE VIEW my_dataset.jpegs AS {JPEGS};
        CREATE SCHEMA other;
        CREATE SCHEMA more;
        CREATE TABLE more.extra (id INT64 NOT NULL, label STRING)""")
    return scorer


def rows(frame: pd.DataFrame) -> list[tuple]:
    """A frame's rows as tuples, NULLs as None."""
    return list(frame.astype(object).where(frame.notna(), None).itertuples(index=False, name=None))


# -- the documented columns, in BigQuery's order --------------------------------------------
DOCUMENTED = {
    "TABLES": [
        "table_catalog", "table_schema", "table_name", "table_type", "managed_table_type", "is_insertable_into",
        "is_fine_grained_mutations_enabled", "is_typed", "is_change_history_enabled", "creation_time",
        "base_table_catalog", "base_table_schema", "base_table_name", "snapshot_time_ms", "replica_source_catalog",
        "replica_source_schema", "replica_source_name", "replication_status", "replication_error", "ddl",
        "default_collation_name", "sync_status", "upsert_stream_apply_watermark",
    ],
    "COLUMNS": [
        "table_catalog", "table_schema", "table_name", "column_name", "ordinal_position", "is_nullable", "data_type",
        "is_generated", "generation_expression", "is_stored", "is_hidden", "is_updatable", "is_system_defined",
        "is_partitioning_column", "clustering_ordinal_position", "collation_name", "column_default",
        "rounding_mode", "policy_tags",
    ],
    "TABLE_OPTIONS": ["table_catalog", "table_schema", "table_name", "option_name", "option_type", "option_value"],
    "VIEWS": ["table_catalog", "table_schema", "table_name", "view_definition", "check_option", "use_standard_sql"],
    "SCHEMATA": [
        "catalog_name", "schema_name", "schema_owner", "creation_time", "last_modified_time", "location", "ddl",
        "default_collation_name", "sync_status",
    ],
}  # fmt: skip


@pytest.mark.parametrize("view", DOCUMENTED)
def test_every_documented_column_in_order(catalog: Engine, view: str):
    frame = catalog.query(f"SELECT * FROM `region-us`.INFORMATION_SCHEMA.{view}")
    assert list(frame.columns) == DOCUMENTED[view]
    assert len(frame) > 0


# -- each view x each kind of object --------------------------------------------------------
SHOWN = {
    "TABLES": "table_name, table_type, managed_table_type, is_insertable_into, is_typed, is_change_history_enabled",
    "COLUMNS": "table_name, column_name, ordinal_position, is_nullable, data_type, is_hidden, is_partitioning_column",
    "TABLE_OPTIONS": "table_name, option_name, option_type, option_value",
    "VIEWS": "table_name, view_definition, check_option, use_standard_sql",
    "SCHEMATA": "schema_name, location, schema_owner",
}
OBJECTS = {"dataset": "other", "table": "sizes", "view": "jpegs", "object table": "object_table", "model": "scorer"}
OBJECT_COLUMNS = [
    ("uri", "STRING"), ("generation", "INT64"), ("content_type", "STRING"), ("size", "INT64"), ("md5_hash", "STRING"),
    ("updated", "TIMESTAMP"), ("metadata", "ARRAY<STRUCT<name STRING, value STRING>>"),
    ("ref", "STRUCT<uri STRING, version STRING, authorizer STRING, details JSON>"),
]  # fmt: skip
EXPECTED = {
    ("TABLES", "table"): [("sizes", "BASE TABLE", "NATIVE", "YES", "NO", "NO")],
    ("TABLES", "view"): [("jpegs", "VIEW", None, "NO", "NO", "NO")],
    ("TABLES", "object table"): [("object_table", "EXTERNAL", None, "NO", "NO", "NO")],
    ("COLUMNS", "table"): [
        ("sizes", "uri", 1, "YES", "STRING", "NO", "NO"),
        ("sizes", "size", 2, "YES", "INT64", "NO", "NO"),
    ],
    ("COLUMNS", "view"): [("jpegs", "uri", 1, "YES", "STRING", "NO", "NO")],
    ("COLUMNS", "object table"): [
        ("object_table", name, i, "YES", kind, "NO", "NO") for i, (name, kind) in enumerate(OBJECT_COLUMNS, 1)
    ],
    ("TABLE_OPTIONS", "object table"): [
        ("object_table", "object_metadata", "STRING", '"SIMPLE"'),
        ("object_table", "uris", "ARRAY<STRING>", '["gs://my_bucket/*"]'),
    ],
    ("VIEWS", "view"): [("jpegs", JPEGS, None, "YES")],
    ("SCHEMATA", "dataset"): [("other", "US", None)],
}  # fmt: skip
"""What each view shows of each kind of object [doc]; no entry: nothing (a model is not a table,
a dataset is not a table, only object tables have options here, only views are VIEWS)."""


@pytest.mark.parametrize("kind", OBJECTS)
@pytest.mark.parametrize("view", SHOWN)
def test_each_view_shows_each_kind_of_object_as_bigquery_does(catalog: Engine, view: str, kind: str):
    name_column = "schema_name" if view == "SCHEMATA" else "table_name"
    frame = catalog.query(
        f"SELECT {SHOWN[view]} FROM `region-us`.INFORMATION_SCHEMA.{view} WHERE {name_column} = @name",
        params={"name": OBJECTS[kind]},
    )
    assert rows(frame) == EXPECTED.get((view, kind), [])


def test_the_project_is_one_constant_and_every_dataset_is_in_the_us(catalog: Engine):
    frame = catalog.query("SELECT DISTINCT catalog_name, location FROM INFORMATION_SCHEMA.SCHEMATA")
    assert rows(frame) == [("bqml-local", "US")]
    tables = catalog.query("SELECT DISTINCT table_catalog FROM my_dataset.INFORMATION_SCHEMA.TABLES")
    assert rows(tables) == [("bqml-local",)]


# -- DDL as BigQuery writes it --------------------------------------------------------------
DDL = {
    "sizes": "CREATE TABLE `bqml-local.my_dataset.sizes`\n(\n  uri STRING,\n  size INT64\n);",
    "jpegs": f"CREATE VIEW `bqml-local.my_dataset.jpegs`\nAS {JPEGS};",
    "object_table": (
        "CREATE EXTERNAL TABLE `bqml-local.my_dataset.object_table`\nWITH CONNECTION `us.my-connection`\n"
        'OPTIONS(\n  object_metadata="SIMPLE",\n  uris=["gs://my_bucket/*"]\n);'
    ),
}


def test_tables_ddl_recreates_each_relation(catalog: Engine):
    frame = catalog.query("SELECT table_name, ddl FROM my_dataset.INFORMATION_SCHEMA.TABLES")
    assert dict(rows(frame)) == DDL
    schemata = catalog.query("SELECT ddl FROM `region-us`.INFORMATION_SCHEMA.SCHEMATA WHERE schema_name = 'more'")
    assert rows(schemata) == [('CREATE SCHEMA `bqml-local.more`\nOPTIONS(\n  location="us"\n);',)]


def test_a_ddl_runs_here_again(catalog: Engine):
    """The project prefix of a DDL is accepted, so TABLES.ddl recreates the object elsewhere."""
    ddl = catalog.query("SELECT ddl FROM more.INFORMATION_SCHEMA.TABLES WHERE table_name = 'extra'")["ddl"][0]
    catalog.query("DROP TABLE more.extra")
    catalog.query(ddl)
    columns = catalog.query("SELECT column_name, is_nullable, data_type FROM more.INFORMATION_SCHEMA.COLUMNS")
    assert rows(columns) == [("id", "NO", "INT64"), ("label", "YES", "STRING")]


def test_caching_options_of_an_object_table(engine: Engine):
    engine.query("""CREATE SCHEMA d;
        CREATE EXTERNAL TABLE d.cached WITH CONNECTION DEFAULT OPTIONS(object_metadata = 'SIMPLE',
            uris = ['gs://my_bucket/photos/*', 'gs://my_bucket/*.txt'],
            max_staleness = INTERVAL 90 MINUTE, metadata_cache_mode = 'MANUAL')""")
    options = engine.query("SELECT option_name, option_type, option_value FROM d.INFORMATION_SCHEMA.TABLE_OPTIONS")
    ddl = engine.query("SELECT ddl FROM d.INFORMATION_SCHEMA.TABLES")["ddl"][0]
    assert rows(options) == [
        ("object_metadata", "STRING", '"SIMPLE"'),
        ("uris", "ARRAY<STRING>", '["gs://my_bucket/photos/*", "gs://my_bucket/*.txt"]'),
        ("max_staleness", "INTERVAL", 'INTERVAL "0-0 0 1:30:0" YEAR TO SECOND'),
        ("metadata_cache_mode", "STRING", '"MANUAL"'),
    ]
    assert "\nWITH CONNECTION DEFAULT\n" in ddl and 'max_staleness=INTERVAL "0-0 0 1:30:0" YEAR TO SECOND' in ddl


# -- data types -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    "declared",
    [
        "INT64", "FLOAT64", "STRING", "BYTES", "BOOL", "TIMESTAMP", "DATETIME", "DATE", "TIME", "NUMERIC", "JSON",
        "INTERVAL", "ARRAY<STRING>", "STRUCT<name STRING, value INT64>", "ARRAY<STRUCT<name STRING, value STRING>>",
    ],
)  # fmt: skip
def test_a_declared_type_reads_back_as_written(engine: Engine, declared: str):
    engine.query(f"CREATE TABLE my_dataset.typed (x {declared})")
    frame = engine.query("SELECT data_type FROM my_dataset.INFORMATION_SCHEMA.COLUMNS WHERE table_name = 'typed'")
    assert rows(frame) == [(declared,)]


def test_computed_columns_get_bigquery_types(engine: Engine):
    """A view's NULL column is INT64 (BigQuery's type for an untyped NULL); a SUM DuckDB widens is INT64."""
    engine.query(
        "CREATE VIEW my_dataset.computed AS SELECT NULL AS nothing, SUM(size) AS total FROM my_dataset.object_table"
    )
    frame = engine.query(
        "SELECT column_name, data_type FROM my_dataset.INFORMATION_SCHEMA.COLUMNS WHERE table_name = 'computed'"
    )
    assert rows(frame) == [("nothing", "INT64"), ("total", "INT64")]


# -- scope: dataset, region, project --------------------------------------------------------
IN_MY_DATASET = {("my_dataset", "jpegs"), ("my_dataset", "object_table"), ("my_dataset", "sizes")}
EVERYWHERE = IN_MY_DATASET | {("more", "extra")}


@pytest.mark.parametrize(
    "name, expected",
    [
        ("my_dataset.INFORMATION_SCHEMA.TABLES", IN_MY_DATASET),
        ("`my_dataset`.INFORMATION_SCHEMA.TABLES", IN_MY_DATASET),
        ("`my_dataset.INFORMATION_SCHEMA.TABLES`", IN_MY_DATASET),
        ("`any-project.my_dataset.INFORMATION_SCHEMA.TABLES`", IN_MY_DATASET),
        ("`any-project`.my_dataset.INFORMATION_SCHEMA.TABLES", IN_MY_DATASET),
        ("My_Dataset.information_schema.Tables", IN_MY_DATASET),
        ("region-us.INFORMATION_SCHEMA.TABLES", EVERYWHERE),
        ("`region-us`.INFORMATION_SCHEMA.TABLES", EVERYWHERE),
        ("`REGION-US`.INFORMATION_SCHEMA.TABLES", EVERYWHERE),
        ("any-project.region-us.INFORMATION_SCHEMA.TABLES", EVERYWHERE),
        ("`any-project`.`region-us`.INFORMATION_SCHEMA.TABLES", EVERYWHERE),
        ("`region-eu`.INFORMATION_SCHEMA.TABLES", set()),
        ("`region-us-central1`.INFORMATION_SCHEMA.TABLES", set()),
    ],
)
def test_a_dataset_or_a_region_scopes_the_view(catalog: Engine, name: str, expected: set):
    """Hidden internals (the catalog's own schema, listing caches, staged streams) never show."""
    frame = catalog.query(f"SELECT table_schema, table_name FROM {name}")
    assert set(rows(frame)) == expected


@pytest.mark.parametrize(
    "name, expected",
    [
        ("INFORMATION_SCHEMA.SCHEMATA", {"my_dataset", "more", "other"}),
        ("`region-us`.INFORMATION_SCHEMA.SCHEMATA", {"my_dataset", "more", "other"}),
        ("any_project.INFORMATION_SCHEMA.SCHEMATA", {"my_dataset", "more", "other"}),
        ("`any-project`.`region-us`.INFORMATION_SCHEMA.SCHEMATA", {"my_dataset", "more", "other"}),
        ("`region-europe-west4`.INFORMATION_SCHEMA.SCHEMATA", set()),
    ],
)
def test_schemata_lists_the_projects_datasets(catalog: Engine, name: str, expected: set):
    assert set(catalog.query(f"SELECT schema_name FROM {name}")["schema_name"]) == expected


def test_the_view_is_named_as_bigquery_names_it(catalog: Engine):
    frame = catalog.query("""SELECT TABLES.table_name, c.column_name
        FROM more.INFORMATION_SCHEMA.TABLES JOIN more.INFORMATION_SCHEMA.COLUMNS AS c USING (table_name)""")
    assert rows(frame) == [("extra", "id"), ("extra", "label")]


@pytest.mark.parametrize(
    "sql, error, message",
    [
        ("SELECT * FROM INFORMATION_SCHEMA.TABLES", SQLError, "must be qualified with a dataset or a region"),
        ("SELECT * FROM nowhere.INFORMATION_SCHEMA.TABLES", NotFoundError, "Not found: Dataset nowhere"),
        ("SELECT * FROM my_dataset.INFORMATION_SCHEMA.TABLEZ", NotFoundError, "view TABLEZ; did you mean TABLES?"),
        ("SELECT * FROM my_dataset.INFORMATION_SCHEMA.JOBS", NotFoundError, "supported here: COLUMNS, SCHEMATA"),
        ("SELECT * FROM my_dataset.INFORMATION_SCHEMA", SQLError, "Invalid INFORMATION_SCHEMA name"),
        ("SELECT * FROM `region-us.my_dataset.INFORMATION_SCHEMA.TABLES`", SQLError, "Invalid INFORMATION_SCHEMA"),
        ("SELECT * FROM p.my_dataset.INFORMATION_SCHEMA.SCHEMATA", SQLError, "qualify it with a region"),
    ],
)
def test_a_wrong_name_says_what_and_where(catalog: Engine, sql: str, error: type, message: str):
    with pytest.raises(error, match=message) as caught:
        catalog.query(sql)
    assert (caught.value.line, caught.value.column) == (1, 15)


# -- read-only ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "sql",
    [
        "INSERT INTO my_dataset.INFORMATION_SCHEMA.TABLES (table_name) VALUES ('x')",
        "UPDATE my_dataset.INFORMATION_SCHEMA.TABLES SET table_name = 'x' WHERE true",
        "DELETE FROM my_dataset.INFORMATION_SCHEMA.TABLES WHERE true",
        "MERGE my_dataset.INFORMATION_SCHEMA.TABLES t USING my_dataset.sizes s ON false WHEN NOT MATCHED THEN "
        "INSERT (table_name) VALUES (s.uri)",
        "CREATE OR REPLACE TABLE my_dataset.INFORMATION_SCHEMA.TABLES AS SELECT 1 AS x",
        "CREATE VIEW `region-us`.INFORMATION_SCHEMA.VIEWS AS SELECT 1 AS x",
        "DROP TABLE my_dataset.INFORMATION_SCHEMA.TABLES",
        "DROP VIEW my_dataset.INFORMATION_SCHEMA.VIEWS",
        "CREATE EXTERNAL TABLE my_dataset.INFORMATION_SCHEMA.TABLES OPTIONS(object_metadata = 'SIMPLE', "
        "uris = ['gs://my_bucket/*'])",
    ],
)
def test_information_schema_is_read_only(catalog: Engine, sql: str):
    before = catalog.query("SELECT * FROM `region-us`.INFORMATION_SCHEMA.TABLES")
    for check in (catalog.dry_run, catalog.query):  # refused when the script is parsed, before anything runs
        with pytest.raises(SQLError, match="INFORMATION_SCHEMA is read-only") as caught:
            check(f"CREATE TABLE more.first AS SELECT 1 AS x;\n{sql}")
        assert caught.value.line == 2
    assert rows(catalog.query("SELECT * FROM `region-us`.INFORMATION_SCHEMA.TABLES")) == rows(before)


def test_reading_it_in_a_statement_that_writes_is_fine(catalog: Engine):
    catalog.query("""CREATE TABLE more.names AS SELECT table_name FROM my_dataset.INFORMATION_SCHEMA.TABLES;
        INSERT INTO more.names SELECT schema_name FROM INFORMATION_SCHEMA.SCHEMATA""")
    names = set(catalog.query("SELECT table_name FROM more.names")["table_name"])
    assert names == {"jpegs", "object_table", "sizes", "my_dataset", "more", "other"}


# -- views over it, what it remembers -------------------------------------------------------
def test_a_view_over_information_schema_reads_the_catalog_as_it_is_then(catalog: Engine):
    catalog.query(
        "CREATE VIEW more.listing AS SELECT table_schema, table_name FROM `region-us`.INFORMATION_SCHEMA.TABLES"
    )
    catalog.query("CREATE TABLE other.later (x INT64); DROP VIEW my_dataset.jpegs")
    listed = set(rows(catalog.query("SELECT * FROM more.listing")))
    assert listed == EVERYWHERE - {("my_dataset", "jpegs")} | {("more", "listing"), ("other", "later")}
    counted = catalog.query("SELECT COUNT(*) AS n FROM more.listing WHERE table_schema = 'my_dataset'")
    assert rows(counted) == [(2,)]
    definition = catalog.query("SELECT view_definition FROM more.INFORMATION_SCHEMA.VIEWS")["view_definition"][0]
    assert definition == "SELECT table_schema, table_name FROM `region-us`.INFORMATION_SCHEMA.TABLES"


def test_a_view_over_it_is_read_in_a_later_process(tmp_path: Path):
    """The views are defined on first use, not as a workspace opens, except where a stored view calls
    them: DuckDB binds that view (and any view created over it) in a process that has named no view."""
    created = f"""
from bqml_magic import Engine
Engine(workspace={str(tmp_path)!r}).query(
    "CREATE SCHEMA d; CREATE TABLE d.t (x INT64);"
    "CREATE VIEW d.names AS SELECT table_name FROM d.INFORMATION_SCHEMA.TABLES")
"""
    read = f"""
from bqml_magic import Engine
engine = Engine(workspace={str(tmp_path)!r})
engine.query("CREATE VIEW d.names_again AS SELECT * FROM d.names")
print(sorted(engine.query("SELECT table_name FROM d.names_again").table_name))
"""
    subprocess.run([sys.executable, "-c", created], check=True)
    done = subprocess.run([sys.executable, "-c", read], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "['names', 'names_again', 't']"


def test_creation_time_is_when_the_object_was_made_or_replaced(catalog: Engine):
    def created(name: str) -> datetime:
        sql = "SELECT creation_time FROM my_dataset.INFORMATION_SCHEMA.TABLES WHERE table_name = @name"
        return catalog.query(sql, params={"name": name})["creation_time"][0].to_pydatetime()

    before = datetime.now(timezone.utc)
    catalog.query(f"CREATE OR REPLACE VIEW my_dataset.jpegs AS {JPEGS} ORDER BY uri")
    after = datetime.now(timezone.utc)
    assert before <= created("jpegs") <= after
    assert created("sizes") <= before and created("object_table") <= created("sizes")
    definition = catalog.query("SELECT view_definition FROM my_dataset.INFORMATION_SCHEMA.VIEWS")
    assert rows(definition) == [(f"{JPEGS} ORDER BY uri",)]


def test_a_dropped_dataset_leaves_nothing_behind(catalog: Engine):
    catalog.query(
        "DROP SCHEMA my_dataset CASCADE; CREATE SCHEMA my_dataset; CREATE VIEW my_dataset.jpegs AS SELECT 1 AS x"
    )
    frame = catalog.query("SELECT table_name, view_definition FROM my_dataset.INFORMATION_SCHEMA.VIEWS")
    assert rows(frame) == [("jpegs", "SELECT 1 AS x")]


def test_functions_are_not_tables(catalog: Engine):
    catalog.query("CREATE FUNCTION more.twice(x INT64) AS (x * 2)")
    frame = catalog.query("SELECT table_name FROM more.INFORMATION_SCHEMA.TABLES")
    assert rows(frame) == [("extra",)]


def test_a_temporary_function_cannot_stand_in_for_a_view(catalog: Engine):
    """The views are macros called in FROM; a user's function, scalar, never replaces that call."""
    frame = catalog.query(
        "CREATE TEMP FUNCTION information_schema_tables(a ANY TYPE, b ANY TYPE) AS (1);\n"
        "SELECT table_name FROM more.INFORMATION_SCHEMA.TABLES"
    )
    assert rows(frame) == [("extra",)]


def test_the_dry_run_checks_it_like_any_table(catalog: Engine):
    report = catalog.dry_run("SELECT table_name FROM my_dataset.INFORMATION_SCHEMA.TABLES WHERE table_type = 'VIEW'")
    assert str(report).endswith("The script is valid.") and not report.problems
    created = catalog.dry_run("CREATE SCHEMA fresh; SELECT * FROM fresh.INFORMATION_SCHEMA.COLUMNS")
    assert "reads fresh.INFORMATION_SCHEMA, created earlier in this script" in str(created)
    with pytest.raises(NotFoundError, match="Not found: Dataset nowhere"):
        catalog.dry_run("SELECT * FROM nowhere.INFORMATION_SCHEMA.TABLES")


def test_views_of_an_older_workspace_show_their_stored_query(photos: Path, tmp_path: Path):
    """Layout 3 kept no view text: the upgrade renders DuckDB's stored query in BigQuery's dialect."""
    workspace = tmp_path / "ws"
    engine = Engine(workspace=workspace, buckets={"my_bucket": photos})
    engine.query("CREATE SCHEMA d; CREATE TABLE d.t (uri STRING); CREATE VIEW d.v AS SELECT uri FROM d.t")
    engine.close()
    with duckdb.connect(str(workspace / CATALOG_FILE)) as con:  # back to layout 3
        macros = con.execute(
            "SELECT function_name FROM duckdb_functions() WHERE function_type = 'table_macro' AND NOT internal"
        )
        assert macros.fetchall() == []  # the views' macros live in memory, never in the workspace
        con.execute(f"DROP TABLE {schema.RELATIONS}")
        con.execute(f"DROP TABLE {schema.VECTOR_INDEXES}")  # layout 5's
        con.execute(f"UPDATE {schema.META} SET value = '3' WHERE key = 'version'")
    engine = Engine(workspace=workspace, buckets={"my_bucket": photos})
    try:
        views = engine.query("SELECT table_name, view_definition FROM d.INFORMATION_SCHEMA.VIEWS")
        tables = engine.query("SELECT table_name, creation_time FROM d.INFORMATION_SCHEMA.TABLES")
    finally:
        engine.close()
    assert rows(views) == [("v", "SELECT uri FROM d.t")]
    assert rows(tables) == [("t", None), ("v", None)]
