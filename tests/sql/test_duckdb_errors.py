"""DuckDB's wording is not an API: each message our translation relies on is made here by DuckDB
itself, so an upgrade that changes one fails this file, not a user's error message."""

from __future__ import annotations

import duckdb
import pyarrow as pa
import pytest
import sqlglot

from bqml_magic.errors import Cancelled, ImageError, NotFoundError, SQLError
from bqml_magic.execution.relay import FailureRelay
from bqml_magic.functions import REGISTRY
from bqml_magic.sql.bigquery_words import bigquery_type, ml_signature
from bqml_magic.sql.duckdb_errors import (
    _UNKNOWN_COLUMN,
    _UNKNOWN_TABLE,
    RULES,
    _without_echo,
    from_duckdb,
)
from bqml_magic.sql.script import scan
from bqml_magic.sql.syntax import place_casts


@pytest.fixture
def con():
    con = duckdb.connect()
    con.execute("CREATE TABLE t AS SELECT 'gs://b/x.jpg' AS uri, 1 AS size").fetchall()
    yield con
    con.close()


def user_tree(sql: str) -> sqlglot.exp.Expr:
    """The user's statement as the engine holds it: sqlglot's tree, CASTs placed (parse.py)."""
    tree = sqlglot.parse_one(sql, read="bigquery")
    place_casts(tree, scan(sql))
    return tree


@pytest.fixture
def locked(con):
    """``con`` as the engine configures it: our UDF registered, file access off."""
    con.create_function("bqml_decode_image", lambda b: None, ["BLOB"], 'STRUCT(dimensions BIGINT[], "values" DOUBLE[])')
    con.execute("SET enable_external_access = false").fetchall()
    return con


def duckdb_error(con, sql: str) -> duckdb.Error:
    with pytest.raises(duckdb.Error) as info:
        con.execute(sql).fetchall()
    return info.value


def test_unknown_column_names_it_and_its_candidates(con):
    text = _without_echo(str(duckdb_error(con, "SELECT urii FROM t")))
    match = _UNKNOWN_COLUMN.match(text)
    assert match and match["name"] == "urii" and '"uri"' in match["candidates"]


def test_unknown_qualifier_names_it(con):
    match = _UNKNOWN_TABLE.match(_without_echo(str(duckdb_error(con, "SELECT nope.uri FROM t"))))
    assert match and match["name"] == "nope"


def test_the_echo_of_our_sql_is_cut(con):
    assert "LINE" not in _without_echo(str(duckdb_error(con, "SELECT urii FROM t")))


def test_errors_read_as_bigquery_s_with_the_user_s_position(con):
    statement = sqlglot.parse_one("SELECT\n  urii FROM t", read="bigquery")
    error = from_duckdb(duckdb_error(con, "SELECT urii FROM t"), statement)
    assert isinstance(error, NotFoundError)
    assert str(error) == "Unrecognized name: urii; did you mean uri, size? [at 2:3]"


def test_an_interrupt_is_cancelled():
    assert isinstance(from_duckdb(duckdb.InterruptException("INTERRUPT Error: Interrupted!"), None), Cancelled)


def test_a_udf_s_exception_crosses_duckdb_intact(con):
    relay = FailureRelay()
    original = ImageError("Input image bytes could not be decoded", uri="gs://b/x.jpg", function="ML.DECODE_IMAGE")

    def failing(column: pa.Array) -> pa.Array:
        raise original

    con.create_function("failing", relay.wrap(failing), ["VARCHAR"], "VARCHAR", type="arrow")
    error = duckdb_error(con, "SELECT failing(uri) FROM t")
    assert relay.receive(error) is original
    assert relay.receive(error) is None  # handed over once


def test_a_stream_s_exception_crosses_duckdb_intact(con):
    relay = FailureRelay()
    original = ImageError("broken", uri="gs://b/y.png")
    schema = pa.schema([("uri", pa.string())])

    def batches():
        yield pa.record_batch([pa.array(["gs://b/x.jpg"])], schema=schema)
        raise original

    con.register("s", pa.RecordBatchReader.from_batches(schema, relay.guard(batches())))
    assert relay.receive(duckdb_error(con, "SELECT COUNT(*) FROM s")) is original


