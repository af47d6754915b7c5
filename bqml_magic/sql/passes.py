"""The rewrite passes that turn a BigQuery statement into DuckDB's, one function each.

Each pass takes the tree and the :class:`~bqml_magic.sql.pipeline.Rewrite` under way and
returns the tree; ``pipeline.RULES`` runs them in order. What sqlglot's BigQuery -> DuckDB
transpiler cannot know is done here (docs/behaviour.md#sql-translation):

- ``ML.PREDICT(MODEL m, input)`` -> a placeholder table, the input kept as a query of its own;
- ``VECTOR_SEARCH(base, 'col', query, ...)`` -> a placeholder table, base and query kept likewise;
- names: ``project.dataset.t`` -> the DuckDB schema ``dataset``, checked against the catalog;
  a view, in a statement that runs now, -> its query (so its object tables are fresh);
  ``dataset.INFORMATION_SCHEMA.TABLES`` (and the other views) -> the catalog's view of itself;
- user-defined functions: ``d.f(x)`` / a temporary ``f(x)`` -> their DuckDB macros (``udf.py``);
- the object tables' ``data`` pseudocolumn -> ``bqml_read(<table>.uri)``, read only where used;
- ``UNNEST(a) WITH OFFSET`` -> a zip with ``RANGE(LEN(a))``: sqlglot emits DuckDB's
  ``WITH ORDINALITY``, which counts from 1 where BigQuery counts from 0;
- ``a[OFFSET(i)]`` with a computed ``i`` -> ``a[i + 1]`` (NULL below 0): sqlglot shifts only indexes it can type;
- ``0.5`` -> ``0.5e0``: a literal with a decimal point is FLOAT64 in BigQuery, DECIMAL in DuckDB;
- unnamed result columns -> ``f0_``, ``f1_``..., BigQuery's names;
- top-level ``ML.*`` projections -> lifted out of DuckDB into streamed batches (``lift.py``);
- remaining ``ML.NAME(...)`` -> the DuckDB UDF of that function;
- object tables read where those UDFs run -> streams of small batches (memory: see that pass).
"""

from __future__ import annotations

import itertools

from sqlglot import exp
from sqlglot.optimizer.scope import traverse_scope

from bqml_magic.errors import BQMLError, SQLError
from bqml_magic.sql import udf
from bqml_magic.sql.kinds import RelationKind
from bqml_magic.sql.lift import plan_lift
from bqml_magic.sql.metadata_names import MetadataRef, metadata_ref
from bqml_magic.sql.ml import FILE_SUFFIX, UDF_PREFIX, file_read, is_file_read, ml_arguments, ml_function
from bqml_magic.sql.names import Name, at, object_name
from bqml_magic.sql.rewrite import PredictCall, Rewrite
from bqml_magic.sql.vector_search import search_call

_placeholders = itertools.count()
MAX_VIEW_DEPTH = 16


def isolate_predictions(tree: exp.Expression, rewrite: Rewrite) -> exp.Expression:
    """Each outermost ML.PREDICT -> a placeholder table; its model and input are recorded.

    The executor registers the prediction stream under the placeholder's name; the input goes
    through this same pipeline as a query of its own (a nested ML.PREDICT is its business).
    """
    for node in list(tree.find_all(exp.Predict)):
        if node.find_ancestor(exp.Predict) is not None:
            continue
        placeholder = f"__bqml_predict{next(_placeholders)}"
        model = object_name(node.this, "Model")
        rewrite.predictions.append(
            PredictCall(placeholder, model, argument_query(node.expression, tree), at(node.this))
        )
        rewrite.local_names.add(placeholder)
        target = node.parent if isinstance(node.parent, exp.Table) else node
        alias = target.alias if isinstance(target, exp.Table) else None
        target.replace(exp.table_(placeholder, alias=alias or None))
    return tree


def isolate_vector_searches(tree: exp.Expression, rewrite: Rewrite) -> exp.Expression:
    """Each outermost VECTOR_SEARCH -> a placeholder table; its base and query tables are recorded
    as queries of their own (``vector_search.py``), which the executor searches between."""
    for node in list(tree.find_all(exp.VectorSearch)):
        if node.find_ancestor(exp.VectorSearch) is not None:
            continue
        placeholder = f"__bqml_search{next(_placeholders)}"
        rewrite.searches.append(search_call(node, placeholder, lambda source: argument_query(source, tree)))
        rewrite.local_names.add(placeholder)
        target = node.parent if isinstance(node.parent, exp.Table) else node
        alias = target.alias if isinstance(target, exp.Table) else None
        target.replace(exp.table_(placeholder, alias=alias or None))
    return tree


