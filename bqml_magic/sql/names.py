"""BigQuery object names: ``project.dataset.name`` in any quoting, case-insensitive; and the one
way a name reaches DuckDB as text.

Locally there is one project, so the project part is accepted and ignored; the dataset is
required, as in BigQuery without a default dataset (docs/behaviour.md#names).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypedDict

import sqlglot
from sqlglot import exp

from bqml_magic.errors import SQLError


def quoted(*parts: str) -> str:
    """``"a"."b"`` for DuckDB: every identifier our SQL text names goes through here.

    sqlglot quotes and escapes (a ``"`` inside a name is doubled), so a name can never end
    the identifier and start SQL of its own.
    """
    return ".".join(exp.to_identifier(part, quoted=True).sql("duckdb") for part in parts)


@dataclass(frozen=True)
class Name:
    """``dataset.name``, compared case-insensitively."""

    dataset: str
    name: str

    @property
    def key(self) -> tuple[str, str]:
        return self.dataset.lower(), self.name.lower()

    def __str__(self) -> str:
        return f"{self.dataset}.{self.name}"

    def to_table(self) -> exp.Table:
        """The DuckDB table reference: schema = dataset."""
        return exp.table_(exp.to_identifier(self.name, quoted=True), db=exp.to_identifier(self.dataset, quoted=True))

    def sql(self) -> str:
        """The quoted DuckDB name, for SQL text."""
        return quoted(self.dataset, self.name)


_PLACE = ("line", "col", "start", "end")


def position(node: exp.Expr) -> tuple[int | None, int | None]:
    """Line and (1-based, first character) column where a node's text starts: its first placed token
    in the text (``a.b.c`` is a Column whose tree lists ``c`` first; a function call, literal or CAST
    is placed at its own first token).

    sqlglot records a token's line and its last column: a token spanning lines (a string with a
    newline) cannot give its first column, so it is passed over for the next one.
    """
    placed = [
        n
        for n in node.walk()
        if all(n.meta.get(key) is not None for key in _PLACE)  # sqlglot's split of a backticked a.b.c has None
        and n.meta["col"] - (n.meta["end"] - n.meta["start"]) >= 1
    ]
    if not placed:
        return None, None
    first = min(placed, key=lambda n: n.meta["start"])
    width = first.meta["end"] - first.meta["start"] + 1
    return first.meta["line"], first.meta["col"] - width + 1


class Position(TypedDict):
    """Where in the user's text: ``**at(node)`` fills an error's ``line`` and ``column``."""

    line: int | None
    column: int | None


def at(node: exp.Expr) -> Position:
    """``line=`` and ``column=`` of a node, for an error's fields."""
    line, column = position(node)
    return Position(line=line, column=column)


def object_name(table: exp.Table, what: str = "Table") -> Name:
    """``[project.]dataset.name`` from a parsed table reference."""
    parts = name_parts(table)
    if len(parts) < 2:
        raise SQLError(
            f'{what} "{".".join(parts)}" must be qualified with a dataset (e.g. "my_dataset.{parts[-1]}")', **at(table)
        )
    if len(parts) > 3:
        raise SQLError(f"Invalid {what.lower()} name {'.'.join(parts)!r}: expected [project.]dataset.name", **at(table))
    return Name(parts[-2], parts[-1])


def name_from_text(text: str, what: str = "Table") -> Name:
    """``[project.]dataset.name`` written as a string (an API argument, a procedure's argument)."""
    try:
        table = exp.to_table(text, dialect="bigquery")
    except sqlglot.errors.SqlglotError:
        table = None
    if not isinstance(table, exp.Table):
        raise SQLError(f"Invalid {what.lower()} name {text!r}: expected [project.]dataset.name")
    return object_name(table, what)


def dataset_name(table: exp.Table) -> str:
    """``[project.]dataset`` of CREATE/DROP SCHEMA (sqlglot puts it in the table slots)."""
    parts = name_parts(table)
    if not parts or len(parts) > 2:
        raise SQLError(f"Invalid dataset name {'.'.join(parts)!r}: expected [project.]dataset", **at(table))
    return parts[-1]


def name_parts(table: exp.Table) -> list[str]:
    """A backticked ``project.dataset.t`` arrives as one identifier holding dots (docs/behaviour.md#pitfalls)."""
    parts = [p.name for p in table.parts]
    return parts[0].split(".") if len(parts) == 1 and "." in parts[0] else parts
