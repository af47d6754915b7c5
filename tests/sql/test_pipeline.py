"""The BigQuery -> DuckDB pipeline, in sqlglot's style: BigQuery in, DuckDB out, no engine.

A fake catalog answers the names; every test goes through ``translate``, the one entry point
that queries, counts, views, DML and the dry run share.
"""

from __future__ import annotations

from typing import ClassVar

import pytest
import sqlglot
from sqlglot import exp

from bqml_magic.errors import NotFoundError, SQLError
from bqml_magic.sql.kinds import RelationKind
from bqml_magic.sql.names import Name
from bqml_magic.sql.pipeline import RULES, translate
from bqml_magic.vectors.distance import DistanceType


class Catalog:
    """``d.photos`` is an object table, ``d.t`` a table; anything else is not found."""

    kinds: ClassVar[dict[tuple[str, str], RelationKind]] = {
        ("d", "photos"): RelationKind.OBJECT_TABLE,
        ("d", "t"): RelationKind.TABLE,
    }

    def __init__(self) -> None:
        self.asked: list[Name] = []

    def relation_kind(self, name: Name) -> RelationKind:
        self.asked.append(name)
        if name.key not in self.kinds:
            raise NotFoundError(f"Not found: Table {name}")
        return self.kinds[name.key]

    def view_query(self, name: Name) -> exp.Expression | None:
        return self.views.get(name.key)

    def object_rows(self, name: Name, source: str) -> tuple[exp.Expr, str]:
        return sqlglot.parse_one(f"SELECT uri, md5(uri) AS md5_hash FROM {source}", read="duckdb"), f"LIST {name}"

    def function(self, name: Name | str) -> None:
        """No user-defined functions here (tests/engine/test_sql_functions.py has them)."""
        if isinstance(name, Name):
            raise NotFoundError(f"Function not found: {name}")

    views: ClassVar[dict[tuple[str, str], exp.Expression]] = {}


REF_PHOTOS = "{'uri': photos.uri, 'generation': photos.generation, 'size': photos.size}"
REF_P = "{'uri': p.uri, 'generation': p.generation, 'size': p.size}"
"""What the ``data`` pseudocolumn of an object table's row gives ``bqml_read`` and the ``_file`` UDFs."""


def duckdb_sql(bigquery: str, **options) -> str:
    return translate(sqlglot.parse_one(bigquery, read="bigquery"), Catalog(), **options).sql


@pytest.mark.parametrize(
    ("bigquery", "duckdb"),
    [
        # names: any quoting, project ignored, the dataset is the DuckDB schema
        ("SELECT uri FROM `project.d.photos`", 'SELECT uri FROM "d"."photos"'),
        ("SELECT uri FROM `project.d`.photos AS p", 'SELECT uri FROM "d"."photos" AS p'),
        (
            "SELECT p.uri, t.x FROM d.photos AS p JOIN d.t AS t ON p.uri = t.uri",
            'SELECT p.uri, t.x FROM "d"."photos" AS p JOIN "d"."t" AS t ON p.uri = t.uri',
        ),
        # the data pseudocolumn: read where used, by the table it belongs to; inside ML.* the
        # worker reads it (the _file form takes the uri), so DuckDB never holds the bytes
        ("SELECT data FROM d.photos", f'SELECT BQML_READ({REF_PHOTOS}) AS data FROM "d"."photos"'),
        (
            "SELECT ML.DECODE_IMAGE(p.data) AS img FROM d.photos AS p",
            f'SELECT BQML_DECODE_IMAGE_FILE({REF_P}) AS img FROM "d"."photos" AS p',
        ),
        (
            "SELECT uri FROM d.photos WHERE ARRAY_LENGTH(ML.DECODE_IMAGE(data).dimensions) = 3",
            f'SELECT uri FROM "d"."photos" WHERE ARRAY_LENGTH(BQML_DECODE_IMAGE_FILE({REF_PHOTOS}).dimensions) = 3',
        ),
        ("SELECT data FROM d.t", 'SELECT data FROM "d"."t"'),  # a table's own column named data stays
        # UNNEST ... WITH OFFSET counts from 0, as in BigQuery
        (
            "SELECT s, off FROM d.t, UNNEST(t.scores) AS s WITH OFFSET off",
            'SELECT s, off FROM "d"."t" CROSS JOIN '
            "(SELECT UNNEST(t.scores) AS s, UNNEST(RANGE(LENGTH(t.scores))) AS off) AS _unnest0",
        ),
        # BigQuery's names for unnamed columns
        ("SELECT 1 + 1, x, 2 * x FROM d.t", 'SELECT 1 + 1 AS f0_, x, 2 * x AS f1_ FROM "d"."t"'),
        # optional arguments: the short UDF form
        ("SELECT ML.DISTANCE([1.0], [2.0]) AS d", "SELECT BQML_DISTANCE_2([1.0e0], [2.0e0]) AS d"),
        # a literal with a decimal point is FLOAT64, as in BigQuery (DuckDB: DECIMAL); others as written
        (
            "SELECT 0.5 AS a, -1.25 AS b, 5. AS c, 1e3 AS d, 2.5E-3 AS e, 7 AS f, '0.5' AS g",
            "SELECT 0.5e0 AS a, -1.25e0 AS b, 5e0 AS c, 1e3 AS d, 2.5E-3 AS e, 7 AS f, '0.5' AS g",
        ),
        # CTE names are not catalog names
        (
            "WITH c AS (SELECT uri FROM d.photos) SELECT uri FROM c",
            'WITH c AS (SELECT uri FROM "d"."photos") SELECT uri FROM c',
        ),
        # a name that tries to end its quotes stays one name
        ("SELECT x FROM `d.t`", 'SELECT x FROM "d"."t"'),
    ],
)
def test_bigquery_in_duckdb_out(bigquery, duckdb):
    assert duckdb_sql(bigquery) == duckdb