def test_other_errors_are_not_mistaken_for_relayed_ones(con):
    assert FailureRelay().receive(duckdb_error(con, "SELECT urii FROM t")) is None


# fmt: off
# DuckDB's SQL that makes each message we rely on -> the BigQuery SQL the user wrote -> what they read.
RETOLD = [
    ("SELECT urii FROM t", "SELECT urii FROM t", NotFoundError,
     "Unrecognized name: urii; did you mean uri, size? [at 1:8]"),
    ("SELECT nope.uri FROM t", "SELECT nope.uri FROM t", NotFoundError,
     "Unrecognized name: nope.uri; the query reads t [at 1:8]"),
    ("SELECT urii", "SELECT urii", NotFoundError, "Unrecognized name: urii [at 1:8]"),
    ("SELECT t.urii FROM t", "SELECT t.urii FROM d.t AS t", NotFoundError,
     "Name urii not found inside t; did you mean uri? [at 1:8]"),
    ("SELECT s.nope FROM (SELECT 1 AS x) AS s", "SELECT s.nope FROM (SELECT 1 AS x) AS s", NotFoundError,
     "Name nope not found inside s [at 1:8]"),
    ("SELECT foo_bar(uri) FROM t", "SELECT foo_bar(uri) FROM t", SQLError, "Function not found: foo_bar [at 1:8]"),
    ("SELECT decode_image(uri) FROM t", "SELECT decode_image(uri) FROM t", SQLError,
     "Function not found: decode_image; did you mean ML.DECODE_IMAGE? [at 1:8]"),
    ("SELECT * FROM foo_tvf(1)", "SELECT * FROM foo_tvf(1)", SQLError,
     "Table-valued function not found: foo_tvf [at 1:15]"),
    ("SELECT read_text('x')", "SELECT read_text('x')", SQLError, "Function not found: read_text [at 1:8]"),
    ("SELECT abs(uri) FROM t", "SELECT ABS(uri) FROM t", SQLError,
     "No matching signature for function ABS for argument types: STRING [at 1:8]"),
    ("SELECT abs('x')", "SELECT ABS('x')", SQLError,
     "No matching signature for function ABS for argument types: STRING [at 1:8]"),
    ("SELECT substring('a')", "SELECT SUBSTR('a')", SQLError,
     "No matching signature for function SUBSTR for argument types: STRING [at 1:8]"),
    ("SELECT bqml_decode_image(uri) FROM t", "SELECT bqml_decode_image(uri) FROM t", SQLError,
     "No matching signature for function ML.DECODE_IMAGE for argument types: STRING. "
     "Supported signature: ML.DECODE_IMAGE(BYTES) [at 1:8]"),
    ("CREATE OR REPLACE MACRO f(x BIGINT) AS x; SELECT f(2.5)", "SELECT f(2.5)", SQLError,
     "No matching signature for function f for the argument types given [at 1:8]"),
    ("SELECT uri + 1 FROM t", "SELECT uri + 1 FROM t", SQLError,
     "No matching signature for operator + for argument types: STRING, INT64 [at 1:8]"),
    ("SELECT uri LIKE 1 FROM t", "SELECT uri LIKE 1 FROM t", SQLError,
     "No matching signature for operator LIKE for argument types: STRING, INT64 [at 1:8]"),
    ("SELECT CAST('a' AS BIGINT)", "SELECT CAST('a' AS INT64)", SQLError, "Bad int64 value: a [at 1:8]"),
    ("SELECT CAST('a' AS DOUBLE)", "SELECT CAST('a' AS FLOAT64)", SQLError, "Bad double value: a [at 1:8]"),
    ("SELECT CAST('a' AS BOOLEAN)", "SELECT CAST('a' AS BOOL)", SQLError, "Bad bool value: a [at 1:8]"),
    ("SELECT CAST('a' AS DECIMAL(38, 9))", "SELECT CAST('a' AS NUMERIC)", SQLError, "Bad NUMERIC value: a [at 1:8]"),
    ("SELECT CAST(uri AS BIGINT) FROM t", "SELECT CAST(uri AS INT64) FROM t", SQLError,
     "Bad int64 value: gs://b/x.jpg [at 1:8]"),
    ("SELECT CAST('a' AS DATE)", "SELECT CAST('a' AS DATE)", SQLError, "Invalid date: 'a' [at 1:8]"),
    ("SELECT CAST('a' AS TIMESTAMPTZ)", "SELECT CAST('a' AS TIMESTAMP)", SQLError, "Invalid timestamp: 'a' [at 1:8]"),
    ("SELECT CAST('a' AS TIME)", "SELECT CAST('a' AS TIME)", SQLError, "Invalid time: 'a' [at 1:8]"),
    ("SELECT DATE '2020-13-01'", "SELECT DATE '2020-13-01'", SQLError, "Invalid date: '2020-13-01' [at 1:8]"),
    ("SELECT CAST(1e30 AS BIGINT)", "SELECT CAST(1e30 AS INT64)", SQLError,
     "Value 1e+30 is out of range for INT64 [at 1:8]"),
    ("SELECT CAST([1] AS BIGINT)", "SELECT CAST([1] AS INT64)", SQLError,
     "Invalid cast from ARRAY<INT64> to INT64 [at 1:8]"),
    ("SELECT [1] = 'a'", "SELECT [1] = 'a'", SQLError, "Invalid cast from STRING to ARRAY<INT64> [at 1:14]"),
    ("SELECT 9223372036854775807 + 1", "SELECT 9223372036854775807 + 1", SQLError,
     "int64 overflow: 9223372036854775807 + 1"),
    ("SELECT 1 // 0", "SELECT DIV(1, 0)", SQLError, "division by zero: 1 // 0"),
    ("SELECT " + "+".join(["1"] * 1001), "SELECT 1", SQLError,
     "Query too deeply nested: an expression more than 1000 levels deep (a long chain of operators or nested calls); "
     "split it, e.g. with WITH clauses"),
    ("SELECT 2..\"5\"", "SELECT 1", SQLError, 'Syntax error: Unexpected "2.."'),
    ("SELECT * FROM read_text('/etc/hostname')", "SELECT 1", SQLError,
     "Reading files from SQL is not supported: objects are read through object tables "
     "(CREATE EXTERNAL TABLE ... OPTIONS(object_metadata = 'SIMPLE', uris = [...]))"),
    ("SELECT * FROM nope", "SELECT * FROM nope", NotFoundError, "Not found: Table nope [at 1:15]"),
    ("SELECT uri FROM t GROUP BY size", "SELECT uri FROM t GROUP BY size", SQLError,
     "SELECT list expression references column uri which is neither grouped nor aggregated [at 1:8]"),
    ("SELECT COUNT(*) FROM t WHERE SUM(size) > 1", "SELECT COUNT(*) FROM t WHERE SUM(size) > 1", SQLError,
     "Aggregate function not allowed in WHERE clause [at 1:30]"),
    ("SELECT uri FROM t UNION ALL SELECT 1, 2", "SELECT 1", SQLError,
     "Queries in a set operation (UNION, INTERSECT, EXCEPT) have mismatched column count"),
    ("SELECT uri FROM t ORDER BY 5", "SELECT uri FROM t ORDER BY 5", SQLError,
     "ORDER BY column number is out of range; there are 1 columns [at 1:28]"),
    ("SELECT size FROM t WHERE size IN (SELECT uri, size FROM t)", "SELECT 1", SQLError,
     "Subquery must have only one output column; it has 2"),
    ("SELECT (SELECT size FROM t UNION ALL SELECT 2)", "SELECT 1", SQLError,
     "Scalar subquery produced more than one element"),
    ("SELECT {'x': 1}.y", "SELECT STRUCT(1 AS x).y", SQLError,
     "Field name y does not exist in STRUCT; its fields: x [at 1:23]"),
    ("SELECT ROW_NUMBER()", "SELECT ROW_NUMBER()", SQLError, "Analytic function not allowed here [at 1:8]"),
    ("SELECT uri FROM t LIMIT -1", "SELECT uri FROM t LIMIT -1", SQLError,
     "LIMIT and OFFSET must not be negative [at 1:26]"),
    ("SELECT {'a': 1} < 1", "SELECT STRUCT(1 AS a) < 1", SQLError,
     "Cannot compare STRUCT<a INT64> with INT64 [at 1:8]"),
    ("SELECT error('boom')", "SELECT ERROR('boom')", SQLError, "boom"),
]
# fmt: on


