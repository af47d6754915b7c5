"""Turning a cell's text into statements, with BigQuery's syntax and positions kept.

sqlglot parses BigQuery natively, except the ``EXTERNAL TABLE`` forms it leaves as generic
Commands; ``external_table.py`` reads those with sqlglot's own tokenizer and parser.
"""

from __future__ import annotations

import logging

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError, TokenError

from bqml_magic.errors import SQLError
from bqml_magic.sql.external_table import CreateExternalTable, external_table_statement, tokenize

DIALECT = "bigquery"
logging.getLogger("sqlglot").setLevel(logging.ERROR)  # its "falling back to Command" warning is ours to handle

Statement = exp.Expression | CreateExternalTable


def parse_script(sql: str) -> list[Statement]:
    """Every statement of a script, in order; a syntax error names its line and column."""
    try:
        statements = sqlglot.parse(sql, read=DIALECT)
    except ParseError as exc:
        first = exc.errors[0] if exc.errors else {}
        token = first.get("highlight", "")
        column = first["col"] - len(token) + 1 if first.get("col") else None  # sqlglot gives the token's end
        raise SQLError(
            f"Syntax error: {first.get('description', str(exc))} near {token!r}", line=first.get("line"), column=column
        ) from exc
    except TokenError as exc:
        tokenize(sql)  # raises the same error with the place of the unterminated quote
        raise SQLError(f"Syntax error: {exc}") from exc
    parsed: list[Statement] = []
    for statement in statements:
        if isinstance(statement, exp.Expression):  # None for an empty statement between two ;
            parsed.append(external_table_statement(statement, sql) or statement)
    if not parsed:
        raise SQLError("The script is empty: nothing to run")
    return parsed
