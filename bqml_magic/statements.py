"""One handler per statement kind: the table the engine dispatches on.

Each handler runs one parsed statement and says what it did. DDL that replaces an object
runs in a DuckDB transaction, so a failure leaves the old object unchanged.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import pandas as pd
import pyarrow as pa
from sqlglot import exp

from bqml_magic.catalog.catalog import transaction
from bqml_magic.catalog.object_tables import ObjectTable
from bqml_magic.errors import AlreadyExistsError, SQLError
from bqml_magic.progress import Progress
from bqml_magic.query import QueryRunner
from bqml_magic.sql import translate
from bqml_magic.sql.names import dataset_name, object_name
from bqml_magic.sql.parse import CreateExternalTable, options_of

_STAGE = "__bqml_stage"


@dataclass
class StatementResult:
    """What one statement did: its kind, the object it touched, and rows for queries."""

    kind: str
    target: str | None = None
    frame: pd.DataFrame = field(default_factory=pd.DataFrame)
    folders_to_delete: list[Path] = field(default_factory=list, repr=False)


Handler = Callable[[QueryRunner, Any, dict[str, Any], Progress], StatementResult]


def to_dataframe(table: pa.Table) -> pd.DataFrame:
    """Like %%bigquery: nullable Int64/boolean columns, arrays as numpy arrays, structs as dicts."""
    mapping = {pa.int64(): pd.Int64Dtype(), pa.int32(): pd.Int64Dtype(), pa.bool_(): pd.BooleanDtype()}
    return table.to_pandas(types_mapper=mapping.get)


def run_query(runner: QueryRunner, statement: exp.Expression, params: dict[str, Any], progress: Progress) -> StatementResult:
    if runner.row_limit is not None:
        statement = translate.first_rows(statement, runner.row_limit)
    stream = runner.stream(statement, params, progress)
    return StatementResult("QUERY", frame=to_dataframe(runner.collect(stream, statement)))


def create_schema(runner: QueryRunner, statement: exp.Create, params: dict[str, Any], progress: Progress) -> StatementResult:
    if statement.args.get("replace"):
        raise SQLError("CREATE OR REPLACE SCHEMA is not supported by BigQuery; use CREATE SCHEMA IF NOT EXISTS")
    dataset = dataset_name(statement.this)
    runner.catalog.create_dataset(dataset, bool(statement.args.get("exists")))
    return StatementResult("CREATE_SCHEMA", dataset)


def drop_schema(runner: QueryRunner, statement: exp.Drop, params: dict[str, Any], progress: Progress) -> StatementResult:
    dataset = dataset_name(statement.args["tables"][0] if statement.args.get("tables") else statement.this)
    folders = runner.catalog.drop_dataset(dataset, bool(statement.args.get("exists")), bool(statement.args.get("cascade")))
    return StatementResult("DROP_SCHEMA", dataset, folders_to_delete=[Path(f) for f in folders])


def create_external_table(runner: QueryRunner, statement: CreateExternalTable, params: dict[str, Any],
                          progress: Progress) -> StatementResult:
    table = ObjectTable.from_options(statement.name, statement.connection, statement.options)
    runner.catalog.create_object_table(table, statement.replace, statement.if_not_exists)
    return StatementResult("CREATE_EXTERNAL_TABLE", str(statement.name))


def create_model(runner: QueryRunner, statement: exp.Create, params: dict[str, Any], progress: Progress) -> StatementResult:
    name = object_name(statement.this, "Model")
    folders = runner.models.create(name, options_of(statement), bool(statement.args.get("replace")),
                                   bool(statement.args.get("exists")))
    return StatementResult("CREATE_MODEL", str(runner.models.info(name).name), folders_to_delete=folders)


def drop_model(runner: QueryRunner, statement: exp.Drop, params: dict[str, Any], progress: Progress) -> StatementResult:
    name = object_name(_dropped(statement), "Model")
    return StatementResult("DROP_MODEL", str(name), folders_to_delete=runner.models.drop(name, bool(statement.args.get("exists"))))


def drop_table(runner: QueryRunner, statement: exp.Drop, params: dict[str, Any], progress: Progress) -> StatementResult:
    name = object_name(_dropped(statement))
    runner.catalog.drop_relation(name, bool(statement.args.get("exists")), statement.args.get("kind", "TABLE"))
    return StatementResult(f"DROP_{statement.args.get('kind', 'TABLE').upper()}", str(name))


def create_table(runner: QueryRunner, statement: exp.Create, params: dict[str, Any], progress: Progress) -> StatementResult:
    """CREATE TABLE with columns, or AS (query) streamed into DuckDB; OR REPLACE is atomic."""
    kind = statement.args["kind"].upper()
    target = statement.this.this if isinstance(statement.this, exp.Schema) else statement.this
    name = object_name(target)
    replace, if_not_exists = bool(statement.args.get("replace")), bool(statement.args.get("exists"))
    if replace and if_not_exists:
        raise SQLError(f"CREATE OR REPLACE {kind} and IF NOT EXISTS cannot be used together")
    exists = runner.catalog.check_name_free(name, kind, replace)
    if exists and if_not_exists:
        return StatementResult(f"CREATE_{kind}", str(name))
    if exists and not replace:
        raise AlreadyExistsError(f"Already Exists: Table {name}")
    old_kind = runner.catalog.kind(name) if exists else None
    query = statement.expression
    con = runner.con
    if kind == "VIEW":
        body = _view_sql(runner, query)
    elif query is not None:
        stream = runner.stream(query.this if isinstance(query, exp.Subquery) else query, params, progress)
        con.register(_STAGE, stream.reader())
        body = f"SELECT * FROM {_STAGE}"
    else:
        body = None
    resolved = statement.copy()
    resolved.set("replace", False)
    resolved.set("exists", False)
    resolved.set("expression", None)
    new_target = name.to_table()
    if isinstance(resolved.this, exp.Schema):
        resolved.this.set("this", new_target)
    else:
        resolved.set("this", new_target)
    ddl = translate.to_duckdb(resolved) + (f" AS {body}" if body else "")
    try:
        with transaction(con):
            if old_kind is not None:
                runner.catalog.drop_relation_in_transaction(name, old_kind)
            runner.run(con, ddl, params if query is None else {}, statement)
    except Exception as exc:
        raise runner.translate_error(exc, statement) if not _is_ours(exc) else exc
    finally:
        if body == f"SELECT * FROM {_STAGE}":
            con.unregister(_STAGE)
    return StatementResult(f"CREATE_{kind}", str(name))


def dml(runner: QueryRunner, statement: exp.Expression, params: dict[str, Any], progress: Progress) -> StatementResult:
    """INSERT / UPDATE / DELETE / MERGE; an INSERT's query streams like any other."""
    statement = statement.copy()
    source = statement.args.get("expression") if isinstance(statement, exp.Insert) else None
    if isinstance(source, (exp.Select, exp.Union, exp.Subquery)):
        stream = runner.stream(source.this if isinstance(source, exp.Subquery) else source, params, progress)
        runner.con.register(_STAGE, stream.reader())
        source.replace(exp.select("*").from_(_STAGE))
    try:
        object_tables = translate.resolve_tables(statement, lambda n, t: runner.catalog.require_relation(n))
        if object_tables:
            raise SQLError("Object tables are read-only")
        translate.rewrite_ml_calls(statement)
        with transaction(runner.con):
            runner.run(runner.con, translate.to_duckdb(statement), params, statement)
    except Exception as exc:
        raise exc if _is_ours(exc) else runner.translate_error(exc, statement)
    finally:
        if source is not None:
            runner.con.unregister(_STAGE)
    return StatementResult("DML")


