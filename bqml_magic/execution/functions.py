"""CREATE FUNCTION and DROP FUNCTION: a SQL function becomes a DuckDB macro (``sql/udf.py``), kept in
its dataset or, when temporary, for the script (``catalog/functions.py``).

The body goes through the same translation as any query, so its ML.* calls become our DuckDB
functions and its tables the catalog's. DuckDB binds the macro's body when it is created, and a
typed function is bound once more on its declared types: a name or type the body gets wrong fails
the CREATE, where BigQuery fails it, never a later query. Both run in one transaction, so a failed
``CREATE OR REPLACE`` leaves the old function as it was.
"""

from __future__ import annotations

from sqlglot import exp

from bqml_magic.catalog.db import transaction
from bqml_magic.errors import AlreadyExistsError, NotFoundError, SQLError
from bqml_magic.execution.run import Execution
from bqml_magic.sql.names import Name, at, name_parts, object_name, quoted
from bqml_magic.sql.pipeline import to_duckdb
from bqml_magic.sql.udf import FunctionDefinition, Routine, refuse_temporary_calls, with_parameter_values


def create(run: Execution, statement: exp.Create) -> str:
    """Create (or replace) the function; its name as the user wrote it."""
    definition = FunctionDefinition.of(statement)
    label = str(definition.name)
    if isinstance(definition.name, Name):
        run.services.catalog.require_dataset(definition.name.dataset)
    existing = _existing(run, definition.name)
    if existing is not None and definition.if_not_exists:
        return label
    if existing is not None and not definition.replace:
        raise AlreadyExistsError(f"Already Exists: Function {existing.name}")
    path = existing.path if existing is not None else _new_path(run, definition.name)
    ddl = definition.macro(path, _body(run, definition))
    routine = definition.routine(path)
    con = run.services.con
    if definition.temporary:
        run.options.functions.attach(con)
    try:
        with transaction(con):
            run.execute(to_duckdb(ddl), ddl)
            if not definition.templated:
                run.execute(to_duckdb(routine.probe()), ddl)
    finally:
        run.services.catalog.persistent_functions.forget()
    if definition.temporary:
        run.options.functions.add(routine)
    return label


def drop(run: Execution, statement: exp.Drop) -> str:
    """``DROP FUNCTION [IF EXISTS] d.f``, or a bare ``f``: a temporary function of the script."""
    tables = statement.args.get("tables") or [statement.this]
    parts = name_parts(tables[0])
    name: Name | str = parts[0] if len(parts) == 1 else object_name(tables[0], "Function")
    routine = _existing(run, name)
    if routine is None:
        if statement.args.get("exists"):
            return str(name)
        raise NotFoundError(f"Not found: Function {name}", **at(tables[0]))
    if routine.temporary:
        run.options.functions.drop(run.services.con, routine.name)
    else:
        with transaction(run.services.con):
            run.execute(f"DROP MACRO {quoted(*routine.path)}", statement)
        run.services.catalog.persistent_functions.forget()
    return routine.name


def _existing(run: Execution, name: Name | str) -> Routine | None:
    if isinstance(name, str):
        return run.options.functions.get(name)
    try:
        return run.services.catalog.function(name)
    except NotFoundError:
        return None


def _new_path(run: Execution, name: Name | str) -> tuple[str, ...]:
    return run.options.functions.path(name) if isinstance(name, str) else (name.dataset, name.name)


def _body(run: Execution, definition: FunctionDefinition) -> exp.Expression:
    """The body in DuckDB's terms, as stored: a persistent one may name neither query parameters nor
    temporary functions (they are gone when the script ends) [doc]."""
    translation = run.translate(definition.body, stored=True)
    if translation.table_calls:
        call = "ML.PREDICT" if translation.predictions else "VECTOR_SEARCH"
        raise SQLError(f"{call} inside a function is not supported here; call the function in its input query")
    tree = translation.tree
    if definition.temporary:
        return with_parameter_values(tree, dict(run.options.params))
    what = f"Persistent function {definition.name}"
    parameter = next(tree.find_all(exp.Parameter), None)
    if parameter is not None:
        raise SQLError(f"{what} cannot use query parameters (@{parameter.name})", **at(parameter.parent or parameter))
    refuse_temporary_calls(tree, what)
    return tree