def argument_query(source: exp.Expression, statement: exp.Expression) -> exp.Expression:
    """A table function's table argument (ML.PREDICT's input, VECTOR_SEARCH's base and query) as a
    query of its own, to run apart from ``statement``.

    ``(query)`` or ``TABLE t``; a CTE of the statement given as ``TABLE cte`` is its body, so
    its top-level ML.* projections stream in batches; the statement's CTEs that the query reads
    (and theirs) come along, in their order.
    """
    ctes = {cte.alias_or_name.lower(): cte for cte in statement.find_all(exp.CTE)}
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


def resolve_tables(tree: exp.Expression, rewrite: Rewrite) -> exp.Expression:
    """Point every table at its DuckDB schema, through the catalog; note the object tables read."""
    local = rewrite.local_names | {cte.alias_or_name.lower() for cte in tree.find_all(exp.CTE)}
    for table in list(tree.find_all(exp.Table)):
        if not isinstance(table.this, exp.Identifier):
            continue
        if not table.args.get("db") and table.name.lower() in local:
            continue
        ref = metadata_ref(table)
        resolved = _catalog_relation(table, rewrite) if ref is None else _information_schema(ref, table, rewrite)
        for key in ("joins", "laterals", "pivots", "hints", "sample", "version"):
            if table.args.get(key) is not None:
                resolved.set(key, table.args[key])
        table.replace(resolved)
    return tree


def _catalog_relation(table: exp.Table, rewrite: Rewrite) -> exp.Expression:
    """A table, view or object table of the catalog: its DuckDB name, or a view's query read through."""
    name = object_name(table)
    try:
        kind = rewrite.resolver.relation_kind(name)
    except BQMLError as exc:
        raise exc.add_context(**at(table)) from None
    if kind is RelationKind.OBJECT_TABLE:
        rewrite.object_tables[(table.alias or name.name).lower()] = name
    body = rewrite.resolver.view_query(name) if kind is RelationKind.VIEW and rewrite.executing else None
    if body is not None:
        expanded = exp.Subquery(this=_expanded(body, name, table, rewrite))
        expanded.set("alias", exp.TableAlias(this=exp.to_identifier(table.alias or name.name)))
        return expanded
    resolved = name.to_table()
    if table.args.get("alias") is not None:
        resolved.set("alias", table.args["alias"])
    return resolved


def _information_schema(ref: MetadataRef, table: exp.Table, rewrite: Rewrite) -> exp.Expression:
    """An INFORMATION_SCHEMA view, read under the name the statement gives it: its alias, else the
    view's name (``TABLES.table_name``), as BigQuery names it. sqlglot aliases a backticked
    ```d.INFORMATION_SCHEMA.TABLES``` by the whole path, which no column could be qualified with."""
    try:
        resolved = rewrite.resolver.information_schema(ref)
    except BQMLError as exc:
        raise exc.add_context(**at(table)) from None
    alias = table.alias if table.alias and "." not in table.alias else ref.view.value
    resolved.set("alias", exp.TableAlias(this=exp.to_identifier(alias)))
    return resolved


def _expanded(body: exp.Expression, name: Name, table: exp.Table, rewrite: Rewrite) -> exp.Expression:
    """A view's query, its own names resolved: the object tables it reads are re-listed and may
    stream, like the statement's own (a view is read through, as BigQuery reads it)."""
    if rewrite.view_depth >= MAX_VIEW_DEPTH:
        raise SQLError(f"View {name} is nested more than {MAX_VIEW_DEPTH} views deep", **at(table))
    rewrite.view_depth += 1
    try:
        return resolve_tables(body, rewrite)
    finally:
        rewrite.view_depth -= 1