def test_a_quote_in_a_name_cannot_end_the_identifier():
    Catalog.kinds[("d", 'x"; drop schema victim cascade; --')] = RelationKind.TABLE
    try:
        sql = duckdb_sql('SELECT x FROM `d.x"; DROP SCHEMA victim CASCADE; --`')
    finally:
        del Catalog.kinds[("d", 'x"; drop schema victim cascade; --')]
    assert sql == 'SELECT x FROM "d"."x""; DROP SCHEMA victim CASCADE; --"'
    assert len(sqlglot.parse(sql, read="duckdb")) == 1


def test_ml_predict_becomes_a_placeholder_and_its_input_a_query_of_its_own():
    statement = sqlglot.parse_one(
        "WITH imgs AS (SELECT uri, ML.RESIZE_IMAGE(ML.DECODE_IMAGE(data), 8, 8, FALSE) AS image FROM d.photos)\n"
        "SELECT p.uri FROM ML.PREDICT(MODEL `project.d.m`, TABLE imgs) AS p",
        read="bigquery",
    )
    translation = translate(statement, Catalog())
    [call] = translation.predictions
    assert (
        translation.sql == f"WITH imgs AS (SELECT uri, BQML_RESIZE_IMAGE(BQML_DECODE_IMAGE_FILE({REF_PHOTOS}), "
        f'8, 8, FALSE) AS image FROM "d"."photos") SELECT p.uri FROM {call.placeholder} AS p'
    )
    assert call.model == Name("d", "m") and call.where == {"line": 2, "column": 36}
    # the input is the CTE's body, in BigQuery's SQL: it goes through the pipeline itself, streamed
    assert (
        call.input.sql("bigquery")
        == "SELECT uri, ML.RESIZE_IMAGE(ML.DECODE_IMAGE(data), 8, 8, FALSE) AS image FROM d.photos"
    )


def test_vector_search_becomes_a_placeholder_its_tables_queries_of_their_own():
    statement = sqlglot.parse_one(
        "WITH q AS (SELECT emb FROM d.photos WHERE uri = 'x')\n"
        "SELECT s.base.uri, s.distance FROM VECTOR_SEARCH(TABLE d.t, 'emb', TABLE q, top_k => 3,\n"
        "  distance_type => 'cosine', options => '{\"fraction_lists_to_search\": 0.1}') AS s",
        read="bigquery",
    )
    translation = translate(statement, Catalog())
    [call] = translation.searches
    assert translation.sql.endswith(f"FROM {call.placeholder} AS s") and "VECTOR_SEARCH" not in translation.sql
    assert call.base.sql("bigquery") == "SELECT * FROM d.t" and call.base_table == Name("d", "t")
    assert call.query.sql("bigquery") == "SELECT emb FROM d.photos WHERE uri = 'x'"
    assert (call.column, call.query_column, call.top_k) == ("emb", "emb", 3)
    assert call.distance_type is DistanceType.COSINE and call.fraction_lists_to_search == 0.1
    assert call.column_at == {"line": 2, "column": 61} and not call.use_brute_force


