"""Small helpers over a DuckDB connection that the catalog's modules share."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import duckdb


def run(con: duckdb.DuckDBPyConnection, sql: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
    """Execute and consume the result: DuckDB keeps a connection busy until a result is read."""
    return con.execute(sql, params).fetchall()


def first_row(con: duckdb.DuckDBPyConnection, sql: str, params: list[Any]) -> tuple[Any, ...] | None:
    rows = run(con, sql, params)
    return rows[0] if rows else None


@contextmanager
def transaction(con: duckdb.DuckDBPyConnection) -> Iterator[None]:
    """All or nothing: DuckDB DDL is transactional, so a failed replace changes nothing."""
    con.begin()
    try:
        yield
    except BaseException:
        con.rollback()
        raise
    con.commit()
