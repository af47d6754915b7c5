"""Turning a cell's text into statements, with BigQuery's syntax and positions kept.

sqlglot parses BigQuery natively, except the ``EXTERNAL TABLE`` and ``VECTOR INDEX`` forms it
leaves as generic Commands; ``external_table.py`` and ``vector_index.py`` read those with
sqlglot's own tokenizer (and parser, for OPTIONS). The whole
script is checked before any statement runs, as BigQuery does: syntax (``syntax.py`` tells sqlglot's
complaints in BigQuery's words), what it calls (``callables.py``) and whether each statement is one
this engine runs (``kinds.py``); every error carries the line and column it is about.
"""

from __future__ import annotations

import logging

from sqlglot import exp
from sqlglot.dialects.dialect import Dialect
from sqlglot.errors import ErrorLevel, ParseError, SqlglotError

from bqml_magic.errors import SQLError
from bqml_magic.sql import callables, syntax, udf
from bqml_magic.sql.external_table import external_table_statement
from bqml_magic.sql.kinds import READ_COMMANDS, ReadCommand, statement_kind
from bqml_magic.sql.metadata_names import SOURCE, refuse_writes
from bqml_magic.sql.script import Script, scan
from bqml_magic.sql.vector_index import vector_index_statement

DIALECT = "bigquery"
logging.getLogger("sqlglot").setLevel(logging.ERROR)  # its "falling back to Command" warning is ours to handle

Statement = exp.Expression | ReadCommand


def parse_script(sql: str) -> list[Statement]:
    """Every statement of a script, in order; any error names its line and column.

    Of several problems the first in the text is reported, as BigQuery's parser meets them.
    """
    script = scan(sql)
    syntax.check_nesting(script)
    problems = [p for p in (syntax.lexical_problem(script),) if p is not None]
    parsed: list[tuple[range, exp.Expr]] = []
    for chunk in script.statements():
        if problems and problems[0][0] < script.tokens[chunk.start].start:
            break
        try:
            trees = _parse(script, chunk)
        except _Failed as failed:
            problems.append(failed.problem)
            break
        # None: an empty statement; Semicolon: a `;` carrying a comment
        parsed += [(chunk, tree) for tree in trees if tree is not None and not isinstance(tree, exp.Semicolon)]
    if problems:
        raise min(problems, key=lambda p: p[0])[1]
    if not parsed:
        raise SQLError("The script is empty: nothing to run")
    return [_checked(statement, script, chunk) for chunk, statement in parsed]


class _Failed(Exception):
    """A statement that does not parse: its error and offset, to weigh against problems found earlier."""

    def __init__(self, problem: tuple[int, SQLError]):
        self.problem = problem


def _parse(script: Script, chunk: range) -> list[exp.Expr | None]:
    """One statement's trees (sqlglot's parser on its tokens, stopping at the first error)."""
    parser = Dialect.get_or_raise(DIALECT).parser(error_level=ErrorLevel.IMMEDIATE)
    start = script.tokens[chunk.start].start
    try:
        trees = parser.parse(udf.parseable_tokens(script, chunk), script.sql)
    except SQLError as exc:  # a CREATE FUNCTION form sqlglot would misread
        raise _Failed((script.offset(exc.line, exc.column) or start, exc)) from exc
    except ParseError as exc:
        at_end = not getattr(parser, "_curr", True)  # it ran out of tokens (a falsy sentinel): "but got end of script"
        raise _Failed(syntax.parse_failure(exc, script, chunk, at_end)) from exc
    except RecursionError as exc:  # what the nesting check does not count: NOT NOT NOT ..., - - - ...
        raise _Failed((start, script.error(f"Syntax error: {syntax.TOO_DEEP_TO_READ}", start))) from exc
    except (SqlglotError, ValueError, TypeError, KeyError, IndexError, AttributeError) as exc:
        raise _Failed((start, script.error("Syntax error: this statement could not be parsed", start))) from exc
    return list(trees)


def _checked(statement: exp.Expr, script: Script, chunk: range) -> Statement:
    """The statement (external-table forms read), refused if this engine does not run it or it calls
    what BigQuery has not; errors placed at the statement's first word when nothing nearer is known."""
    start = script.tokens[chunk.start].start
    try:
        result = (
            external_table_statement(statement, script.sql)
            or vector_index_statement(statement, script.sql)
            or statement
        )
        if not isinstance(result, (exp.Expression, *READ_COMMANDS)):  # an expression, not a statement
            raise SQLError(f"Syntax error: Unexpected {syntax.describe(script, chunk.start)}")
        if isinstance(result, exp.Expression):
            syntax.place_casts(result, script)
            syntax.check_tree(result, script)
            callables.check(result, script)
        statement_kind(result)
        refuse_writes(result)
        if isinstance(result, exp.Create):  # a view's definition is its text as written
            result.meta[SOURCE] = script.sql[start : script.tokens[chunk.stop - 1].end + 1]
    except SQLError as exc:
        if "<class" in exc.message or "Required keyword" in exc.message:  # sqlglot's words, from external_table
            raise syntax.reworded(exc, script) from exc
        if exc.line is None:
            place = script.error("", start)
            exc.add_context(line=place.line, column=place.column)
        raise
    except RecursionError as exc:
        raise script.error(f"Syntax error: {syntax.TOO_DEEP_TO_READ}", start) from exc
    return result
