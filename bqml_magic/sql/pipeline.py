"""One ordered pipeline from a BigQuery statement to the SQL DuckDB runs.

Every place that needs DuckDB SQL (queries, row counts, views, DML, the dry run) calls
:func:`translate`, so they all see the same names, the same pseudocolumn, the same offsets.
The passes are functions of the tree in ``passes.py``, run in the order of ``RULES``, in the
spirit of sqlglot's optimizer. What is not SQL (an ML.PREDICT to run, functions to lift into
the streamed path) comes back beside the tree for the executor.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import sqlglot
from sqlglot import exp

from bqml_magic.errors import SQLError
from bqml_magic.sql import passes
from bqml_magic.sql.lift import LiftPlan
from bqml_magic.sql.names import Name
from bqml_magic.sql.rewrite import PredictCall, Resolver, Rewrite
from bqml_magic.sql.vector_search import SearchCall

Pass = Callable[[exp.Expression, Rewrite], exp.Expression]

RULES: tuple[Pass, ...] = (
    passes.isolate_predictions,
    passes.isolate_vector_searches,
    passes.resolve_tables,
    passes.resolve_functions,
    passes.rewrite_data_pseudocolumn,
    passes.fix_unnest_offsets,
    passes.fix_array_subscripts,
    passes.type_decimal_literals,
    passes.name_anonymous_columns,
    passes.lift_ml_projections,
    passes.rewrite_ml_calls,
    passes.stream_object_tables,
)


@dataclass(frozen=True)
class Translation:
    """A statement ready for DuckDB: the tree (positions of the user's text kept) and what it needs."""

    tree: exp.Expression
    predictions: list[PredictCall]
    searches: list[SearchCall]
    object_tables: dict[str, Name]
    lifted: LiftPlan | None
    object_streams: dict[str, str]
    """Placeholder -> the DuckDB query whose rows the executor streams there in small batches."""

    @property
    def table_calls(self) -> bool:
        """Whether the statement calls ML.PREDICT or VECTOR_SEARCH: work DuckDB does not do."""
        return bool(self.predictions or self.searches)

    @property
    def sql(self) -> str:
        return to_duckdb(self.tree)


def translate(
    statement: exp.Expression,
    resolver: Resolver,
    *,
    lift: bool = False,
    local_names: Iterable[str] = (),
    executing: bool = False,
) -> Translation:
    """Run every pass of ``RULES`` over a copy of ``statement``.

    ``lift``: take top-level ML.* projections out for the streamed path (queries whose rows
    are streamed to the caller); elsewhere they stay in DuckDB as UDF calls. ``executing``: the
    statement runs now (not stored as a view), so views expand and object tables may stream.
    """
    rewrite = Rewrite(resolver, lift, {n.lower() for n in local_names}, executing=executing)
    tree = statement.copy()
    for rule in RULES:
        tree = rule(tree, rewrite)
    return Translation(
        tree, rewrite.predictions, rewrite.searches, rewrite.object_tables, rewrite.lifted, rewrite.object_streams
    )


def to_duckdb(tree: exp.Expression) -> str:
    try:
        return tree.sql(dialect="duckdb")
    except sqlglot.errors.UnsupportedError as exc:
        raise SQLError(f"Not supported here: {exc}") from exc
