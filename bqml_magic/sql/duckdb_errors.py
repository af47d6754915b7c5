"""DuckDB's errors, told in the user's terms: BigQuery's wording, positions in the user's SQL.

DuckDB runs SQL we translated, so its messages echo that SQL and name things our way
(``memory.object_table``, "candidate bindings"). The user wrote BigQuery SQL: they get
BigQuery's "Unrecognized name: urii; did you mean uri?" and the line and column of the name
in their own text, which the translated tree still carries.
"""
from __future__ import annotations

import re

import duckdb
from sqlglot import exp

from bqml_magic.errors import BQMLError, Cancelled, NotFoundError, SQLError
from bqml_magic.sql.names import position

_UNKNOWN_COLUMN = re.compile(r'Referenced column "(?P<name>[^"]+)" not found in FROM clause!'
                             r'(?:\s*Candidate bindings: (?P<candidates>.*))?', re.DOTALL)
_UNKNOWN_TABLE = re.compile(r'Referenced table "(?P<name>[^"]+)" not found!')


def from_duckdb(exc: BaseException, statement: exp.Expression | None) -> BQMLError:
    """The BQMLError to raise for a DuckDB error met while running ``statement``."""
    if isinstance(exc, duckdb.InterruptException):
        return Cancelled("Query cancelled")
    text = _without_echo(str(exc))
    column, table = _UNKNOWN_COLUMN.match(text), _UNKNOWN_TABLE.match(text)
    if column:
        return NotFoundError(_unknown_column(column, statement))
    if table:
        return NotFoundError(_unknown_qualifier(table["name"], statement))
    line, col = _position_of(_first_quoted(text), statement)
    if isinstance(exc, duckdb.CatalogException) or "not found" in text.lower():
        return NotFoundError(text + _at(line, col))
    return SQLError(text, line, col)


def _without_echo(text: str) -> str:
    """DuckDB's message without its kind prefix ("Binder Error: ") and its echo of our SQL."""
    text = text.split("\n\nLINE ", 1)[0].strip()
    kind, sep, rest = text.partition(": ")
    return rest if sep and kind.endswith("Error") else text


def _unknown_column(match: re.Match[str], statement: exp.Expression | None) -> str:
    candidates = re.findall(r'"([^"]+)"', match["candidates"] or "")
    hint = f"; did you mean {', '.join(c.split('.')[-1] for c in candidates[:3])}?" if candidates else ""
    return f"Unrecognized name: {match['name']}{hint}{_at(*_position_of(match['name'], statement))}"


def _unknown_qualifier(qualifier: str, statement: exp.Expression | None) -> str:
    """``t.col`` where ``t`` is no table of the query: say which tables the query does read."""
    where = (None, None)
    reads: list[str] = []
    if statement is not None:
        for column in statement.find_all(exp.Column):
            if ".".join(p.name for p in column.parts[:-1]).lower() == qualifier.lower():
                where = position(column)
                qualifier = column.sql("bigquery")
                break
        reads = sorted({".".join(p.name for p in t.parts) for t in statement.find_all(exp.Table) if t.name})
    said = f"; the query reads {', '.join(reads)}" if reads else ""
    return f"Unrecognized name: {qualifier}{said}{_at(*where)}"


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


def _at(line: int | None, col: int | None) -> str:
    return f" [at {line}:{col}]" if line else ""
