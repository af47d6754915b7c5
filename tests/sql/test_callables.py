"""DuckDB's file and system functions are refused however they are called; BigQuery's pass."""

from __future__ import annotations

import duckdb
import pytest

from bqml_magic.errors import SQLError
from bqml_magic.sql.callables import SHARED_NAMES, is_denied
from bqml_magic.sql.parse import parse_script


def test_every_duckdb_table_function_is_refused():
    """Against the installed DuckDB: a new table function or pragma must be listed (or shared with BigQuery)."""
    con = duckdb.connect()
    names = {
        name
        for (name,) in con.execute(
            "SELECT DISTINCT function_name FROM duckdb_functions() "
            "WHERE function_type IN ('table', 'table_macro', 'pragma')"
        ).fetchall()
    }
    assert sorted(n for n in names if not is_denied(n) and n not in SHARED_NAMES) == []


@pytest.mark.parametrize("name", ["read_text", "READ_CSV_AUTO", "parquet_schema", "glob", "duckdb_settings", "getenv"])
def test_denied_names_in_any_spelling(name):
    assert is_denied(name) and is_denied(f"`{name}`") and is_denied(f"x.{name}")


@pytest.mark.parametrize("name", ["ABS", "SUBSTR", "ARRAY_LENGTH", "REPEAT", "RANGE", "UNNEST", "CURRENT_DATE"])
def test_bigquery_functions_pass(name):
    assert not is_denied(name)


@pytest.mark.parametrize(
    ("sql", "message"),
    [
        ("SELECT * FROM UNNEST([1, 2]) AS x", None),
        ("SELECT x FROM d.t, UNNEST(t.a) AS x WITH OFFSET", None),
        ("SELECT * FROM ML.PREDICT(MODEL d.m, (SELECT 1 AS x))", None),
        ("SELECT REPEAT('a', 2), CURRENT_DATE()", None),
        ("SELECT * FROM GENERATE_ARRAY(1, 3)", r"Table-valued function not found: GENERATE_ARRAY \[at 1:15\]"),
        ("SELECT * FROM range(3)", r"Table-valued function not found: range \[at 1:15\]"),
        ("SELECT x FROM (SELECT * FROM read_text('f'))", r"Table-valued function not found: read_text \[at 1:30\]"),
        ("WITH a AS (SELECT version() AS v) SELECT * FROM a", r"Function not found: version \[at 1:19\]"),
        ("INSERT INTO d.t SELECT * FROM read_csv('x')", r"Table-valued function not found: read_csv \[at 1:31\]"),
    ],
)
def test_calls_are_checked_when_parsed(sql, message):
    if message is None:
        parse_script(sql)
    else:
        with pytest.raises(SQLError, match=message):
            parse_script(sql)
