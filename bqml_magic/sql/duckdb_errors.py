"""DuckDB's errors, told in the user's terms: BigQuery's wording, positions in the user's SQL.

DuckDB runs SQL we translated, so its messages echo that SQL and name things our way
(``memory.object_table``, "candidate bindings"). The user wrote BigQuery SQL: they get
BigQuery's "Unrecognized name: urii; did you mean uri?" and the line and column of the name
in their own text, which the translated tree still carries.

The patterns below match DuckDB's wording, which is not an API: each is pinned by a test
(``tests/sql/test_duckdb_errors.py``) that makes DuckDB say it, and pyproject bounds DuckDB
to the versions those tests passed on.
"""

from __future__ import annotations

import re

import duckdb
from sqlglot import exp

from bqml_magic.errors import BQMLError, Cancelled, NotFoundError, SQLError
from bqml_magic.sql.names import position

_UNKNOWN_COLUMN = re.compile(
    r'Referenced column "(?P<name>[^"]+)" not found in FROM clause!'
    r"(?:\s*Candidate bindings: (?P<candidates>.*))?",
    re.DOTALL,
)
_UNKNOWN_TABLE = re.compile(r'Referenced table "(?P<name>[^"]+)" not found!')


def from_duckdb(exc: BaseException, statement: exp.Expression | None) -> BQMLError:
    """The BQMLError to raise for a DuckDB error met while running ``statement``."""
    if isinstance(exc, duckdb.InterruptException):
        return Cancelled("Query cancelled")
    text = _without_echo(str(exc))
    column, table = _UNKNOWN_COLUMN.match(text), _UNKNOWN_TABLE.match(text)
    if column:
        candidates = re.findall(r'"([^"]+)"', column["candidates"] or "")
        hint = f"; did you mean {', '.join(c.split('.')[-1] for c in candidates[:3])}?" if candidates else ""
        line, col = _position_of(column["name"], statement)
        return NotFoundError(f"Unrecognized name: {column['name']}{hint}", line=line, column=col)
    if table:
        return _unknown_qualifier(table["name"], statement)
    line, col = _position_of(_first_quoted(text), statement)
    if isinstance(exc, duckdb.CatalogException) or "not found" in text.lower():
        return NotFoundError(text, line=line, column=col)
    return SQLError(text, line=line, column=col)


def _without_echo(text: str) -> str:
    """DuckDB's message without its kind prefix ("Binder Error: ") and its echo of our SQL."""
    text = text.split("\n\nLINE ", 1)[0].strip()
    kind, sep, rest = text.partition(": ")
    return rest if sep and kind.endswith("Error") else text


def _unknown_qualifier(qualifier: str, statement: exp.Expression | None) -> NotFoundError:
    """``t.col`` where ``t`` is no table of the query: say which tables the query does read."""
    where: tuple[int | None, int | None] = (None, None)
    reads: list[str] = []
    if statement is not None:
        for column in statement.find_all(exp.Column):
            if ".".join(p.name for p in column.parts[:-1]).lower() == qualifier.lower():
                where = position(column)
                qualifier = column.sql("bigquery")
                break
        reads = sorted({".".join(p.name for p in t.parts) for t in statement.find_all(exp.Table) if t.name})
    said = f"; the query reads {', '.join(reads)}" if reads else ""
    return NotFoundError(f"Unrecognized name: {qualifier}{said}", line=where[0], column=where[1])


def _first_quoted(text: str) -> str | None:
    return text.split('"')[1] if text.count('"') >= 2 else None


def _position_of(name: str | None, statement: exp.Expression | None) -> tuple[int | None, int | None]:
    """Where the user wrote ``name`` (a column or identifier), if the tree still knows."""
    if statement is None or not name:
        return None, None
    for node in statement.find_all(exp.Column, exp.Identifier):
        if node.name.lower() == name.lower():
            return position(node)
    return None, None