@pytest.mark.parametrize(("duck", "user", "error", "message"), [pytest.param(*r, id=r[0][:50]) for r in RETOLD])
def test_duckdb_s_messages_are_retold_in_bigquery_s_words(locked, duck, user, error, message):
    """Each message we rely on, made by DuckDB itself; the user's tree gives names and places."""
    retold = from_duckdb(duckdb_error(locked, duck), user_tree(user))
    assert type(retold) is error and str(retold) == message


def test_every_rule_is_pinned_by_a_message_duckdb_makes(locked):
    """A DuckDB upgrade that rewords a message fails here, not in a user's error."""
    said = [_without_echo(str(duckdb_error(locked, duck))) for duck, *_ in RETOLD]
    unpinned = [pattern.pattern for pattern, _ in RULES if not any(pattern.match(text) for text in said)]
    assert not unpinned


def test_unmatched_messages_keep_duckdb_s_sentence_without_its_hints(con):
    error = from_duckdb(duckdb_error(con, "SELECT t.* EXCLUDE (nope) FROM t"), None)
    assert str(error) == 'Column "nope" in EXCLUDE list not found in t'


def test_internal_names_are_the_user_s(con):
    statement = sqlglot.parse_one("SELECT * FROM __bqml_objects3 AS photos", read="duckdb")
    error = from_duckdb(
        duckdb.BinderException("Binder Error: bqml_resize_image_file_3 failed on __bqml_predict0"), statement
    )
    assert str(error) == "ML.RESIZE_IMAGE failed on ML.PREDICT"


