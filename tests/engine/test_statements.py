"""Statements (docs/behaviour.md#statements), BigQuery's naming rules, and standard SQL over object tables."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pandas as pd
import pytest

from bqml_magic import BQMLError, Engine
from bqml_magic.errors import AlreadyExistsError, NotFoundError, SQLError


@pytest.mark.parametrize(
    "name",
    [
        "my_dataset.object_table",
        "`my_dataset.object_table`",
        "`my-project.my_dataset.object_table`",
        "`my-project.my_dataset`.object_table",
        "my-project.my_dataset.object_table",
        "MY_DATASET.Object_Table",
    ],
)
def test_name_forms(engine: Engine, name):
    assert engine.query(f"SELECT COUNT(*) AS n FROM {name}").n[0] == 3


def test_schema_lifecycle(engine: Engine):
    engine.query("CREATE SCHEMA IF NOT EXISTS my_dataset")  # no-op
    with pytest.raises(AlreadyExistsError):
        engine.query("CREATE SCHEMA my_dataset")
    engine.query("CREATE SCHEMA `my-project.other`; CREATE TABLE other.t AS (SELECT 1 AS x)")
    with pytest.raises(SQLError, match="not empty"):
        engine.query("DROP SCHEMA other")
    engine.query("DROP SCHEMA other CASCADE; DROP SCHEMA IF EXISTS other")
    with pytest.raises(NotFoundError, match="Dataset other"):
        engine.query("SELECT * FROM other.t")


def test_table_lifecycle(engine: Engine):
    engine.query("CREATE TABLE my_dataset.t (id INT64, label STRING)")
    engine.query("INSERT INTO my_dataset.t (id, label) VALUES (1, 'one'), (2, 'two')")
    with pytest.raises(AlreadyExistsError):
        engine.query("CREATE TABLE my_dataset.t AS (SELECT 1 AS id)")
    engine.query("CREATE TABLE IF NOT EXISTS my_dataset.t AS (SELECT 99 AS id)")  # does nothing
    assert engine.query("SELECT COUNT(*) AS n FROM my_dataset.t").n[0] == 2
    engine.query("CREATE OR REPLACE TABLE my_dataset.t AS (SELECT 7 AS id)")
    assert engine.query("SELECT id FROM my_dataset.t").id.tolist() == [7]
    with pytest.raises(SQLError, match="cannot be used together"):
        engine.query("CREATE OR REPLACE TABLE IF NOT EXISTS my_dataset.t AS (SELECT 1 AS id)")
    engine.query("DROP TABLE my_dataset.t; DROP TABLE IF EXISTS my_dataset.t")
    with pytest.raises(NotFoundError):
        engine.query("DROP TABLE my_dataset.t")


def test_drop_statements_drop_only_their_own_kind(engine: Engine):
    engine.query(
        "CREATE TABLE my_dataset.t AS (SELECT 1 AS id); CREATE VIEW my_dataset.v AS (SELECT id FROM my_dataset.t)"
    )
    with pytest.raises(SQLError, match=r"my_dataset.v is a view: drop it with DROP VIEW"):
        engine.query("DROP TABLE my_dataset.v")
    with pytest.raises(SQLError, match=r"my_dataset.t is a table: drop it with DROP TABLE"):
        engine.query("DROP VIEW my_dataset.t")
    engine.query("DROP VIEW my_dataset.v; DROP TABLE my_dataset.t")
    assert engine.table_kind("my_dataset.v") is None and engine.table_kind("my_dataset.t") is None


def test_failed_replace_keeps_the_old_table(engine: Engine):
    engine.query("CREATE TABLE my_dataset.t AS (SELECT 1 AS id)")
    with pytest.raises(BQMLError):
        engine.query("CREATE OR REPLACE TABLE my_dataset.t AS (SELECT no_such_column FROM my_dataset.object_table)")
    assert engine.query("SELECT id FROM my_dataset.t").id.tolist() == [1]


def test_drop_external_table(engine: Engine):
    engine.query("DROP EXTERNAL TABLE my_dataset.object_table")
    assert engine.table_kind("my_dataset.object_table") is None


def test_joins_aggregates_ctes_windows(engine: Engine):
    df = engine.query(
        """
        CREATE TABLE my_dataset.labels AS (
          SELECT 'image/jpeg' AS content_type, 'photo' AS kind UNION ALL SELECT 'image/png', 'drawing');
        WITH sized AS (
          SELECT o.uri, o.size, l.kind FROM my_dataset.object_table AS o
          JOIN my_dataset.labels AS l USING (content_type))
        SELECT kind, COUNT(*) AS n, SUM(size) AS bytes,
               ROW_NUMBER() OVER (ORDER BY kind) AS rank
        FROM sized GROUP BY kind ORDER BY kind"""
    )
    assert df.kind.tolist() == ["drawing", "photo"] and df.n.tolist() == [1, 1] and df["rank"].tolist() == [1, 2]


def test_unnest_with_offset_counts_from_zero(engine: Engine):
    df = engine.query("SELECT x, off FROM UNNEST(['a', 'b', 'c']) AS x WITH OFFSET AS off ORDER BY off")
    assert df.to_dict("list") == {"x": ["a", "b", "c"], "off": [0, 1, 2]}
    top = engine.query(
        """SELECT t.name, off FROM (SELECT 'v' AS name, [0.1, 0.7, 0.2] AS scores) AS t,
           UNNEST(t.scores) AS s WITH OFFSET off ORDER BY s DESC LIMIT 1"""
    )
    assert top.off.tolist() == [1]


def test_array_subscripts_count_as_bigquery_does_whatever_the_index(engine: Engine):
    """OFFSET from 0, ORDINAL from 1, for a literal, a column and a parameter alike (sqlglot shifted
    only literals: a top-1 label looked up with a column index came out one class off)."""
    df = engine.query(
        """SELECT i, l[OFFSET(i)] AS by_offset, @labels[OFFSET(i)] AS param_offset,
                  l[SAFE_OFFSET(i + 3)] AS past, l[SAFE_OFFSET(i - 3)] AS before,
                  l[ORDINAL(i + 1)] AS by_ordinal, l[OFFSET(1)] AS literal
           FROM (SELECT ['a', 'b', 'c'] AS l), UNNEST([0, 1, 2]) AS i ORDER BY i""",
        params={"labels": ["x", "y", "z"]},
    )
    assert df.by_offset.tolist() == df.by_ordinal.tolist() == ["a", "b", "c"]
    assert df.param_offset.tolist() == ["x", "y", "z"]
    assert df.past.isna().all() and df.before.isna().all()  # not counted from the end, as DuckDB would
    assert df.literal.tolist() == ["b"] * 3


def test_parameters_and_bigquery_column_names(engine: Engine):
    df = engine.query("SELECT @n + 1, 'x' AS named, UPPER(@s)", params={"n": 41, "s": "a"})
    assert list(df.columns) == ["f0_", "named", "f1_"]
    assert df.iloc[0].tolist() == [42, "x", "A"]
    with pytest.raises(SQLError, match="@missing"):
        engine.query("SELECT @missing")


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        ("SELECT x FROM UNNEST([5, 4, 3, 2, 1]) AS x ORDER BY x", [1, 2]),
        ("SELECT x FROM UNNEST([5, 4, 3, 2, 1]) AS x ORDER BY x LIMIT 1", [1]),
        ("SELECT x FROM UNNEST([5, 4, 3, 2, 1]) AS x ORDER BY x LIMIT 4 OFFSET 1", [2, 3]),
        ("SELECT 3 AS x UNION ALL SELECT 1 UNION ALL SELECT 2 ORDER BY x", [1, 2]),
        ("SELECT x FROM UNNEST([5, 4, 3]) AS x ORDER BY x LIMIT @n", [3, 4]),
    ],
)
def test_max_results_keeps_the_first_rows(engine: Engine, sql, expected):
    assert engine.query(sql, {"n": 3}, max_results=2).x.tolist() == expected


def test_max_results_limits_only_the_last_statement(engine: Engine):
    df = engine.query(
        "CREATE TABLE my_dataset.t AS SELECT x FROM UNNEST([1, 2, 3]) AS x; SELECT COUNT(*) AS n FROM my_dataset.t",
        max_results=1,
    )
    assert df.n.tolist() == [3]


def test_results_look_like_bigquery_dataframes(engine: Engine):
    df = engine.query("SELECT 1 AS i, CAST(NULL AS INT64) AS n, TRUE AS b, [1.5, 2.5] AS a, STRUCT(1 AS x) AS s")
    assert str(df.i.dtype) == "Int64" and pd.isna(df.n[0]) and str(df.b.dtype) == "boolean"
    assert df.a[0].tolist() == [1.5, 2.5] and df.s[0] == {"x": 1}


@pytest.mark.parametrize(
    ("sql", "error", "message"),
    [
        ("SELEC 1", SQLError, r'Syntax error: Unexpected identifier "SELEC"; did you mean SELECT\? \[at 1:1\]'),
        ("SELECT 1;\nSELECT uri FROM my_dataset.object_table WHERE", SQLError, r"\[at 2:"),
        ("SELECT * FROM my_dataset.nope", NotFoundError, "tables in my_dataset: object_table"),
        ("SELECT * FROM other.t", NotFoundError, "Dataset other"),
        ("SELECT * FROM object_table", SQLError, "qualified with a dataset"),
        (
            "SELECT urii FROM my_dataset.object_table",
            NotFoundError,
            r"Unrecognized name: urii; did you mean uri.*\[at 1:8\]",
        ),
        (
            "SELECT ML.DECODE_IMAGE(my_dataset.my_object_table.data) FROM my_dataset.object_table",
            NotFoundError,
            r"Unrecognized name: my_dataset.my_object_table.data; the query reads my_dataset.object_table \[at 1:24\]",
        ),
        (
            "SELECT uri FROM my_dataset.object_table WHERE uri = 1 + 'a'",
            SQLError,
            r"No matching signature for operator \+ for argument types: INT64, STRING \[at 1:53\]",
        ),
        ("SELECT ML.DECODE_IMAGE(data) 480 FROM my_dataset.object_table", SQLError, r"480.*\[at 1:30\]"),
        ("SELECT ML.NOPE(1)", SQLError, "Function not found: ML.NOPE"),
        ("SELECT ML.RESIZE_IMAGE(1)", SQLError, "takes 4 arguments"),
        ("", SQLError, "empty"),
    ],
)
def test_errors_say_what_and_where(engine: Engine, sql, error, message):
    with pytest.raises(error, match=message):
        engine.query(sql)


def test_workspace_persists_across_processes(photos, tmp_path):
    """A second process only reads: it finds what the first one created (and creates nothing)."""
    workspace = tmp_path / "ws"
    script = textwrap.dedent(
        f"""
        import sys
        from bqml_magic import Engine
        eng = Engine(workspace={str(workspace)!r}, buckets={{"my_bucket": {str(photos)!r}}})
        if sys.argv[1] == "create":
            eng.query("CREATE SCHEMA d; CREATE EXTERNAL TABLE d.objects OPTIONS(object_metadata='SIMPLE', uris=['gs://my_bucket/*']);"
                      "CREATE TABLE d.t AS (SELECT uri FROM d.objects)")
        print(eng.query("SELECT COUNT(*) AS n FROM d.t").n[0], eng.query("SELECT COUNT(*) AS n FROM d.objects").n[0])
        """
    )
    first = subprocess.run([sys.executable, "-c", script, "create"], capture_output=True, text=True, check=True)
    second = subprocess.run([sys.executable, "-c", script, "read"], capture_output=True, text=True)
    assert second.returncode == 0, second.stderr
    assert first.stdout.split() == second.stdout.split() == ["3", "3"]


def test_insert_select_streams_its_query_into_the_table(engine: Engine):
    engine.query("""CREATE TABLE my_dataset.sizes (uri STRING, size INT64);
        INSERT INTO my_dataset.sizes SELECT uri, size FROM my_dataset.object_table WHERE content_type LIKE 'image/%';
        INSERT INTO my_dataset.sizes (uri, size) VALUES ('extra', 1)""")
    df = engine.query("SELECT uri, size FROM my_dataset.sizes ORDER BY uri")
    assert df.uri.tolist() == [
        "extra",
        "gs://my_bucket/photos/grace_hopper.jpg",
        "gs://my_bucket/photos/more/coffee.png",
    ]


def test_insert_select_of_image_functions(engine: Engine):
    engine.query("""CREATE TABLE my_dataset.shapes (uri STRING, height INT64);
        INSERT INTO my_dataset.shapes
        SELECT uri, ML.DECODE_IMAGE(data).dimensions[OFFSET(0)] FROM my_dataset.object_table WHERE uri LIKE '%.jpg'""")
    assert engine.query("SELECT height FROM my_dataset.shapes").height.tolist() == [600]


@pytest.mark.parametrize("name", ['`z"; DROP SCHEMA victim CASCADE; CREATE SCHEMA "w`', '`z"" OR 1=1 --`'])
def test_a_quote_in_a_name_is_part_of_the_name(engine: Engine, name):
    engine.query(f"CREATE SCHEMA victim; CREATE TABLE victim.t AS (SELECT 1 AS x); CREATE SCHEMA {name}")
    assert engine.query("SELECT x FROM victim.t").x.tolist() == [1]
    engine.query(f"CREATE TABLE {name[:-1]}.t` AS (SELECT 2 AS y)")
    assert engine.query(f"SELECT y FROM {name[:-1]}.t`").y.tolist() == [2]
    engine.query(f"DROP SCHEMA {name} CASCADE")
    assert engine.query("SELECT x FROM victim.t").x.tolist() == [1]


def test_parameters_reach_the_query_of_create_table_as_and_insert(engine: Engine):
    engine.query(
        "CREATE TABLE my_dataset.p AS (SELECT @n AS v); INSERT INTO my_dataset.p SELECT @n + 1",
        {"n": 41},
    )
    assert engine.query("SELECT v FROM my_dataset.p ORDER BY v").v.tolist() == [41, 42]