def resolve_functions(tree: exp.Expression, rewrite: Rewrite) -> exp.Expression:
    """User-defined function calls -> their DuckDB macros: ``[project.]d.f(x)`` through the catalog
    (an unknown one is "Function not found" here), ``f(x)`` when the script created a temporary ``f``."""
    for node in list(tree.find_all(exp.Dot, exp.Anonymous)):
        found = udf.function_call(node)
        if found is None:
            continue
        path, call = found
        try:
            routine = rewrite.resolver.function(udf.called_name(path, node))
        except BQMLError as exc:
            raise exc.add_context(**at(node)) from None
        if routine is not None:
            node.replace(routine.call(node, list(call.expressions)))
    return tree


def rewrite_data_pseudocolumn(tree: exp.Expression, rewrite: Rewrite) -> exp.Expression:
    """``data`` / ``t.data`` / ``dataset.t.data`` of an object table -> ``bqml_read({t.uri, t.generation, t.size})``."""
    if not rewrite.object_tables:
        return tree
    for scope in traverse_scope(tree):
        sources = {
            alias.lower(): src
            for alias, src in scope.sources.items()
            if isinstance(src, exp.Table) and alias.lower() in rewrite.object_tables
        }
        for column in scope.columns:
            if column.name.lower() != "data":
                continue
            qualifier = column.table.lower()
            if (qualifier and qualifier not in sources) or (not qualifier and len(sources) != 1):
                continue
            alias = qualifier or next(iter(sources))
            read = file_read(alias)
            column.replace(exp.alias_(read, column.name) if isinstance(column.parent, exp.Select) else read)
    return tree


def fix_unnest_offsets(tree: exp.Expression, rewrite: Rewrite) -> exp.Expression:
    """BigQuery's 0-based ``WITH OFFSET`` as a lateral zip (see the module docstring)."""
    for index, unnest in enumerate(list(tree.find_all(exp.Unnest))):
        offset = unnest.args.get("offset")
        if offset is None or len(unnest.expressions) != 1:
            continue
        alias = unnest.args.get("alias")
        if alias is not None and alias.columns:
            value = alias.columns[0].name
        else:
            value = alias.name if alias is not None and alias.name else "_value"
        off_name = offset.name if isinstance(offset, exp.Identifier) else "offset"
        array = unnest.expressions[0]
        subquery = exp.select(
            exp.alias_(exp.Unnest(expressions=[array.copy()]), value),
            exp.alias_(exp.Unnest(expressions=[exp.func("RANGE", exp.func("LEN", array.copy()))]), off_name),
        ).subquery(f"_unnest{index}")
        unnest.replace(subquery)
    return tree


def fix_array_subscripts(tree: exp.Expression, rewrite: Rewrite) -> exp.Expression:
    """``a[OFFSET(i)]`` / ``a[SAFE_OFFSET(i)]`` -> DuckDB's 1-based ``a[i + 1]``, NULL for ``i < 0``.

    sqlglot shifts the index only when it can tell it is an integer (a literal, a typed cast):
    for a column or a parameter it wrote ``a[i]``, one element off (seen with sqlglot 30.31:
    ``@labels[OFFSET(class_id)]`` named each photo's class by its neighbour's label).
    """
    for bracket in list(tree.find_all(exp.Bracket)):
        index = bracket.expressions[0] if len(bracket.expressions) == 1 else None
        if bracket.args.get("offset") != 0 or index is None or index.is_int:
            continue
        one_based = exp.Add(this=index.copy(), expression=exp.Literal.number(1))
        # a negative index is out of range in BigQuery; DuckDB's a[-1] would be the last element
        in_range = exp.GTE(this=index.copy(), expression=exp.Literal.number(0))
        index.replace(exp.Case(ifs=[exp.If(this=in_range, true=one_based)]))
        bracket.set("offset", 1)  # already 1-based: the generator adds nothing
    return tree


def type_decimal_literals(tree: exp.Expression, rewrite: Rewrite) -> exp.Expression:
    """``0.5`` -> ``0.5e0``, which DuckDB reads as DOUBLE: BigQuery types a literal with a decimal point
    FLOAT64 (``SELECT 1.1 + 2.2`` is 3.3000000000000003), DuckDB as an exact DECIMAL, which pandas
    would receive as ``decimal.Decimal`` objects. Written with an exponent, the literal keeps its digits
    and is rounded once, as BigQuery rounds it; one that has an exponent already is DOUBLE in both."""
    for literal in list(tree.find_all(exp.Literal)):
        text = literal.this
        if not literal.is_string and "." in text and "e" not in text.lower():
            literal.set("this", f"{text.rstrip('.') or '0'}e0" if text.endswith(".") else f"{text}e0")
    return tree