@pytest.mark.parametrize(
    ("duck", "bigquery"),
    [
        ("VARCHAR", "STRING"), ("STRING_LITERAL", "STRING"), ("INTEGER_LITERAL", "INT64"), ("BIGINT", "INT64"),
        ("DOUBLE", "FLOAT64"), ("BLOB", "BYTES"), ("BOOLEAN", "BOOL"), ("TIMESTAMP WITH TIME ZONE", "TIMESTAMP"),
        ("TIMESTAMP", "DATETIME"), ("DECIMAL(38,9)", "NUMERIC"), ("DECIMAL(76,38)", "BIGNUMERIC"),
        ("BIGINT[]", "ARRAY<INT64>"), ("DOUBLE[][]", "ARRAY<ARRAY<FLOAT64>>"),
        ('STRUCT(dimensions BIGINT[], "values" DOUBLE[])', "STRUCT<dimensions ARRAY<INT64>, values ARRAY<FLOAT64>>"),
    ],
)  # fmt: skip
def test_types_are_named_as_bigquery_names_them(duck, bigquery):
    assert bigquery_type(duck) == bigquery


def test_ml_signatures_bracket_optional_arguments():
    assert ml_signature(REGISTRY["ML.DISTANCE"]) == "ML.DISTANCE(ARRAY<FLOAT64>, ARRAY<FLOAT64>[, STRING])"
    assert ml_signature(REGISTRY["ML.DECODE_IMAGE"]) == "ML.DECODE_IMAGE(BYTES)"
