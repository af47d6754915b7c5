"""BigQuery object names: ``project.dataset.name`` in any quoting, case-insensitive.

Locally there is one project, so the project part is accepted and ignored; the dataset is
required, as in BigQuery without a default dataset.
"""
from __future__ import annotations

from dataclasses import dataclass

from sqlglot import exp

from bqml_magic.errors import SQLError


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


def position(node: exp.Expression) -> tuple[int | None, int | None]:
    """Line and (1-based, first character) column where a node's text starts: its first identifier
    in the text (``a.b.c`` is a Column whose tree lists ``c`` first)."""
    placed = [ident for ident in node.find_all(exp.Identifier) if "line" in ident.meta]
    if not placed:
        return None, None
    first = min(placed, key=lambda ident: ident.meta["start"])
    width = first.meta["end"] - first.meta["start"] + 1
    return first.meta["line"], first.meta["col"] - width + 1


def object_name(table: exp.Table, what: str = "Table") -> Name:
    """``[project.]dataset.name`` from a parsed table reference."""
    parts = [p.name for p in table.parts]
    if len(parts) == 1 and "." in parts[0]:
        parts = parts[0].split(".")
    if len(parts) < 2:
        raise SQLError(f'{what} "{".".join(parts)}" must be qualified with a dataset (e.g. "my_dataset.{parts[-1]}")', *position(table))
    if len(parts) > 3:
        raise SQLError(f"Invalid {what.lower()} name {'.'.join(parts)!r}: expected [project.]dataset.name", *position(table))
    return Name(parts[-2], parts[-1])


def dataset_name(table: exp.Table) -> str:
    """``[project.]dataset`` of CREATE/DROP SCHEMA (sqlglot puts it in the table slots)."""
    parts = [p.name for p in table.parts]
    if len(parts) == 1 and "." in parts[0]:
        parts = parts[0].split(".")
    if not parts or len(parts) > 2:
        raise SQLError(f"Invalid dataset name {'.'.join(parts)!r}: expected [project.]dataset", *position(table))
    return parts[-1]
