"""``VECTOR_SEARCH(...)`` read from sqlglot's node into what the executor runs.

BigQuery's form [doc: search_functions#vector_search]::

    VECTOR_SEARCH({TABLE base_table | (base_query)}, 'column_to_search',
                  {TABLE query_table | (query)} [, 'query_column_to_search'],
                  [top_k => 10] [, distance_type => 'EUCLIDEAN'] [, options => '{...}'])

``query_column_to_search`` may also be named (``query_column_to_search => 'col'``) and defaults
to ``column_to_search``. ``options`` is a JSON object: ``use_brute_force`` (bool) and
``fraction_lists_to_search`` (a number in [0, 1]), as BigQuery reads them; nothing else.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlglot import exp

from bqml_magic.errors import SQLError
from bqml_magic.sql.names import Name, Position, at, object_name
from bqml_magic.vectors.distance import DistanceType

DEFAULT_TOP_K = 10
_OPTIONS = ("use_brute_force", "fraction_lists_to_search")
_ARGUMENTS = ("query_column_to_search", "top_k", "distance_type", "options")


@dataclass(frozen=True)
class SearchCall:
    """A VECTOR_SEARCH taken out of a statement: DuckDB reads its rows from ``placeholder``."""

    placeholder: str
    base: exp.Expression
    """The base rows as a query of their own, in BigQuery's SQL."""
    base_table: Name | None
    """The table of ``TABLE d.t``: the only base an index can serve."""
    column: str
    query: exp.Expression
    query_column: str
    top_k: int
    distance_type: DistanceType | None
    """None: the index's, if one is used, else EUCLIDEAN."""
    use_brute_force: bool
    fraction_lists_to_search: float | None
    column_at: Position
    """The column_to_search argument: errors about the base, or the search as a whole, point here."""
    query_column_at: Position


def search_call(
    node: exp.VectorSearch, placeholder: str, as_query: Callable[[exp.Expression], exp.Expression]
) -> SearchCall:
    """The call's parts, checked; ``as_query`` turns ``TABLE t`` or ``(query)`` into a query
    (the statement's CTEs it reads attached)."""
    base = node.this
    column = _string(node.args.get("column_to_search"), "column_to_search", node)
    query_column_arg = node.args.get("query_column_to_search")
    named = {_kwarg_name(kw): kw.expression for kw in node.args.values() if isinstance(kw, exp.Kwarg)}
    unknown = [name for name in named if name not in _ARGUMENTS]
    if unknown:
        raise SQLError(
            f"VECTOR_SEARCH: unknown argument {unknown[0]}; it takes {', '.join(_ARGUMENTS)}",
            **at(node.args["column_to_search"]),
        )
    if isinstance(query_column_arg, exp.Kwarg):
        query_column_arg = query_column_arg.expression
    query_column = _string(query_column_arg, "query_column_to_search", node) if query_column_arg is not None else column
    top_k = named.get("top_k")
    distance = named.get("distance_type")
    options = _options(named.get("options"), node)
    return SearchCall(
        placeholder,
        as_query(base),
        object_name(base) if isinstance(base, exp.Table) else None,
        column,
        as_query(node.args["query_table"]),
        query_column,
        _top_k(top_k) if top_k is not None else DEFAULT_TOP_K,
        _distance(distance) if distance is not None else None,
        bool(options.get("use_brute_force", False)),
        options.get("fraction_lists_to_search"),
        at(node.args["column_to_search"]),
        at(query_column_arg) if query_column_arg is not None else at(node.args["column_to_search"]),
    )


def _kwarg_name(kwarg: exp.Kwarg) -> str:
    return kwarg.this.name.lower()


def _string(node: exp.Expression | None, what: str, call: exp.Expression) -> str:
    if not (isinstance(node, exp.Literal) and node.is_string):
        raise SQLError(f"VECTOR_SEARCH: {what} must be a string literal naming a column", **at(node or call))
    return node.this


def _top_k(node: exp.Expression) -> int:
    value = node.this if isinstance(node, exp.Literal) and node.is_int else None
    if value is None or int(value) < 1:
        raise SQLError(f"VECTOR_SEARCH: top_k must be a positive INT64 literal, got {node.sql('bigquery')}", **at(node))
    return int(value)


def _distance(node: exp.Expression) -> DistanceType:
    kind = DistanceType.named(node.this) if isinstance(node, exp.Literal) and node.is_string else None
    if kind is None:
        known = ", ".join(f"'{t.value}'" for t in DistanceType)
        raise SQLError(f"VECTOR_SEARCH: distance_type must be one of {known}, got {node.sql('bigquery')}", **at(node))
    return kind


def _options(node: exp.Expression | None, call: exp.Expression) -> dict[str, Any]:
    """The JSON options: known keys with values of the right type, anything else an error."""
    if node is None:
        return {}
    if not (isinstance(node, exp.Literal) and node.is_string):
        raise SQLError("VECTOR_SEARCH: options must be a JSON string literal", **at(node))
    try:
        options = json.loads(node.this) if node.this.strip() else {}
    except json.JSONDecodeError as exc:
        raise SQLError(f"VECTOR_SEARCH: options is not valid JSON ({exc.msg})", **at(node)) from None
    if not isinstance(options, dict):
        raise SQLError("VECTOR_SEARCH: options must be a JSON object, like '{\"use_brute_force\": true}'", **at(node))
    for key, value in options.items():
        if key not in _OPTIONS:
            raise SQLError(f"VECTOR_SEARCH: unknown option {key!r}; known: {', '.join(_OPTIONS)}", **at(node))
        if key == "use_brute_force" and not isinstance(value, bool):
            raise SQLError("VECTOR_SEARCH: option use_brute_force must be true or false", **at(node))
        if key == "fraction_lists_to_search" and (
            isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1
        ):
            raise SQLError("VECTOR_SEARCH: option fraction_lists_to_search must be a number in [0, 1]", **at(node))
    return options
