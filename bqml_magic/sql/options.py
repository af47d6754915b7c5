"""``OPTIONS(key = value, ...)`` of CREATE statements, as Python values."""

from __future__ import annotations

from typing import Any

from sqlglot import exp

from bqml_magic.errors import SQLError
from bqml_magic.sql.names import at


def options_of(create: exp.Expression) -> dict[str, Any]:
    """``OPTIONS(key = literal, ...)`` as a lower-cased dict of Python values."""
    props = create.args.get("properties")
    out: dict[str, Any] = {}
    for prop in props.expressions if props else []:
        if type(prop) is exp.Property:  # subclasses (EXTERNAL, ...) are keywords, not options
            out[prop.name.lower()] = literal_value(prop.args["value"])
    return out


def literal_value(node: exp.Expression) -> Any:
    """A constant OPTIONS value: string, number, bool, array or INTERVAL (kept as the node)."""
    if isinstance(node, exp.Literal):
        return node.this if node.is_string else (float(node.this) if "." in node.this else int(node.this))
    if isinstance(node, exp.Boolean):
        return node.this
    if isinstance(node, exp.Array):
        return [literal_value(e) for e in node.expressions]
    if isinstance(node, exp.Null):
        return None
    if isinstance(node, exp.Interval):
        return node
    raise SQLError(f"Option values must be constants, got {node.sql('bigquery')!r}", **at(node))