def name_anonymous_columns(tree: exp.Expression, rewrite: Rewrite) -> exp.Expression:
    """BigQuery names an unaliased computed column ``f<i>_`` by its position."""
    if not isinstance(tree, exp.Select):
        return tree
    counter = 0
    for projection in list(tree.expressions):
        if isinstance(projection, (exp.Alias, exp.Column, exp.Star)):
            continue
        projection.replace(exp.alias_(projection.copy(), f"f{counter}_"))
        counter += 1
    return tree


def lift_ml_projections(tree: exp.Expression, rewrite: Rewrite) -> exp.Expression:
    """For a streamed query: its top-level ML.* projections leave DuckDB (see ``lift.py``)."""
    plan = plan_lift(tree) if rewrite.lift else None
    if plan is None:
        return tree
    rewrite.lifted = plan
    return plan.inner


def rewrite_ml_calls(tree: exp.Expression, rewrite: Rewrite) -> exp.Expression:
    """Remaining ``ML.NAME(...)`` -> the DuckDB UDFs of the same kernels (short forms by arity)."""
    for dot in list(tree.find_all(exp.Dot)):
        function = ml_function(dot)
        if function is None:
            continue
        args = ml_arguments(dot)
        udf = function.udf_name
        if any(kind == "bytes" and is_file_read(arg) for kind, arg in zip(function.arg_kinds, args)):
            udf += FILE_SUFFIX  # the worker reads the file: DuckDB never holds its bytes
            args = [arg.expressions[0] if is_file_read(arg) else arg for arg in args]
        if len(args) != len(function.arg_kinds):
            udf += f"_{len(args)}"
        dot.replace(exp.Anonymous(this=udf, expressions=args).update_positions(dot.this))  # errors point at ML.
    return tree


def stream_object_tables(tree: exp.Expression, rewrite: Rewrite) -> exp.Expression:
    """Object tables read by a statement that still calls ML.* (or reads ``data``) inside DuckDB
    -> their columns over a placeholder the executor fills with the listed rows in small batches
    (the lazy ``md5_hash`` stays lazy: only the listing is streamed).

    DuckDB calls a UDF on the chunks its source gives: 2048 rows from a table, but only as many
    as an Arrow batch holds from a stream, so a WHERE that decodes images holds a few photos,
    not two thousand (docs/behaviour.md#limits).
    """
    if not rewrite.executing or not rewrite.object_tables:
        return tree
    if not any(node.name.startswith(UDF_PREFIX) for node in tree.find_all(exp.Anonymous)):
        return tree
    wanted = {name.key for name in rewrite.object_tables.values()}
    for table in list(tree.find_all(exp.Table)):
        key = (table.db.lower(), table.name.lower())
        if key not in wanted or not table.args.get("db"):
            continue
        placeholder = f"__bqml_objects{next(_placeholders)}"
        name = next(n for n in rewrite.object_tables.values() if n.key == key)
        query, rewrite.object_streams[placeholder] = rewrite.resolver.object_rows(name, placeholder)
        subquery = exp.Subquery(this=query, alias=exp.TableAlias(this=exp.to_identifier(table.alias or table.name)))
        for arg in ("joins", "laterals", "pivots"):
            if table.args.get(arg) is not None:
                subquery.set(arg, table.args[arg])
        table.replace(subquery)
    return tree


def first_rows(query: exp.Expression, rows: int) -> exp.Expression:
    """``query`` keeping only its first ``rows`` rows (``max_results``), as a LIMIT: DuckDB stops
    pulling rows, so decoding and ML.PREDICT stop too. A SELECT keeps its shape (its top-level
    ML.* projections still stream), with the smaller of its own LIMIT and ``rows``."""
    if isinstance(query, exp.Select):
        own = query.args.get("limit")
        value = own.expression if own is not None else None
        if own is None:
            return query.limit(rows)
        if isinstance(value, exp.Literal) and value.is_int:
            return query.limit(min(rows, int(value.this)))
    return exp.select("*").from_(as_subquery(query, "_results")).limit(rows)


def as_subquery(query: exp.Expression, alias: str) -> exp.Subquery:
    """``(query) AS alias``, for any statement that returns rows."""
    return exp.Subquery(this=query, alias=exp.TableAlias(this=exp.to_identifier(alias)))
