"""BigQuery statements -> DuckDB SQL, by transforming sqlglot's tree (never strings).

What sqlglot's BigQuery->DuckDB transpiler cannot know, done here:
- names: ``project.dataset.t`` -> the DuckDB schema ``dataset``; unknown ones fail early with
  the names that do exist and the statement's line and column;
- the object tables' ``data`` pseudocolumn -> ``bqml_read(<table>.uri)``, read only where used;
- ``UNNEST(a) WITH OFFSET`` -> a zip with ``RANGE(LEN(a))``: sqlglot emits DuckDB's
  ``WITH ORDINALITY``, which counts from 1 where BigQuery counts from 0 (SPEC section 8);
- ``ML.NAME(...)`` -> the DuckDB UDF of that function, for positions the streamed path
  does not take over (see ``lift.py``);
- unnamed result columns -> ``f0_``, ``f1_``..., BigQuery's names.
"""
from __future__ import annotations

from typing import Callable

import sqlglot
from sqlglot import exp
from sqlglot.optimizer.scope import traverse_scope

from bqml_magic.errors import SQLError
from bqml_magic.functions import REGISTRY, MLFunction
from bqml_magic.sql.names import Name, object_name, position

READ_UDF = "bqml_read"


def ml_function(node: exp.Expression) -> MLFunction | None:
    """The registered function when ``node`` is ``ML.NAME(...)``; SQLError for unknown ML names."""
    if not (isinstance(node, exp.Dot) and isinstance(node.this, exp.Identifier) and node.this.name.upper() == "ML"
            and isinstance(node.expression, exp.Anonymous)):
        return None
    name = "ML." + node.expression.name.upper()
    function = REGISTRY.get(name)
    if function is None:
        known = ", ".join(sorted(REGISTRY) + ["ML.PREDICT"])
        raise SQLError(f"Function not found: {name}; supported here: {known}", *position(node))
    function.check_arity(len(node.expression.expressions))
    return function


def ml_arguments(node: exp.Dot) -> list[exp.Expression]:
    return list(node.expression.expressions)


def cte_names(statement: exp.Expression) -> set[str]:
    return {cte.alias_or_name.lower() for cte in statement.find_all(exp.CTE)}


def resolve_tables(statement: exp.Expression, kind_of: Callable[[Name, exp.Table], str]) -> dict[str, Name]:
    """Point every table at its DuckDB schema; returns the object tables read, by alias."""
    ctes = cte_names(statement)
    object_tables: dict[str, Name] = {}
    for table in list(statement.find_all(exp.Table)):
        if not isinstance(table.this, exp.Identifier) or isinstance(table.parent, exp.Predict) and table.arg_key == "this":
            continue
        if not table.args.get("db") and table.name.lower() in ctes:
            continue
        name = object_name(table)
        if kind_of(name, table) == "OBJECT_TABLE":
            object_tables[(table.alias or name.name).lower()] = name
        resolved = name.to_table()
        for key in ("alias", "joins", "laterals", "pivots", "hints", "sample", "version"):
            if table.args.get(key) is not None:
                resolved.set(key, table.args[key])
        table.replace(resolved)
    return object_tables


def predict_input(predict: exp.Predict, statement: exp.Expression) -> exp.Expression:
    """ML.PREDICT's input as a query of its own, to run apart from ``statement``.

    ``(query)`` or ``TABLE t``; a CTE of the statement given as ``TABLE cte`` is its body, so
    its top-level ML.* projections stream in batches; the statement's CTEs that the input reads
    (and theirs) come along, in their order.
    """
    ctes = {cte.alias_or_name.lower(): cte for cte in statement.find_all(exp.CTE)}
    source = predict.expression
    if isinstance(source, exp.Subquery):
        query = source.this.copy()
    elif isinstance(source, exp.Table) and not source.args.get("db") and source.name.lower() in ctes:
        query = ctes[source.name.lower()].this.copy()
    else:
        query = exp.select("*").from_(source.copy())
    return _with_ctes_read(query, ctes)


def _with_ctes_read(query: exp.Expression, ctes: dict[str, exp.CTE]) -> exp.Expression:
    existing = query.args.get("with_")
    own = {cte.alias_or_name.lower() for cte in existing.expressions} if existing else set()
    needed: set[str] = set()
    pending = [query]
    while pending:
        for table in pending.pop().find_all(exp.Table):
            name = table.name.lower()
            if not table.args.get("db") and name in ctes and name not in own | needed:
                needed.add(name)
                pending.append(ctes[name].this)
    if needed:
        outer = [cte.copy() for name, cte in ctes.items() if name in needed]
        query.set("with_", exp.With(expressions=outer + (existing.expressions if existing else [])))
    return query


