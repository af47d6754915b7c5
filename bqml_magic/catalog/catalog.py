"""Datasets, tables, object tables and models, persisted in one DuckDB database.

Datasets are DuckDB schemas; tables and object-table views live in them. What DuckDB has no
notion of (object-table definitions, imported models) is kept in metadata tables of the
hidden ``__bqml`` schema, written in the same transactions as the objects they describe so a
failed ``CREATE OR REPLACE`` leaves the old object exactly as it was.
"""
from __future__ import annotations

import difflib
import json
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any, Iterator

import duckdb

from bqml_magic.catalog.object_tables import SCHEMA, ObjectTable, needs_refresh, refresh
from bqml_magic.errors import AlreadyExistsError, NotFoundError, SQLError
from bqml_magic.sql.names import Name
from bqml_magic.storage.uris import BucketMap

_INTERNAL_SCHEMAS = {SCHEMA, "main", "information_schema", "pg_catalog"}

_BOOTSTRAP = f"""
CREATE SCHEMA IF NOT EXISTS {SCHEMA};
CREATE TABLE IF NOT EXISTS {SCHEMA}.object_tables (
    dataset VARCHAR, name VARCHAR, uris VARCHAR[], connection VARCHAR,
    staleness_seconds DOUBLE, cache_mode VARCHAR, cache_table VARCHAR, refreshed TIMESTAMPTZ,
    PRIMARY KEY (dataset, name));
CREATE TABLE IF NOT EXISTS {SCHEMA}.models (
    dataset VARCHAR, name VARCHAR, model_type VARCHAR, model_path VARCHAR, folder VARCHAR,
    size_bytes BIGINT, schema_json VARCHAR, options_json VARCHAR, created TIMESTAMPTZ,
    PRIMARY KEY (dataset, name));
"""


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


