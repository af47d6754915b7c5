"""Turning a cell's text into statements, with BigQuery's syntax and positions kept.

sqlglot parses BigQuery natively, except ``CREATE EXTERNAL TABLE ... WITH CONNECTION``
which it only knows as a generic Command: we read that one's header ourselves and hand its
``OPTIONS(...)`` back to sqlglot as an ordinary ``CREATE TABLE ... OPTIONS``.
"""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Any

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError, TokenError

from bqml_magic.errors import SQLError
from bqml_magic.sql.names import Name, object_name

DIALECT = "bigquery"
logging.getLogger("sqlglot").setLevel(logging.ERROR)  # its "falling back to Command" warning is ours to handle

_EXTERNAL = re.compile(
    r"^\s*(?P<replace>OR\s+REPLACE\s+)?EXTERNAL\s+TABLE\s+(?P<exists>IF\s+NOT\s+EXISTS\s+)?"
    r"(?P<name>(?:`[^`]+`|[\w\-]+)(?:\s*\.\s*(?:`[^`]+`|[\w\-]+))*)\s*"
    r"(?:WITH\s+CONNECTION\s+(?P<conn>DEFAULT|`[^`]+`|[\w\-.]+)\s*)?"
    r"(?P<rest>.*)$",
    re.IGNORECASE | re.DOTALL,
)


@dataclass(frozen=True)
class CreateExternalTable:
    """``CREATE EXTERNAL TABLE``, which sqlglot leaves unparsed."""

    name: Name
    replace: bool
    if_not_exists: bool
    connection: str | None
    options: dict[str, Any]


def parse_script(sql: str) -> list[exp.Expression | CreateExternalTable]:
    """Every statement of a script, in order; a syntax error names its line and column."""
    try:
        statements = sqlglot.parse(sql, read=DIALECT)
    except ParseError as exc:
        first = exc.errors[0] if exc.errors else {}
        token = first.get("highlight", "")
        column = first["col"] - len(token) + 1 if first.get("col") else None  # sqlglot gives the token's end
        raise SQLError(
            f"Syntax error: {first.get('description', str(exc))} near {token!r}", first.get("line"), column
        ) from exc
    except TokenError as exc:
        raise SQLError(f"Syntax error: {exc}") from exc
    parsed = [_normalize(s) for s in statements if s is not None]
    if not parsed:
        raise SQLError("The script is empty: nothing to run")
    return parsed


def _normalize(statement: exp.Expression) -> exp.Expression | CreateExternalTable:
    """The EXTERNAL TABLE forms sqlglot leaves as Commands, as statements we can plan."""
    if _is_external_table(statement):
        return _external_table(statement)
    if isinstance(statement, exp.Create) and statement.find(exp.ExternalProperty):
        return CreateExternalTable(
            name=object_name(statement.this, "Table"),
            replace=bool(statement.args.get("replace")),
            if_not_exists=bool(statement.args.get("exists")),
            connection=None,
            options=options_of(statement),
        )
    text = str(statement.expression) if isinstance(statement, exp.Command) else ""
    if statement.name.upper() == "DROP" and re.match(r"\s*EXTERNAL\s+TABLE\s", text, re.IGNORECASE):
        return sqlglot.parse_one("DROP " + re.sub(r"^\s*EXTERNAL\s+", "", text, flags=re.IGNORECASE), read=DIALECT)
    return statement


def _is_external_table(statement: exp.Expression) -> bool:
    return isinstance(statement, exp.Command) and statement.name.upper() == "CREATE" and bool(
        re.match(r"\s*(OR\s+REPLACE\s+)?EXTERNAL\s+TABLE", str(statement.expression), re.IGNORECASE)
    )


def _external_table(command: exp.Command) -> CreateExternalTable:
    match = _EXTERNAL.match(str(command.expression))
    if not match:
        raise SQLError("Syntax error in CREATE EXTERNAL TABLE: expected CREATE EXTERNAL TABLE name WITH CONNECTION ... OPTIONS(...)")
    rest = match["rest"].strip().rstrip(";")
    if rest and not rest.upper().startswith("OPTIONS"):
        raise SQLError(f"Syntax error in CREATE EXTERNAL TABLE near {rest[:40]!r}: expected OPTIONS(...)")
    try:
        create = sqlglot.parse_one(f"CREATE TABLE {match['name']} {rest}", read=DIALECT)
    except ParseError as exc:
        raise SQLError(f"Syntax error in CREATE EXTERNAL TABLE options: {exc.errors[0]['description'] if exc.errors else exc}") from exc
    conn = match["conn"]
    return CreateExternalTable(
        name=object_name(create.find(exp.Table), "Table"),
        replace=bool(match["replace"]),
        if_not_exists=bool(match["exists"]),
        connection=conn.strip("`") if conn else None,
        options=options_of(create),
    )


def options_of(create: exp.Expression) -> dict[str, Any]:
    """``OPTIONS(key = literal, ...)`` as a lower-cased dict of Python values."""
    props = create.args.get("properties")
    out: dict[str, Any] = {}
    for prop in props.expressions if props else []:
        if type(prop) is exp.Property:  # subclasses (EXTERNAL, ...) are keywords, not options
            out[prop.name.lower()] = literal_value(prop.args["value"])
    return out


def literal_value(node: exp.Expression) -> Any:
    """A constant OPTIONS value: string, number, bool, array or INTERVAL (kept as text)."""
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
    raise SQLError(f"Option values must be constants, got {node.sql(DIALECT)!r}")