def rewrite_data_pseudocolumn(statement: exp.Expression, object_tables: dict[str, Name]) -> None:
    """``data`` / ``t.data`` / ``dataset.t.data`` of an object table -> ``bqml_read(t.uri)``."""
    if not object_tables:
        return
    for scope in traverse_scope(statement):
        sources = {
            alias.lower(): src for alias, src in scope.sources.items()
            if isinstance(src, exp.Table) and (alias.lower() in object_tables)
        }
        for column in scope.columns:
            if column.name.lower() != "data":
                continue
            qualifier = column.table.lower()
            if qualifier:
                if qualifier not in sources:
                    continue
                alias = qualifier
            elif len(sources) == 1:
                alias = next(iter(sources))
            else:
                continue
            uri = exp.column("uri", table=exp.to_identifier(alias))
            read = exp.Anonymous(this=READ_UDF, expressions=[uri])
            column.replace(exp.alias_(read, column.name) if isinstance(column.parent, exp.Select) else read)


def fix_unnest_offsets(statement: exp.Expression) -> None:
    """BigQuery's 0-based ``WITH OFFSET`` as a lateral zip (see module docstring)."""
    for index, unnest in enumerate(list(statement.find_all(exp.Unnest))):
        offset = unnest.args.get("offset")
        if offset is None or len(unnest.expressions) != 1:
            continue
        alias = unnest.args.get("alias")
        value = alias.columns[0].name if alias is not None and alias.columns else (
            alias.name if alias is not None and alias.name else "_value")
        off_name = offset.name if isinstance(offset, exp.Identifier) else "offset"
        array = unnest.expressions[0]
        subquery = exp.select(
            exp.alias_(exp.Unnest(expressions=[array.copy()]), value),
            exp.alias_(exp.Unnest(expressions=[exp.func("RANGE", exp.func("LEN", array.copy()))]), off_name),
        ).subquery(f"_unnest{index}")
        unnest.replace(subquery)


def rewrite_ml_calls(statement: exp.Expression) -> set[str]:
    """Remaining ``ML.NAME(...)`` -> UDF calls; returns the UDF names that must be registered."""
    used: set[str] = set()
    for dot in list(statement.find_all(exp.Dot)):
        function = ml_function(dot)
        if function is None:
            continue
        args = ml_arguments(dot)
        udf = function.udf_name if len(args) == len(function.arg_kinds) else f"{function.udf_name}_{len(args)}"
        used.add(udf)
        dot.replace(exp.Anonymous(this=udf, expressions=args))
    if any(isinstance(n, exp.Anonymous) and n.name == READ_UDF for n in statement.find_all(exp.Anonymous)):
        used.add(READ_UDF)
    return used


def first_rows(query: exp.Expression, rows: int) -> exp.Expression:
    """``query`` keeping only its first ``rows`` rows (``max_results``), as a LIMIT: DuckDB stops
    pulling rows, so decoding and ML.PREDICT stop too. A SELECT keeps its shape (its top-level
    ML.* projections still stream), with the smaller of its own LIMIT and ``rows``."""
    if isinstance(query, exp.Select):
        own = query.args.get("limit")
        value = own.expression if own is not None else None
        if own is None or (isinstance(value, exp.Literal) and value.is_int):
            return query.limit(rows if own is None else min(rows, int(value.this)))
    return exp.select("*").from_(query.subquery("_results")).limit(rows)


def name_anonymous_columns(select: exp.Expression) -> None:
    """BigQuery names an unaliased computed column ``f<i>_`` by its position."""
    if not isinstance(select, exp.Select):
        return
    counter = 0
    for projection in list(select.expressions):
        if isinstance(projection, (exp.Alias, exp.Column, exp.Star)) or projection.find(exp.Star):
            continue
        projection.replace(exp.alias_(projection.copy(), f"f{counter}_"))
        counter += 1


def to_duckdb(statement: exp.Expression) -> str:
    try:
        return statement.sql(dialect="duckdb")
    except sqlglot.errors.UnsupportedError as exc:
        raise SQLError(f"Not supported here: {exc}") from exc
