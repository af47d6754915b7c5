"""One handler per statement kind: the table the engine dispatches on.

Each handler runs one parsed statement in an :class:`Execution` and says what it did. DDL
that replaces an object runs in a DuckDB transaction, so a failure leaves the old object
unchanged.
"""

from __future__ import annotations

import contextlib
import itertools
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import pyarrow as pa
from sqlglot import exp

from bqml_magic.catalog import information_schema, vector_indexes
from bqml_magic.catalog.db import transaction
from bqml_magic.catalog.object_tables import ObjectTable
from bqml_magic.errors import AlreadyExistsError, BQMLError, SQLError
from bqml_magic.execution import functions
from bqml_magic.execution.run import Execution
from bqml_magic.sql.external_table import CreateExternalTable
from bqml_magic.sql.kinds import QUERY_TYPES, RelationKind, StatementKind
from bqml_magic.sql.metadata_names import view_definition
from bqml_magic.sql.names import Name, at, dataset_name, name_from_text, object_name
from bqml_magic.sql.options import options_of
from bqml_magic.sql.passes import first_rows
from bqml_magic.sql.pipeline import to_duckdb
from bqml_magic.sql.udf import refuse_temporary_calls
from bqml_magic.sql.vector_index import CreateVectorIndex, DropVectorIndex

_stages = itertools.count()


@dataclass
class StatementResult:
    """What one statement did: its kind, the object it touched, and rows for queries."""

    kind: StatementKind
    target: str | None = None
    frame: pd.DataFrame = field(default_factory=pd.DataFrame)
    folders_to_delete: list[Path] = field(default_factory=list, repr=False)


Handler = Callable[[Execution, Any], StatementResult]


def to_dataframe(table: pa.Table) -> pd.DataFrame:
    """Like %%bigquery: nullable Int64/boolean columns, arrays as numpy arrays, structs as dicts."""
    mapping = {pa.int64(): pd.Int64Dtype(), pa.int32(): pd.Int64Dtype(), pa.bool_(): pd.BooleanDtype()}
    return table.to_pandas(types_mapper=mapping.get)


def run_query(run: Execution, statement: exp.Expression) -> StatementResult:
    limit = run.options.row_limit
    query = first_rows(statement, limit) if limit is not None else statement
    frame = to_dataframe(run.collect(run.stream(query), statement))
    return StatementResult(StatementKind.QUERY, frame=frame)


def create_schema(run: Execution, statement: exp.Create) -> StatementResult:
    if statement.args.get("replace"):
        raise SQLError("CREATE OR REPLACE SCHEMA is not supported by BigQuery; use CREATE SCHEMA IF NOT EXISTS")
    dataset = dataset_name(statement.this)
    run.services.catalog.create_dataset(dataset, bool(statement.args.get("exists")))
    return StatementResult(StatementKind.CREATE_SCHEMA, dataset)


def drop_schema(run: Execution, statement: exp.Drop) -> StatementResult:
    dataset = dataset_name(_dropped(statement))
    services = run.services
    stored = services.catalog.drop_dataset(
        dataset, bool(statement.args.get("exists")), bool(statement.args.get("cascade"))
    )
    return StatementResult(
        StatementKind.DROP_SCHEMA, dataset, folders_to_delete=[services.models.folder_of(f) for f in stored]
    )


def create_external_table(run: Execution, statement: CreateExternalTable) -> StatementResult:
    table = ObjectTable.from_options(statement.name, statement.connection, statement.options)
    run.services.catalog.create_object_table(table, statement.replace, statement.if_not_exists)
    return StatementResult(StatementKind.CREATE_EXTERNAL_TABLE, str(statement.name))


def create_model(run: Execution, statement: exp.Create) -> StatementResult:
    name = object_name(statement.this, "Model")
    models = run.services.models
    folders = models.create(
        name, options_of(statement), bool(statement.args.get("replace")), bool(statement.args.get("exists"))
    )
    return StatementResult(StatementKind.CREATE_MODEL, models.info(name).name, folders_to_delete=folders)


def drop_model(run: Execution, statement: exp.Drop) -> StatementResult:
    name = object_name(_dropped(statement), "Model")
    folders = run.services.models.drop(name, bool(statement.args.get("exists")))
    return StatementResult(StatementKind.DROP_MODEL, str(name), folders_to_delete=folders)


