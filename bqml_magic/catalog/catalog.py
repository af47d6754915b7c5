"""Datasets, tables, object tables and models, persisted in one DuckDB database.

Datasets are DuckDB schemas; tables and object-table views live in them. What DuckDB has no
notion of (object-table definitions, imported models) is kept in the tables of the hidden
``__bqml`` schema (``schema.py``), written in the same transactions as the objects they
describe so a failed ``CREATE OR REPLACE`` leaves the old object exactly as it was. Names
reach DuckDB's SQL text only through ``quoted`` (or as parameters).
"""

from __future__ import annotations

import difflib
import json
from datetime import datetime, timedelta
from typing import Any

import duckdb
import sqlglot
from sqlglot import exp

from bqml_magic.catalog import information_schema, vector_indexes
from bqml_magic.catalog.database import Database
from bqml_magic.catalog.db import first_row, run, transaction
from bqml_magic.catalog.functions import PersistentFunctions
from bqml_magic.catalog.object_tables import ObjectTable, needs_refresh, refresh
from bqml_magic.catalog.schema import MODELS, OBJECT_TABLES, SCHEMA
from bqml_magic.catalog.snapshot import CatalogSnapshot
from bqml_magic.errors import AlreadyExistsError, NotFoundError, SQLError
from bqml_magic.sql.kinds import RelationKind
from bqml_magic.sql.names import Name, quoted
from bqml_magic.sql.udf import Routine
from bqml_magic.storage.objects import ObjectStore
from bqml_magic.storage.rows import OBJECT_SCHEMA

_INTERNAL_SCHEMAS = {SCHEMA, "main", "information_schema", "pg_catalog"}
_BY_NAME = "lower(dataset) = ? AND lower(name) = ?"
NO_DATASETS_YET = (
    "this workspace has no datasets yet. Create one with CREATE SCHEMA {dataset}, then its object tables "
    "and models, as the tutorial notebooks/01_image_classification.ipynb does step by step"
)


