"""Every name in a catalog at one moment, as plain values: what completion offers.

Read in four bulk queries over DuckDB's own catalog functions and the ``__bqml`` tables (a few
milliseconds for a thousand tables, docs/behaviour.md#completion) rather than one question per
object, so a front end can ask for it on a key press and keep it until the catalog changes.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from functools import cached_property

import duckdb

from bqml_magic.catalog.db import run
from bqml_magic.catalog.schema import MODELS, OBJECT_TABLES
from bqml_magic.sql.kinds import RelationKind

DATA_PSEUDOCOLUMN = "data"
"""An object table's contents: no column of its view (``object_tables.py``), yet a name SQL may use."""

_SCHEMAS = "SELECT schema_name FROM duckdb_schemas() WHERE database_name = current_database() AND NOT internal"
_COLUMNS = """
    SELECT c.schema_name, c.table_name, list(c.column_name ORDER BY c.column_index), any_value(v.view_name IS NOT NULL)
    FROM duckdb_columns() c
    LEFT JOIN duckdb_views() v ON v.database_name = c.database_name
        AND v.schema_name = c.schema_name AND v.view_name = c.table_name
    WHERE c.database_name = current_database() AND NOT c.internal
    GROUP BY c.schema_name, c.table_name"""
_OBJECT_TABLES = f"SELECT lower(dataset), lower(name) FROM {OBJECT_TABLES}"
_MODELS = f"""
    SELECT dataset, name, json_extract_string(schema_json, '$.features[*].name'),
           json_extract_string(schema_json, '$.labels[*].name')
    FROM {MODELS}"""


@dataclass(frozen=True)
class Relation:
    """A table, view, object table or model, with the names SQL can read from it: a relation's
    columns, a model's features (its inputs, as ``Engine.describe_model`` lists them) and labels."""

    dataset: str
    name: str
    kind: RelationKind
    columns: tuple[str, ...] = ()
    features: tuple[str, ...] = ()
    labels: tuple[str, ...] = ()


@dataclass(frozen=True)
class CatalogSnapshot:
    """Datasets and what they hold; looked up case-insensitively, as BigQuery resolves names."""

    datasets: tuple[str, ...]
    relations: tuple[Relation, ...]

    @cached_property
    def _by_key(self) -> dict[tuple[str, str], Relation]:
        return {(r.dataset.lower(), r.name.lower()): r for r in self.relations}

    @cached_property
    def _by_dataset(self) -> dict[str, list[Relation]]:
        by_dataset: dict[str, list[Relation]] = {}
        for relation in self.relations:
            by_dataset.setdefault(relation.dataset.lower(), []).append(relation)
        return by_dataset

    def find(self, dataset: str, name: str) -> Relation | None:
        return self._by_key.get((dataset.lower(), name.lower()))

    def contents(self, dataset: str) -> list[Relation]:
        """A dataset's tables, views, object tables and models."""
        return self._by_dataset.get(dataset.lower(), [])

    @classmethod
    def read(cls, con: duckdb.DuckDBPyConnection, hidden: Collection[str]) -> CatalogSnapshot:
        """The catalog behind ``con``; ``hidden``: schemas that are no dataset (lower case)."""
        datasets = tuple(sorted(s for (s,) in run(con, _SCHEMAS) if s.lower() not in hidden))
        object_tables = set(run(con, _OBJECT_TABLES))
        relations = [
            _relation(dataset, name, list(columns), is_view, object_tables)
            for dataset, name, columns, is_view in run(con, _COLUMNS)
            if dataset.lower() not in hidden
        ]
        relations += [
            Relation(dataset, name, RelationKind.MODEL, features=tuple(features or ()), labels=tuple(labels or ()))
            for dataset, name, features, labels in run(con, _MODELS)
        ]
        return cls(datasets, tuple(sorted(relations, key=lambda r: (r.dataset.lower(), r.name.lower()))))


def _relation(
    dataset: str, name: str, columns: list[str], is_view: bool, object_tables: set[tuple[str, str]]
) -> Relation:
    if (dataset.lower(), name.lower()) in object_tables:
        return Relation(dataset, name, RelationKind.OBJECT_TABLE, (*columns, DATA_PSEUDOCOLUMN))
    return Relation(dataset, name, RelationKind.VIEW if is_view else RelationKind.TABLE, tuple(columns))