class Catalog:
    """Name resolution and object lifecycle, over one DuckDB connection."""

    def __init__(self, con: duckdb.DuckDBPyConnection, buckets: BucketMap):
        self.con = con
        self.buckets = buckets
        run(con, _BOOTSTRAP)

    # -- datasets -------------------------------------------------------------------------
    def datasets(self) -> list[str]:
        rows = self.con.execute("SELECT schema_name FROM information_schema.schemata").fetchall()
        return sorted({r[0] for r in rows} - _INTERNAL_SCHEMAS)

    def has_dataset(self, dataset: str) -> bool:
        return dataset.lower() in (d.lower() for d in self.datasets())

    def require_dataset(self, dataset: str) -> None:
        if not self.has_dataset(dataset):
            raise NotFoundError(f"Not found: Dataset {dataset}{_suggest(dataset, self.datasets(), 'datasets')}")

    def create_dataset(self, dataset: str, if_not_exists: bool) -> None:
        if dataset.startswith("__") or dataset.lower() in _INTERNAL_SCHEMAS:
            raise SQLError(f"Invalid dataset name {dataset!r}: this name is reserved")
        if self.has_dataset(dataset):
            if if_not_exists:
                return
            raise AlreadyExistsError(f"Already Exists: Dataset {dataset}")
        run(self.con, f'CREATE SCHEMA "{dataset}"')

    def drop_dataset(self, dataset: str, if_exists: bool, cascade: bool) -> list[str]:
        """Drop a dataset; returns the model folders to delete once the drop committed."""
        if not self.has_dataset(dataset):
            if if_exists:
                return []
            self.require_dataset(dataset)
        contents = self.relations(dataset) + [n for n, in self._models_in(dataset)]
        if contents and not cascade:
            raise SQLError(f"Dataset {dataset} is not empty ({len(contents)} object(s)); use DROP SCHEMA ... CASCADE")
        folders = [f for f, in self.con.execute(f"SELECT folder FROM {SCHEMA}.models WHERE lower(dataset) = lower(?)", [dataset]).fetchall()]
        with transaction(self.con):
            for (cache,) in self.con.execute(
                f"SELECT cache_table FROM {SCHEMA}.object_tables WHERE lower(dataset) = lower(?)", [dataset]
            ).fetchall():
                run(self.con, f"DROP TABLE IF EXISTS {SCHEMA}.{cache}")
            run(self.con, f"DELETE FROM {SCHEMA}.object_tables WHERE lower(dataset) = lower(?)", [dataset])
            run(self.con, f"DELETE FROM {SCHEMA}.models WHERE lower(dataset) = lower(?)", [dataset])
            run(self.con, f'DROP SCHEMA "{dataset}" CASCADE')
        return folders

    def _models_in(self, dataset: str) -> list[tuple[str]]:
        return self.con.execute(f"SELECT name FROM {SCHEMA}.models WHERE lower(dataset) = lower(?)", [dataset]).fetchall()

    # -- relations ------------------------------------------------------------------------
    def relations(self, dataset: str) -> list[str]:
        rows = self.con.execute(
            "SELECT table_name FROM information_schema.tables WHERE lower(table_schema) = lower(?)", [dataset]
        ).fetchall()
        return sorted(r[0] for r in rows)

    def kind(self, name: Name) -> str | None:
        """'OBJECT_TABLE', 'TABLE', 'VIEW', 'MODEL' or None."""
        if self.object_table(name) is not None:
            return "OBJECT_TABLE"
        row = first_row(
            self.con,
            "SELECT table_type FROM information_schema.tables WHERE lower(table_schema) = ? AND lower(table_name) = ?",
            list(name.key),
        )
        if row:
            return "VIEW" if row[0] == "VIEW" else "TABLE"
        if self.model_row(name) is not None:
            return "MODEL"
        return None

    def require_relation(self, name: Name) -> str:
        """The kind of a table that a query reads; NotFoundError with suggestions otherwise."""
        self.require_dataset(name.dataset)
        kind = self.kind(name)
        if kind is None:
            known = self.relations(name.dataset)
            raise NotFoundError(f"Not found: Table {name} was not found{_suggest(name.name, known, 'tables in ' + name.dataset)}")
        if kind == "MODEL":
            raise SQLError(f"{name} is a model, not a table: read it with ML.PREDICT(MODEL {name}, ...)")
        return kind

    def check_name_free(self, name: Name, creating: str, replace: bool) -> bool:
        """BigQuery's rule: a name is unique among a dataset's tables *and* models.

        Returns True when the name exists with the same kind (so OR REPLACE may replace it).
        """
        self.require_dataset(name.dataset)
        kind = self.kind(name)
        if kind is None:
            return False
        same = (creating == "MODEL") == (kind == "MODEL") and (creating == "OBJECT_TABLE") == (kind == "OBJECT_TABLE")
        if not same:
            raise AlreadyExistsError(
                f"Already Exists: {name} is a {kind.lower().replace('_', ' ')}; a {creating.lower().replace('_', ' ')} "
                "cannot have the same name as another table or model of its dataset"
            )
        return True

    def drop_relation(self, name: Name, if_exists: bool, kind_word: str) -> None:
        """``DROP TABLE`` drops tables and object tables, ``DROP VIEW`` views: each only its own kind."""
        kind = self.kind(name) if self.has_dataset(name.dataset) else None
        if kind is None or kind == "MODEL":
            if if_exists:
                return
            if kind == "MODEL":
                raise SQLError(f"{name} is a model: drop it with DROP MODEL {name}")
            self.require_relation(name)
        if (kind == "VIEW") != (kind_word.upper() == "VIEW"):
            raise SQLError(f"{name} is a {kind.lower().replace('_', ' ')}: drop it with "
                           f"DROP {'VIEW' if kind == 'VIEW' else 'TABLE'} {name}")
        with transaction(self.con):
            self.drop_relation_in_transaction(name, kind)

    def drop_relation_in_transaction(self, name: Name, kind: str) -> None:
        """Drop a table, view or object table; the caller holds the transaction."""
        table = f'"{name.dataset}"."{name.name}"'
        if kind == "OBJECT_TABLE":
            ot = self.object_table(name)
            run(self.con, f"DROP VIEW {table}")
            run(self.con, f"DROP TABLE IF EXISTS {SCHEMA}.{ot.cache_table}")
            run(self.con, f"DELETE FROM {SCHEMA}.object_tables WHERE lower(dataset) = ? AND lower(name) = ?", list(name.key))
        else:
            run(self.con, f"DROP {'VIEW' if kind == 'VIEW' else 'TABLE'} {table}")

    # -- object tables --------------------------------------------------------------------
    def object_table(self, name: Name) -> ObjectTable | None:
        row = first_row(
            self.con,
            f"SELECT dataset, name, uris, connection, staleness_seconds, cache_mode, cache_table "
            f"FROM {SCHEMA}.object_tables WHERE lower(dataset) = ? AND lower(name) = ?",
            list(name.key),
        )
        if row is None:
            return None
        return ObjectTable(Name(row[0], row[1]), list(row[2]), row[3], timedelta(seconds=row[4]), row[5], row[6])

    def create_object_table(self, table: ObjectTable, replace: bool, if_not_exists: bool) -> None:
        if replace and if_not_exists:
            raise SQLError("CREATE OR REPLACE and IF NOT EXISTS cannot be used together")
        exists = self.check_name_free(table.name, "OBJECT_TABLE", replace)
        if exists and if_not_exists:
            return
        if exists and not replace:
            raise AlreadyExistsError(f"Already Exists: Table {table.name}")
        with transaction(self.con):
            if exists:
                self.drop_relation_in_transaction(table.name, "OBJECT_TABLE")
            refresh(self.con, table, self.buckets)
            run(self.con, 
                f"INSERT INTO {SCHEMA}.object_tables VALUES (?, ?, ?, ?, ?, ?, ?, now())",
                [table.name.dataset, table.name.name, table.uris, table.connection,
                 table.staleness.total_seconds(), table.cache_mode, table.cache_table],
            )
            run(self.con, f'CREATE VIEW "{table.name.dataset}"."{table.name.name}" AS {table.view_sql()}')

    def ensure_fresh(self, name: Name, force: bool = False) -> None:
        """Re-list an object table when BigQuery's cache rules say its metadata is stale."""
        table = self.object_table(name)
        if table is None:
            if force:
                raise NotFoundError(f"Not found: object table {name}")
            return
        [(refreshed,)] = self.con.execute(
            f"SELECT refreshed FROM {SCHEMA}.object_tables WHERE lower(dataset) = ? AND lower(name) = ?", list(name.key)
        ).fetchall()
        if force or needs_refresh(table, refreshed):
            with transaction(self.con):
                refresh(self.con, table, self.buckets)
                run(self.con, 
                    f"UPDATE {SCHEMA}.object_tables SET refreshed = now() WHERE lower(dataset) = ? AND lower(name) = ?",
                    list(name.key),
                )

    # -- models (metadata only; files are the model store's) ------------------------------
    def model_row(self, name: Name) -> dict[str, Any] | None:
        cur = self.con.execute(
            f"SELECT * FROM {SCHEMA}.models WHERE lower(dataset) = ? AND lower(name) = ?", list(name.key)
        )
        rows = cur.fetchall()
        return dict(zip([d[0] for d in cur.description], rows[0])) if rows else None

    def put_model(self, name: Name, model_type: str, model_path: str, folder: str, size: int,
                  schema: dict[str, Any], options: dict[str, Any], created: datetime) -> None:
        run(self.con, f"DELETE FROM {SCHEMA}.models WHERE lower(dataset) = ? AND lower(name) = ?", list(name.key))
        run(self.con, 
            f"INSERT INTO {SCHEMA}.models VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [name.dataset, name.name, model_type, model_path, folder, size, json.dumps(schema),
             json.dumps(options, default=str), created],
        )

    def delete_model(self, name: Name) -> None:
        run(self.con, f"DELETE FROM {SCHEMA}.models WHERE lower(dataset) = ? AND lower(name) = ?", list(name.key))

    def models(self, dataset: str) -> list[str]:
        return sorted(n for n, in self._models_in(dataset))


def _suggest(wrong: str, known: list[str], what: str) -> str:
    close = difflib.get_close_matches(wrong, known, n=3, cutoff=0.5)
    if close:
        return f"; did you mean {', '.join(close)}?"
    return f"; {what}: {', '.join(known)}" if known else f"; there are no {what}"