def drop_table(run: Execution, statement: exp.Drop) -> StatementResult:
    name = object_name(_dropped(statement))
    view = str(statement.args.get("kind", "TABLE")).upper() == "VIEW"
    run.services.catalog.drop_relation(name, bool(statement.args.get("exists")), view)
    return StatementResult(StatementKind.DROP_VIEW if view else StatementKind.DROP_TABLE, str(name))


def create_table(run: Execution, statement: exp.Create) -> StatementResult:
    """CREATE TABLE with columns, AS (query) streamed into DuckDB, or CREATE VIEW; OR REPLACE is atomic."""
    view = str(statement.args["kind"]).upper() == "VIEW"
    kind = StatementKind.CREATE_VIEW if view else StatementKind.CREATE_TABLE
    target = statement.this.this if isinstance(statement.this, exp.Schema) else statement.this
    name = object_name(target)
    replace, if_not_exists = bool(statement.args.get("replace")), bool(statement.args.get("exists"))
    if replace and if_not_exists:
        raise SQLError(f"CREATE OR REPLACE {kind.value[7:]} and IF NOT EXISTS cannot be used together")
    catalog = run.services.catalog
    exists = catalog.check_name_free(name, RelationKind.VIEW if view else RelationKind.TABLE, replace)
    if exists and if_not_exists:
        return StatementResult(kind, str(name))
    if exists and not replace:
        raise AlreadyExistsError(f"Already Exists: Table {name}")
    old_kind = catalog.kind(name) if exists else None
    header = _ddl_header(statement, name)
    query = statement.expression.this if isinstance(statement.expression, exp.Subquery) else statement.expression
    if view:
        body = run.translate(query, stored=True)
        if body.table_calls:
            call = "ML.PREDICT" if body.predictions else "VECTOR_SEARCH"
            raise SQLError(f"{call} inside a view is not supported here; use CREATE TABLE ... AS", **at(query))
        refuse_temporary_calls(body.tree, f"View {name}")
        _replace(run, name, old_kind, f"{to_duckdb(header)} AS {body.sql}", statement, view_definition(statement))
        return StatementResult(kind, str(name))
    with _staged(run, query) as stage:  # the query's parameters were bound by its stream
        suffix = f" AS SELECT * FROM {stage}" if stage else ""
        _replace(run, name, old_kind, to_duckdb(header) + suffix, header)
    return StatementResult(kind, str(name))


def _ddl_header(statement: exp.Create, name: Name) -> exp.Create:
    """``CREATE TABLE "dataset"."name" [(columns)]``, without what we handle ourselves."""
    ddl = statement.copy()
    for key in ("replace", "exists", "expression"):
        ddl.set(key, None)
    if isinstance(ddl.this, exp.Schema):
        ddl.this.set("this", name.to_table())
    else:
        ddl.set("this", name.to_table())
    return ddl


def _replace(
    run: Execution,
    name: Name,
    old_kind: RelationKind | None,
    ddl: str,
    tree: exp.Expression,
    definition: str | None = None,
) -> None:
    """Run ``ddl`` (made from ``tree``), dropping what it replaces in the same transaction, and record
    the creation (with a view's ``definition`` as written) for INFORMATION_SCHEMA."""
    con = run.services.con
    with transaction(con):
        if old_kind is not None:
            run.services.catalog.drop_relation_in_transaction(name, old_kind)
        run.execute(ddl, tree)
        information_schema.remember(con, name, definition)
        if old_kind is RelationKind.TABLE:
            if definition is None:  # a table again: its vector indexes follow it
                vector_indexes.table_replaced(con, name)
            else:
                vector_indexes.forget_table(con, name)


def create_function(run: Execution, statement: exp.Create) -> StatementResult:
    return StatementResult(StatementKind.CREATE_FUNCTION, functions.create(run, statement))


def drop_function(run: Execution, statement: exp.Drop) -> StatementResult:
    return StatementResult(StatementKind.DROP_FUNCTION, functions.drop(run, statement))


