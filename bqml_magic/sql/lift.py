"""Taking ML.* projections out of DuckDB, into the streamed batch path.

DuckDB calls a UDF on chunks of 2048 rows: 2048 decoded photos would hold gigabytes. So a
statement's top-level ``ML.F(...) AS name`` projections are *lifted*: DuckDB computes only
the relational part (filters, joins, the functions' arguments) and streams it in small
batches; ``batches.py`` evaluates the functions per image on a thread pool, and the file
behind ``data`` is read inside that worker, never materialised by DuckDB. Anything else
(ML.* inside WHERE, aggregates, nested SQL) stays with the DuckDB UDFs, same kernels.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlglot import exp

from bqml_magic.functions import MLFunction
from bqml_magic.sql.ml import is_file_read, ml_arguments, ml_function

PLACEHOLDER = "__bqml_out{}"
LEAF = "__bqml_arg{}"


@dataclass(frozen=True)
class Leaf:
    """An argument DuckDB computes: column ``column`` of the inner query, of a given kind."""

    column: str
    kind: str


@dataclass(frozen=True)
class FileLeaf:
    """The ``data`` pseudocolumn: the inner query gives the object's reference; the worker reads the bytes."""

    column: str


@dataclass(frozen=True)
class Call:
    function: MLFunction
    args: tuple[Node, ...]


Node = Leaf | FileLeaf | Call


@dataclass
class Island:
    """One lifted projection: its output name, its placeholder column and its call tree."""

    name: str
    placeholder: str
    tree: Call


@dataclass
class LiftPlan:
    inner: exp.Select
    islands: list[Island] = field(default_factory=list)
    leaf_columns: list[str] = field(default_factory=list)


def plan_lift(select: exp.Expression) -> LiftPlan | None:
    """The lifted form of a SELECT, or None when nothing in it can or needs to be lifted."""
    if not isinstance(select, exp.Select) or any(
        select.args.get(k) for k in ("group", "having", "distinct", "qualify")
    ):
        return None
    if any(isinstance(p.unalias(), exp.AggFunc) for p in select.expressions):
        return None
    plan = LiftPlan(inner=select.copy())
    for index, projection in enumerate(list(plan.inner.expressions)):
        call = projection.unalias()
        if ml_function(call) is None:
            continue
        name = (
            projection.alias_or_name
            if isinstance(projection, exp.Alias)
            else f"f{_anonymous_index(plan.inner, index)}_"
        )
        placeholder = PLACEHOLDER.format(len(plan.islands))
        tree = _tree(call, plan)
        projection.replace(exp.alias_(exp.cast(exp.null(), "BOOLEAN"), placeholder))
        plan.islands.append(Island(name, placeholder, tree))
    return plan if plan.islands else None


def _anonymous_index(select: exp.Select, index: int) -> int:
    return sum(1 for p in select.expressions[:index] if not isinstance(p, (exp.Alias, exp.Column, exp.Star)))


def _tree(node: exp.Expression, plan: LiftPlan) -> Call:
    function = ml_function(node)
    assert function is not None and isinstance(node, exp.Dot)  # called on ML.* calls only
    args: list[Node] = []
    for arg, kind in zip(ml_arguments(node), function.arg_kinds):
        if ml_function(arg) is not None:
            args.append(_tree(arg, plan))
        elif is_file_read(arg):
            args.append(FileLeaf(_leaf(arg.expressions[0], plan)))
        else:
            args.append(Leaf(_leaf(arg, plan), kind))
    return Call(function, tuple(args))


def _leaf(expression: exp.Expression, plan: LiftPlan) -> str:
    column = LEAF.format(len(plan.leaf_columns))
    plan.inner.select(exp.alias_(expression.copy(), column), copy=False)
    plan.leaf_columns.append(column)
    return column