def call(runner: QueryRunner, statement: exp.Command, params: dict[str, Any], progress: Progress) -> StatementResult:
    text = statement.expression.name
    match = re.fullmatch(r"\s*BQ\.REFRESH_EXTERNAL_METADATA_CACHE\s*\(\s*'([^']+)'\s*\)\s*", text, re.I)
    if not match:
        raise SQLError(f"Procedure not supported here: {text}; supported: BQ.REFRESH_EXTERNAL_METADATA_CACHE('dataset.table')")
    name = object_name(exp.to_table(match[1], dialect="bigquery"))
    runner.catalog.ensure_fresh(name, force=True)
    return StatementResult("CALL", str(name))


def _view_sql(runner: QueryRunner, query: exp.Expression) -> str:
    query = query.copy()
    if query.find(exp.Predict):
        raise SQLError("ML.PREDICT inside a view is not supported here; use CREATE TABLE ... AS")
    object_tables = translate.resolve_tables(query, lambda n, t: runner.catalog.require_relation(n))
    translate.rewrite_data_pseudocolumn(query, object_tables)
    translate.fix_unnest_offsets(query)
    translate.rewrite_ml_calls(query)
    return translate.to_duckdb(query)


def _dropped(statement: exp.Drop) -> exp.Table:
    tables = statement.args.get("tables")
    return tables[0] if tables else statement.this


def _is_ours(exc: BaseException) -> bool:
    from bqml_magic.errors import BQMLError

    return isinstance(exc, BQMLError)


HANDLERS: dict[str, Handler] = {
    "QUERY": run_query,
    "CREATE_SCHEMA": create_schema,
    "DROP_SCHEMA": drop_schema,
    "CREATE_EXTERNAL_TABLE": create_external_table,
    "CREATE_MODEL": create_model,
    "DROP_MODEL": drop_model,
    "CREATE_TABLE": create_table,
    "CREATE_VIEW": create_table,
    "DROP_TABLE": drop_table,
    "DROP_VIEW": drop_table,
    "DML": dml,
    "CALL": call,
}