def test_a_subquery_base_has_no_table_an_index_could_serve():
    statement = sqlglot.parse_one(
        "SELECT * FROM VECTOR_SEARCH((SELECT * FROM d.t), 'emb', (SELECT [1.0] AS v), query_column_to_search => 'v')",
        read="bigquery",
    )
    [call] = translate(statement, Catalog()).searches
    assert call.base_table is None and call.query_column == "v" and call.top_k == 10 and call.distance_type is None


def test_a_nested_ml_predict_is_its_input_s_business():
    inner = "ML.PREDICT(MODEL d.a, (SELECT uri FROM d.photos))"
    translation = translate(
        sqlglot.parse_one(f"SELECT * FROM ML.PREDICT(MODEL d.b, (SELECT * FROM {inner}))", read="bigquery"), Catalog()
    )
    [call] = translation.predictions
    assert call.model == Name("d", "b") and "ML.PREDICT(MODEL d.a" in call.input.sql("bigquery")


def test_an_input_reads_the_statement_s_ctes_it_needs():
    statement = sqlglot.parse_one(
        "WITH a AS (SELECT uri FROM d.photos), b AS (SELECT uri FROM a), unused AS (SELECT 1)\n"
        "SELECT * FROM ML.PREDICT(MODEL d.m, (SELECT uri FROM b))",
        read="bigquery",
    )
    [call] = translate(statement, Catalog()).predictions
    assert (
        call.input.sql("bigquery") == "WITH a AS (SELECT uri FROM d.photos), b AS (SELECT uri FROM a) SELECT uri FROM b"
    )


def test_lifting_takes_top_level_ml_projections_out_of_duckdb():
    translation = translate(
        sqlglot.parse_one(
            "SELECT uri, ML.RESIZE_IMAGE(ML.DECODE_IMAGE(data), 8, 8, FALSE) AS img FROM d.photos WHERE size > 0",
            read="bigquery",
        ),
        Catalog(),
        lift=True,
    )
    plan = translation.lifted
    assert plan is not None
    assert translation.sql == (
        f"SELECT uri, CAST(NULL AS BOOLEAN) AS __bqml_out0, {REF_PHOTOS} AS __bqml_arg0, "
        '8 AS __bqml_arg1, 8 AS __bqml_arg2, FALSE AS __bqml_arg3 FROM "d"."photos" WHERE size > 0'
    )
    [island] = plan.islands
    assert (island.name, island.placeholder) == ("img", "__bqml_out0")
    resize = island.tree
    assert resize.function.name == "ML.RESIZE_IMAGE" and resize.args[0].function.name == "ML.DECODE_IMAGE"
    assert resize.args[0].args[0].column == "__bqml_arg0"  # the worker reads the file by its uri
    assert [leaf.kind for leaf in resize.args[1:]] == ["int", "int", "bool"]


@pytest.mark.parametrize(
    "bigquery",
    [
        "SELECT COUNT(*) AS n, ML.DECODE_IMAGE(ANY_VALUE(data)) AS img FROM d.photos",  # aggregate
        "SELECT DISTINCT ML.DECODE_IMAGE(data) AS img FROM d.photos",
        "SELECT uri FROM d.photos",  # nothing to lift
    ],
)
def test_what_is_not_lifted_stays_in_duckdb(bigquery):
    assert translate(sqlglot.parse_one(bigquery, read="bigquery"), Catalog(), lift=True).lifted is None


