"""DuckDB's wording is not an API: each message our translation relies on is made here by DuckDB
itself, so an upgrade that changes one fails this file, not a user's error message."""

from __future__ import annotations

import duckdb
import pyarrow as pa
import pytest
import sqlglot

from bqml_magic.errors import Cancelled, ImageError, NotFoundError
from bqml_magic.execution.relay import FailureRelay
from bqml_magic.sql.duckdb_errors import _UNKNOWN_COLUMN, _UNKNOWN_TABLE, _without_echo, from_duckdb


@pytest.fixture
def con():
    con = duckdb.connect()
    con.execute("CREATE TABLE t AS SELECT 'gs://b/x.jpg' AS uri, 1 AS size").fetchall()
    yield con
    con.close()


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