def dml(run: Execution, statement: exp.Expression) -> StatementResult:
    """INSERT / UPDATE / DELETE / MERGE; an INSERT's query streams like any other."""
    statement = statement.copy()
    target = statement.this if isinstance(statement.this, exp.Table) else statement.find(exp.Table)
    if target is not None and run.relation_kind(object_name(target)) is RelationKind.OBJECT_TABLE:
        raise SQLError(f"Object tables are read-only: {object_name(target)} cannot be changed", **at(target))
    source = statement.args.get("expression") if isinstance(statement, exp.Insert) else None
    query = source.this if isinstance(source, exp.Subquery) else source
    with _staged(run, query if isinstance(query, QUERY_TYPES) else None) as stage:
        if stage and source is not None:
            source.replace(exp.select("*").from_(stage))
        translation = run.translate(statement, local_names=[stage] if stage else [])
        if translation.table_calls:
            call = "ML.PREDICT" if translation.predictions else "VECTOR_SEARCH"
            raise SQLError(
                f"{call} in {_what_dml(statement)} is not supported here; use it in INSERT ... SELECT", **at(statement)
            )
        with transaction(run.services.con):
            run.execute(translation.sql, translation.tree, translation)
            if target is not None:
                vector_indexes.table_changed(run.services.con, object_name(target))
    return StatementResult(StatementKind.DML)


def _what_dml(statement: exp.Expression) -> str:
    return {"insert": "INSERT", "update": "UPDATE", "delete": "DELETE", "merge": "MERGE"}.get(statement.key, "DML")


def create_vector_index(run: Execution, statement: CreateVectorIndex) -> StatementResult:
    try:
        kind = run.services.catalog.require_relation(statement.table)
    except BQMLError as exc:
        raise exc.add_context(**statement.where) from None
    run.services.vector_indexes.create(statement, kind, run.options.progress)
    return StatementResult(StatementKind.CREATE_VECTOR_INDEX, f"{statement.index} ON {statement.table}")


def drop_vector_index(run: Execution, statement: DropVectorIndex) -> StatementResult:
    try:
        run.services.catalog.require_relation(statement.table)
    except BQMLError as exc:
        raise exc.add_context(**statement.where) from None
    run.services.vector_indexes.drop(statement)
    return StatementResult(StatementKind.DROP_VECTOR_INDEX, f"{statement.index} ON {statement.table}")


def call(run: Execution, statement: exp.Command) -> StatementResult:
    text = statement.expression.name
    match = re.fullmatch(r"\s*BQ\.REFRESH_EXTERNAL_METADATA_CACHE\s*\(\s*'([^']+)'\s*\)\s*", text, re.I)
    if not match:
        raise SQLError(
            f"Procedure not supported here: {text}; supported: BQ.REFRESH_EXTERNAL_METADATA_CACHE('dataset.table')"
        )
    name = name_from_text(match[1])
    run.services.catalog.ensure_fresh(name, force=True)
    return StatementResult(StatementKind.CALL, str(name))


@contextlib.contextmanager
def _staged(run: Execution, query: exp.Expression | None) -> Iterator[str | None]:
    """A query streamed into DuckDB under a temporary table name (None when there is no query)."""
    if query is None:
        yield None
        return
    stream = run.stream(query)
    name = f"__bqml_stage{next(_stages)}"
    run.register(run.services.con, name, stream.schema, stream.batches())
    try:
        yield name
    finally:
        with contextlib.suppress(duckdb.Error):  # an aborted transaction refuses it; its rollback drops it anyway
            run.services.con.unregister(name)


def _dropped(statement: exp.Drop) -> exp.Table:
    tables = statement.args.get("tables")
    return tables[0] if tables else statement.this


HANDLERS: dict[StatementKind, Handler] = {
    StatementKind.QUERY: run_query,
    StatementKind.CREATE_SCHEMA: create_schema,
    StatementKind.DROP_SCHEMA: drop_schema,
    StatementKind.CREATE_EXTERNAL_TABLE: create_external_table,
    StatementKind.CREATE_MODEL: create_model,
    StatementKind.DROP_MODEL: drop_model,
    StatementKind.CREATE_TABLE: create_table,
    StatementKind.CREATE_VIEW: create_table,
    StatementKind.DROP_TABLE: drop_table,
    StatementKind.DROP_VIEW: drop_table,
    StatementKind.CREATE_FUNCTION: create_function,
    StatementKind.DROP_FUNCTION: drop_function,
    StatementKind.CREATE_VECTOR_INDEX: create_vector_index,
    StatementKind.DROP_VECTOR_INDEX: drop_vector_index,
    StatementKind.DML: dml,
    StatementKind.CALL: call,
}