def test_without_lifting_ml_calls_are_udfs():
    assert (
        duckdb_sql("SELECT ML.CONVERT_IMAGE_TYPE(ML.DECODE_IMAGE(data)) AS u8 FROM d.photos")
        == f'SELECT BQML_CONVERT_IMAGE_TYPE(BQML_DECODE_IMAGE_FILE({REF_PHOTOS})) AS u8 FROM "d"."photos"'
    )


def test_local_names_are_not_looked_up():
    catalog = Catalog()
    tree = sqlglot.parse_one("INSERT INTO d.t SELECT * FROM __stage", read="bigquery")
    assert translate(tree, catalog, local_names=["__stage"]).sql == 'INSERT INTO "d"."t" SELECT * FROM __stage'
    assert catalog.asked == [Name("d", "t")]


@pytest.mark.parametrize(
    ("bigquery", "error", "message"),
    [
        ("SELECT uri FROM d.nope", NotFoundError, r"Not found: Table d.nope \[at 1:17\]"),
        ("SELECT uri FROM\n  photos", SQLError, r'Table "photos" must be qualified with a dataset.*\[at 2:3\]'),
        ("SELECT ML.NOPE(1)", SQLError, r"Function not found: ML.NOPE; supported here: .*\[at 1:8\]"),
        ("SELECT ML.RESIZE_IMAGE(1)", SQLError, r"ML.RESIZE_IMAGE takes 4 arguments, got 1 \[at 1:8\]"),
    ],
)
def test_errors_point_into_the_user_s_text(bigquery, error, message):
    with pytest.raises(error, match=message):
        duckdb_sql(bigquery)


def test_the_passes_run_in_one_documented_order():
    assert [rule.__name__ for rule in RULES] == [
        "isolate_predictions",
        "isolate_vector_searches",
        "resolve_tables",
        "resolve_functions",
        "rewrite_data_pseudocolumn",
        "fix_unnest_offsets",
        "fix_array_subscripts",
        "type_decimal_literals",
        "name_anonymous_columns",
        "lift_ml_projections",
        "rewrite_ml_calls",
        "stream_object_tables",
    ]


def test_a_running_statement_streams_the_object_tables_its_duckdb_functions_read():
    """DuckDB calls a UDF on the chunks its source gives: a small-batch stream, not 2048 table rows."""
    statement = sqlglot.parse_one(
        "SELECT p.uri FROM d.photos AS p JOIN d.t ON p.uri = t.uri "
        "WHERE ARRAY_LENGTH(ML.DECODE_IMAGE(data).dimensions) = 3",
        read="bigquery",
    )
    translation = translate(statement, Catalog(), executing=True)
    [(placeholder, listed)] = translation.object_streams.items()
    assert listed == "LIST d.photos"  # the listing streams; the table's own columns are computed over it
    assert translation.sql == (
        f'SELECT p.uri FROM (SELECT uri, MD5(uri) AS md5_hash FROM {placeholder}) AS p JOIN "d"."t" ON p.uri = t.uri '
        f"WHERE ARRAY_LENGTH(BQML_DECODE_IMAGE_FILE({REF_P}).dimensions) = 3"
    )
    # nothing to call in DuckDB, or a view's stored SQL: the table is read as itself
    assert not translate(sqlglot.parse_one("SELECT uri FROM d.photos"), Catalog(), executing=True).object_streams
    assert not translate(statement, Catalog()).object_streams


def test_a_running_statement_reads_a_view_through_its_query(monkeypatch):
    """So the object tables behind a view are re-listed and streamed like the statement's own."""
    body = sqlglot.parse_one('SELECT uri FROM "d"."photos" WHERE size > 0', read="duckdb")
    monkeypatch.setitem(Catalog.views, ("d", "v"), body)
    monkeypatch.setitem(Catalog.kinds, ("d", "v"), RelationKind.VIEW)
    catalog = Catalog()
    statement = sqlglot.parse_one("SELECT w.uri FROM d.v AS w", read="bigquery")
    translation = translate(statement, catalog, executing=True)
    assert translation.sql == 'SELECT w.uri FROM (SELECT uri FROM "d"."photos" WHERE size > 0) AS w'
    assert Name("d", "photos") in catalog.asked and list(translation.object_tables.values()) == [Name("d", "photos")]
    assert translate(statement, Catalog()).sql == 'SELECT w.uri FROM "d"."v" AS w'  # stored: by name