class Catalog:
    """Name resolution and object lifecycle, over one DuckDB connection."""

    def __init__(self, database: Database, objects: ObjectStore):
        self.database = database
        self.objects = objects
        self.persistent_functions = PersistentFunctions()

    @property
    def con(self) -> duckdb.DuckDBPyConnection:
        return self.database.con

    # -- datasets -------------------------------------------------------------------------
    def datasets(self) -> list[str]:
        rows = run(self.con, "SELECT schema_name FROM information_schema.schemata")
        return sorted({r[0] for r in rows} - _INTERNAL_SCHEMAS)

    def has_dataset(self, dataset: str) -> bool:
        return dataset.lower() in (d.lower() for d in self.datasets())

    def require_dataset(self, dataset: str) -> None:
        if not self.has_dataset(dataset):
            known = self.datasets()
            if not known:
                raise NotFoundError(f"Not found: Dataset {dataset}; {NO_DATASETS_YET.format(dataset=dataset)}")
            raise NotFoundError(f"Not found: Dataset {dataset}{_suggest(dataset, known, 'datasets')}")

    def create_dataset(self, dataset: str, if_not_exists: bool) -> None:
        if dataset.startswith("__") or dataset.lower() in _INTERNAL_SCHEMAS:
            raise SQLError(f"Invalid dataset name {dataset!r}: this name is reserved")
        if self.has_dataset(dataset):
            if if_not_exists:
                return
            raise AlreadyExistsError(f"Already Exists: Dataset {dataset}")
        run(self.con, f"CREATE SCHEMA {quoted(dataset)}")

    def drop_dataset(self, dataset: str, if_exists: bool, cascade: bool) -> list[str]:
        """Drop a dataset; returns the model folders to delete once the drop committed."""
        if not self.has_dataset(dataset):
            if if_exists:
                return []
            self.require_dataset(dataset)
        contents = self.relations(dataset) + self.models(dataset) + self.functions(dataset)
        if contents and not cascade:
            raise SQLError(f"Dataset {dataset} is not empty ({len(contents)} object(s)); use DROP SCHEMA ... CASCADE")
        in_dataset = "lower(dataset) = lower(?)"
        folders = [f for (f,) in run(self.con, f"SELECT folder FROM {MODELS} WHERE {in_dataset}", [dataset])]
        caches = [c for (c,) in run(self.con, f"SELECT cache_table FROM {OBJECT_TABLES} WHERE {in_dataset}", [dataset])]
        with transaction(self.con):
            for cache in caches:
                run(self.con, f"DROP TABLE IF EXISTS {quoted(SCHEMA, cache)}")
            run(self.con, f"DELETE FROM {OBJECT_TABLES} WHERE {in_dataset}", [dataset])
            run(self.con, f"DELETE FROM {MODELS} WHERE {in_dataset}", [dataset])
            information_schema.forget_dataset(self.con, dataset)
            vector_indexes.forget_dataset(self.con, dataset)
            run(self.con, f"DROP SCHEMA {quoted(dataset)} CASCADE")
        self.persistent_functions.forget()  # its functions went with it
        return folders

    # -- relations ------------------------------------------------------------------------
    def relations(self, dataset: str) -> list[str]:
        rows = run(
            self.con, "SELECT table_name FROM information_schema.tables WHERE lower(table_schema) = lower(?)", [dataset]
        )
        return sorted(r[0] for r in rows)

    def kind(self, name: Name) -> RelationKind | None:
        """What ``name`` is, or None."""
        if self.object_table(name) is not None:
            return RelationKind.OBJECT_TABLE
        row = first_row(
            self.con,
            "SELECT table_type FROM information_schema.tables WHERE lower(table_schema) = ? AND lower(table_name) = ?",
            list(name.key),
        )
        if row:
            return RelationKind.VIEW if row[0] == "VIEW" else RelationKind.TABLE
        if self.model_row(name) is not None:
            return RelationKind.MODEL
        return None

    def object_rows(self, name: Name, source: str) -> tuple[exp.Expr, str]:
        """An object table's query over ``source`` (a stream of its listed rows), and the query
        that gives those rows from the cache."""
        table = self.object_table(name)
        if table is None:
            raise NotFoundError(f"Not found: Table {name}")
        listed = f"SELECT {', '.join(OBJECT_SCHEMA.names)} FROM {quoted(SCHEMA, table.cache_table)}"
        return sqlglot.parse_one(table.view_sql(quoted(source)), read="duckdb"), listed

    def view_query(self, name: Name) -> exp.Expression | None:
        """A view's stored query, in the DuckDB SQL it was created with; None if it is no view of ours.

        Parsed without positions: they would point into the view's text, not the statement's.
        """
        if self.object_table(name) is not None:
            return None
        row = first_row(
            self.con,
            "SELECT sql FROM duckdb_views() WHERE NOT internal AND lower(schema_name) = ? AND lower(view_name) = ?",
            list(name.key),
        )
        if row is None:
            return None
        create = sqlglot.parse_one(row[0], read="duckdb")
        query = create.expression if isinstance(create, exp.Create) else None
        if query is None:
            return None
        for node in query.walk():
            node.meta.clear()
        return query

    def require_relation(self, name: Name) -> RelationKind:
        """The kind of a table that a query reads; NotFoundError with suggestions otherwise."""
        self.require_dataset(name.dataset)
        kind = self.kind(name)
        if kind is None:
            known = self.relations(name.dataset)
            raise NotFoundError(
                f"Not found: Table {name} was not found{_suggest(name.name, known, 'tables in ' + name.dataset)}"
            )
        if kind is RelationKind.MODEL:
            raise SQLError(f"{name} is a model, not a table: read it with ML.PREDICT(MODEL {name}, ...)")
        return kind

    def check_name_free(self, name: Name, creating: RelationKind, replace: bool) -> bool:
        """BigQuery's rule: a name is unique among a dataset's tables *and* models.

        Returns True when the name exists with the same kind (so OR REPLACE may replace it).
        Tables and views replace each other; models and object tables only their own kind.
        """
        self.require_dataset(name.dataset)
        kind = self.kind(name)
        if kind is None:
            return False
        special = (RelationKind.MODEL, RelationKind.OBJECT_TABLE)
        if kind != creating and (kind in special or creating in special):
            raise AlreadyExistsError(
                f"Already Exists: {name} is a {kind.value}; a {creating.value} "
                "cannot have the same name as another table or model of its dataset"
            )
        return True

    def drop_relation(self, name: Name, if_exists: bool, view: bool) -> None:
        """``DROP TABLE`` drops tables and object tables, ``DROP VIEW`` views: each only its own kind."""
        kind = self.kind(name) if self.has_dataset(name.dataset) else None
        if kind is None or kind is RelationKind.MODEL:
            if if_exists:
                return
            if kind is RelationKind.MODEL:
                raise SQLError(f"{name} is a model: drop it with DROP MODEL {name}")
            self.require_relation(name)
            return
        if (kind is RelationKind.VIEW) != view:
            raise SQLError(
                f"{name} is a {kind.value}: drop it with DROP {'VIEW' if kind is RelationKind.VIEW else 'TABLE'} {name}"
            )
        with transaction(self.con):
            self.drop_relation_in_transaction(name, kind)
            vector_indexes.forget_table(self.con, name)

    def drop_relation_in_transaction(self, name: Name, kind: RelationKind) -> None:
        """Drop a table, view or object table; the caller holds the transaction."""
        table = name.sql()
        information_schema.forget(self.con, name)
        if kind is RelationKind.OBJECT_TABLE:
            definition = self.object_table(name)
            assert definition is not None
            run(self.con, f"DROP VIEW {table}")
            run(self.con, f"DROP TABLE IF EXISTS {quoted(SCHEMA, definition.cache_table)}")
            run(self.con, f"DELETE FROM {OBJECT_TABLES} WHERE {_BY_NAME}", list(name.key))
        else:
            run(self.con, f"DROP {'VIEW' if kind is RelationKind.VIEW else 'TABLE'} {table}")

    # -- object tables --------------------------------------------------------------------
    def object_table(self, name: Name) -> ObjectTable | None:
        row = first_row(
            self.con,
            "SELECT dataset, name, uris, connection, staleness_seconds, cache_mode, cache_table "
            f"FROM {OBJECT_TABLES} WHERE {_BY_NAME}",
            list(name.key),
        )
        if row is None:
            return None
        return ObjectTable(Name(row[0], row[1]), list(row[2]), row[3], timedelta(seconds=row[4]), row[5], row[6])

    def create_object_table(self, table: ObjectTable, replace: bool, if_not_exists: bool) -> None:
        if replace and if_not_exists:
            raise SQLError("CREATE OR REPLACE and IF NOT EXISTS cannot be used together")
        exists = self.check_name_free(table.name, RelationKind.OBJECT_TABLE, replace)
        if exists and if_not_exists:
            return
        if exists and not replace:
            raise AlreadyExistsError(f"Already Exists: Table {table.name}")
        with transaction(self.con):
            if exists:
                self.drop_relation_in_transaction(table.name, RelationKind.OBJECT_TABLE)
            refresh(self.con, table, self.objects)
            run(
                self.con,
                f"INSERT INTO {OBJECT_TABLES} VALUES (?, ?, ?, ?, ?, ?, ?, now())",
                [
                    table.name.dataset,
                    table.name.name,
                    table.uris,
                    table.connection,
                    table.staleness.total_seconds(),
                    table.cache_mode,
                    table.cache_table,
                ],
            )
            information_schema.remember(self.con, table.name, None)

    def ensure_fresh(self, name: Name, force: bool = False) -> None:
        """Re-list an object table when BigQuery's cache rules say its metadata is stale."""
        table = self.object_table(name)
        if table is None:
            if force:
                raise NotFoundError(f"Not found: object table {name}")
            return
        row = first_row(self.con, f"SELECT refreshed FROM {OBJECT_TABLES} WHERE {_BY_NAME}", list(name.key))
        if force or needs_refresh(table, row[0] if row else None):
            with transaction(self.con):
                refresh(self.con, table, self.objects)
                run(self.con, f"UPDATE {OBJECT_TABLES} SET refreshed = now() WHERE {_BY_NAME}", list(name.key))

    # -- user-defined functions (DuckDB macros: catalog/functions.py) ---------------------
    def functions(self, dataset: str) -> list[str]:
        return self.persistent_functions.names(self.con, dataset)

    def function(self, name: Name) -> Routine:
        """The persistent function a call names; "Function not found" with the dataset's others."""
        routine = self.persistent_functions.find(self.con, name)
        if routine is None:
            if not self.has_dataset(name.dataset):
                raise NotFoundError(f"Function not found: {name} (there is no dataset {name.dataset})")
            suggestion = _suggest(name.name, self.functions(name.dataset), f"functions in {name.dataset}")
            raise NotFoundError(f"Function not found: {name}{suggestion}")
        return routine

    # -- models (metadata only; files are the model store's) ------------------------------
    def model_row(self, name: Name) -> dict[str, Any] | None:
        cur = self.con.execute(f"SELECT * FROM {MODELS} WHERE {_BY_NAME}", list(name.key))
        rows = cur.fetchall()
        return dict(zip([d[0] for d in cur.description], rows[0])) if rows else None

    def put_model(
        self,
        name: Name,
        model_type: str,
        model_path: str,
        folder: str,
        size: int,
        model_schema: dict[str, Any],
        options: dict[str, Any],
        created: datetime,
    ) -> None:
        run(self.con, f"DELETE FROM {MODELS} WHERE {_BY_NAME}", list(name.key))
        run(
            self.con,
            f"INSERT INTO {MODELS} VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                name.dataset,
                name.name,
                model_type,
                model_path,
                folder,
                size,
                json.dumps(model_schema),
                json.dumps(options, default=str),
                created,
            ],
        )

    def delete_model(self, name: Name) -> None:
        run(self.con, f"DELETE FROM {MODELS} WHERE {_BY_NAME}", list(name.key))

    def models(self, dataset: str) -> list[str]:
        return sorted(
            n for (n,) in run(self.con, f"SELECT name FROM {MODELS} WHERE lower(dataset) = lower(?)", [dataset])
        )

    # -- everything at once ---------------------------------------------------------------
    def snapshot(self) -> CatalogSnapshot:
        """Every dataset, relation (with its columns) and model (with its features), in a few bulk queries."""
        return CatalogSnapshot.read(self.con, hidden=_INTERNAL_SCHEMAS)


def _suggest(wrong: str, known: list[str], what: str) -> str:
    close = difflib.get_close_matches(wrong, known, n=3, cutoff=0.5)
    if close:
        return f"; did you mean {', '.join(close)}?"
    return f"; {what}: {', '.join(known)}" if known else f"; there are no {what}"
