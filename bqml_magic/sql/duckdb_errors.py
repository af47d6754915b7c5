"""DuckDB's errors, told in the user's terms: BigQuery's wording, positions in the user's SQL.

DuckDB runs SQL we translated, so its messages echo that SQL and name things our way
(``memory.object_table``, "candidate bindings", ``bqml_decode_image(BLOB)``). The user wrote
BigQuery SQL: they get BigQuery's "Unrecognized name: urii; did you mean uri?" or "No matching
signature for function ML.DECODE_IMAGE for argument types: STRING" and the line and column in
their own text, which the translated tree still carries.

``RULES`` is the table: a pattern of DuckDB's message -> a builder of ours; the first match wins,
and anything unmatched keeps DuckDB's sentence, cleaned of its hints, candidate lists and our
internal names. Where: the node a message names (a column, a function), else the node DuckDB
underlines in its echo of our SQL (``LINE 1: ... ^^^^``), found by the SQL it generates.

The patterns match DuckDB's wording, which is not an API: each is pinned by a test
(``tests/sql/test_duckdb_errors.py``) that makes DuckDB say it, and pyproject bounds DuckDB
to the versions those tests passed on.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable
from dataclasses import dataclass, field

import duckdb
from sqlglot import exp
from sqlglot.errors import SqlglotError

from bqml_magic.errors import BQMLError, Cancelled, NotFoundError, SQLError
from bqml_magic.sql.bigquery_words import (
    INTERNAL,
    VALUE_KINDS,
    bigquery_type,
    ml_hint,
    ml_signature,
    ml_udf,
    public_text,
    split_top,
)
from bqml_magic.sql.names import Position, position

_UNKNOWN_COLUMN = re.compile(
    r'Referenced column "(?P<name>[^"]+)" not found in FROM clause!'
    r"(?:\s*Candidate bindings: (?P<candidates>.*))?",
    re.DOTALL,
)
_UNKNOWN_TABLE = re.compile(r'Referenced table "(?P<name>[^"]+)" not found!')
_MAX_SEARCHED = 1500
"""Nodes searched for the one DuckDB underlines (each generates its SQL): bigger trees go unplaced."""


@dataclass
class _Error:
    """One DuckDB error being retold: its sentence, its echo of our SQL, the tree it ran."""

    exc: BaseException
    text: str
    echo: str
    statement: exp.Expr | None
    _underlined: list[exp.Expr | None] = field(default_factory=list)

    @property
    def underlined(self) -> exp.Expr | None:
        """The node of the tree whose SQL DuckDB underlined, if it can be told."""
        if not self._underlined:
            self._underlined.append(_underlined_node(self.echo, self.statement))
        return self._underlined[0]

    def at(self, *nodes: exp.Expr | None) -> Position:
        """``line=`` / ``column=`` of the first placed node given, else of the underlined one."""
        for node in (*nodes, self.underlined):
            if node is not None:
                line, column = position(node)
                if line is not None:
                    return Position(line=line, column=column)
        return Position(line=None, column=None)


def from_duckdb(exc: BaseException, statement: exp.Expr | None) -> BQMLError:
    """The BQMLError to raise for a DuckDB error met while running ``statement``."""
    if isinstance(exc, duckdb.InterruptException):
        return Cancelled("Query cancelled")
    text, echo = _split(str(exc))
    error = _Error(exc, text, echo, statement)
    for pattern, build in RULES:
        match = pattern.match(text)
        if match:
            return build(match, error)
    return _unmatched(error)


def _split(text: str) -> tuple[str, str]:
    """(DuckDB's sentence without its kind prefix, its ``LINE n: ...`` echo of our SQL)."""
    message, _, echo = text.partition("\n\nLINE ")
    message = message.strip()
    kind, sep, rest = message.partition(": ")
    return (rest if sep and kind.endswith("Error") else message), ("LINE " + echo if echo else "")


def _without_echo(text: str) -> str:
    """DuckDB's message without its kind prefix ("Binder Error: ") and its echo of our SQL."""
    return _split(text)[0]


# -- the rules -----------------------------------------------------------------------------
Build = Callable[[re.Match[str], _Error], BQMLError]


def _unknown_column(match: re.Match[str], error: _Error) -> BQMLError:
    candidates = re.findall(r'"([^"]+)"', match["candidates"] or "")
    hint = f"; did you mean {', '.join(c.split('.')[-1] for c in candidates[:3])}?" if candidates else ""
    return NotFoundError(f"Unrecognized name: {match['name']}{hint}", **error.at(_named(match["name"], error)))


def _not_inside(match: re.Match[str], error: _Error) -> BQMLError:
    """``t.nope`` where ``t`` is read but has no such column (a table, a subquery, an INFORMATION_SCHEMA view)."""
    candidates = re.findall(r'"([^"]+)"', match["candidates"] or "")
    close = difflib.get_close_matches(match["name"], candidates, n=3, cutoff=0.5)
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    return NotFoundError(
        f"Name {match['name']} not found inside {match['table']}{hint}", **error.at(_named(match["name"], error))
    )


def _unknown_qualifier(match: re.Match[str], error: _Error) -> BQMLError:
    """``t.col`` where ``t`` is no table of the query: say which tables the query does read."""
    qualifier, statement = match["name"], error.statement
    where: exp.Expr | None = None
    reads: list[str] = []
    if statement is not None:
        for column in statement.find_all(exp.Column):
            if ".".join(p.name for p in column.parts[:-1]).lower() == qualifier.lower():
                where, qualifier = column, column.sql("bigquery")
                break
        reads = sorted({".".join(p.name for p in t.parts) for t in statement.find_all(exp.Table) if t.name})
        reads = [r for r in reads if not INTERNAL.search(r)]
    said = f"; the query reads {', '.join(reads)}" if reads else ""
    return NotFoundError(f"Unrecognized name: {qualifier}{said}", **error.at(where))


def _unrecognized(match: re.Match[str], error: _Error) -> BQMLError:
    return NotFoundError(f"Unrecognized name: {match['name']}", **error.at(_named(match["name"], error)))


def _function_not_found(match: re.Match[str], error: _Error) -> BQMLError:
    node = _call_named(match["name"], error.statement)
    name = _written(node) if node is not None else match["name"]
    return SQLError(f"Function not found: {name}{ml_hint(name)}", **error.at(node))


def _table_function_not_found(match: re.Match[str], error: _Error) -> BQMLError:
    node = _call_named(match["name"], error.statement)
    name = _written(node) if node is not None else match["name"]
    return SQLError(f"Table-valued function not found: {name}", **error.at(node))


def _no_signature(match: re.Match[str], error: _Error) -> BQMLError:
    """``No function matches ... 'abs(VARCHAR)'`` -> ``No matching signature for function ABS for
    argument types: STRING``; our UDFs by their ML.* names, with the signature they do have."""
    name, raw = match["name"].strip('"'), match["args"].strip()
    types = [bigquery_type(t) for t in split_top(raw)] if raw else []
    function, file_form = ml_udf(name)
    node: exp.Expr | None
    supported = ""
    if function is not None:
        if file_form and types:  # the _file form took the uri in place of the bytes it reads
            types[function.arg_kinds.index("bytes")] = "BYTES"
        node = _call_named(name, error.statement) or error.underlined
        what = f"function {function.name}"
        supported = f". Supported signature: {ml_signature(function)}"
    elif not name[:1].isalpha() and name[:1] != "_":
        node = _operator_named(name, error.statement) or error.underlined
        what = f"operator {_OPERATORS.get(name, name)}"
    else:
        node = _call_named(name, error.statement) or error.underlined
        what = f"function {(_written(node) if isinstance(node, exp.Func) else name).upper()}"
    listed = f"for argument types: {', '.join(types)}" if types else "with no arguments"
    return SQLError(f"No matching signature for {what} {listed}{supported}", **error.at(node))


def _no_function_signature(match: re.Match[str], error: _Error) -> BQMLError:
    """A user function's macro refused its arguments: its typed parameters coerce as BigQuery does."""
    node = _call_named(match["name"], error.statement)
    meta = node.meta if node is not None else {}
    supported = f". Supported signature: {meta['signature']}" if "signature" in meta else ""
    name = meta.get("bigquery_name", match["name"])
    message = f"No matching signature for function {name} for the argument types given{supported}"
    return SQLError(message, **error.at(node))


def _bad_value(match: re.Match[str], error: _Error) -> BQMLError:
    """A string that does not convert: BigQuery's "Bad int64 value: a", placed at its CAST or literal."""
    value, target = match["value"], match["type"].upper()
    kind = VALUE_KINDS.get(re.sub(r"\(.*", "", target))
    message = f"Bad {kind} value: {value}" if kind else f"Invalid {bigquery_type(target)} value: {value}"
    return SQLError(message, **error.at(_cast_of(value, error)))


def _invalid_time_value(match: re.Match[str], error: _Error) -> BQMLError:
    return SQLError(f"Invalid {match['kind']}: '{match['value']}'", **error.at(_cast_of(match["value"], error)))


def _out_of_range(match: re.Match[str], error: _Error) -> BQMLError:
    target = bigquery_type(match["type"])
    return SQLError(f"Value {match['value']} is out of range for {target}", **error.at(None))


def _invalid_cast(match: re.Match[str], error: _Error) -> BQMLError:
    return SQLError(
        f"Invalid cast from {bigquery_type(match['source'])} to {bigquery_type(match['type'])}", **error.at(None)
    )


def _overflow(match: re.Match[str], error: _Error) -> BQMLError:
    kind = "int64" if match["type"].upper().startswith(("INT", "UINT", "BIGINT", "HUGEINT")) else "floating point"
    return SQLError(f"{kind} overflow: {match['expression']}", **error.at(None))


def _division_by_zero(match: re.Match[str], error: _Error) -> BQMLError:
    return SQLError(f"division by zero: {match['expression']}", **error.at(None))


def _too_deep(match: re.Match[str], error: _Error) -> BQMLError:
    return SQLError(
        f"Query too deeply nested: an expression more than {match['limit']} levels deep "
        "(a long chain of operators or nested calls); split it, e.g. with WITH clauses"
    )


def _file_access(match: re.Match[str], error: _Error) -> BQMLError:
    return SQLError(
        "Reading files from SQL is not supported: objects are read through object tables "
        "(CREATE EXTERNAL TABLE ... OPTIONS(object_metadata = 'SIMPLE', uris = [...]))",
        **error.at(None),
    )


def _table_not_found(match: re.Match[str], error: _Error) -> BQMLError:
    name = public_text(match["name"], error.statement)
    return NotFoundError(f"Not found: Table {name}", **error.at(None))


def _not_grouped(match: re.Match[str], error: _Error) -> BQMLError:
    name = match["name"]
    return SQLError(
        f"SELECT list expression references column {name} which is neither grouped nor aggregated",
        **error.at(_named(name, error)),
    )


def _fixed(message: str) -> Build:
    """A rule whose message is always the same sentence, placed at what DuckDB underlines."""

    def build(match: re.Match[str], error: _Error) -> BQMLError:
        return SQLError(message.format(**match.groupdict()), **error.at(None))

    return build


def _missing_field(match: re.Match[str], error: _Error) -> BQMLError:
    fields = ", ".join(re.findall(r'"([^"]+)"', match["candidates"] or ""))
    said = f"; its fields: {fields}" if fields else ""
    message = f"Field name {match['key']} does not exist in STRUCT{said}"
    return SQLError(message, **error.at(_named(match["key"], error)))


RULES: list[tuple[re.Pattern[str], Build]] = [
    (_UNKNOWN_COLUMN, _unknown_column),
    (_UNKNOWN_TABLE, _unknown_qualifier),
    (
        re.compile(
            r'(?:Table|Values list) "(?P<table>[^"]+)" does not have a column named "(?P<name>[^"]+)"'
            r"(?:\s*Candidate bindings: (?P<candidates>.*))?",
            re.DOTALL,
        ),
        _not_inside,
    ),
    (
        re.compile(r'Referenced column "(?P<name>[^"]+)" was not found because the FROM clause is missing'),
        _unrecognized,
    ),
    (re.compile(r"Scalar Function with name (?P<name>\S+) does not exist!"), _function_not_found),
    (re.compile(r"Table Function with name (?P<name>\S+) does not exist!"), _table_function_not_found),
    (re.compile(r'Function "(?P<name>[^"]+)" is a table function but it was used as a scalar'), _function_not_found),
    (
        re.compile(r"No function matches the given name and argument types '(?P<name>.+?)\((?P<args>.*)\)'"),
        _no_signature,
    ),
    (
        re.compile(r'Could not choose a best candidate function for the function call "(?P<name>.+?)\((?P<args>.*)\)"'),
        _no_signature,
    ),
    (re.compile(r'Macro "?(?P<name>[^"(]+)"?\(\) does not support the supplied arguments'), _no_function_signature),
    (
        re.compile(
            r"Could not convert string (?P<q>['\"])(?P<value>.*?)(?P=q) to (?P<type>[A-Z0-9_]+(?:\([\d, ]+\))?)"
        ),
        _bad_value,
    ),
    (re.compile(r'(?:invalid|out of range) (?P<kind>date|timestamp|time)\b.*?: "(?P<value>.*?)"'), _invalid_time_value),
    (re.compile(r'(?P<kind>date|timestamp|time) field value out of range: "(?P<value>.*?)"'), _invalid_time_value),
    (re.compile(r'invalid (?P<kind>date|timestamp|time) field format: "(?P<value>.*?)"'), _invalid_time_value),
    (
        re.compile(
            r"Type (?P<source>.+?) with value (?P<value>.+?) can't be cast because the value is out of range "
            r"for the destination type (?P<type>.+)"
        ),
        _out_of_range,
    ),
    (
        re.compile(r"Type (?P<source>.+?) with value .+? can't be cast to the destination type (?P<type>.+)"),
        _invalid_cast,
    ),
    (re.compile(r"Unimplemented type for cast \((?P<source>.+?) -> (?P<type>.+?)\)"), _invalid_cast),
    (re.compile(r"Overflow in \w+ of (?P<type>\w+) \((?P<expression>.*)\)!"), _overflow),
    (re.compile(r"Division by zero in expression \((?P<expression>.*)\)\."), _division_by_zero),
    (re.compile(r"Max expression depth limit of (?P<limit>\d+) exceeded"), _too_deep),
    (re.compile(r'syntax error at or near (?P<near>".*")', re.DOTALL), _fixed("Syntax error: Unexpected {near}")),
    (re.compile(r".*(?:file system operations are disabled|disabled by configuration)", re.DOTALL), _file_access),
    (re.compile(r"Table with name (?P<name>\S+) does not exist!"), _table_not_found),
    (re.compile(r'column "(?P<name>[^"]+)" must appear in the GROUP BY clause'), _not_grouped),
    (re.compile(r"WHERE clause cannot contain aggregates"), _fixed("Aggregate function not allowed in WHERE clause")),
    (
        re.compile(r"Set operations can only apply to expressions with the same number of result columns"),
        _fixed("Queries in a set operation (UNION, INTERSECT, EXCEPT) have mismatched column count"),
    ),
    (
        re.compile(r"ORDER term out of range - should be between (?P<low>\d+) and (?P<high>\d+)"),
        _fixed("ORDER BY column number is out of range; there are {high} columns"),
    ),
    (
        re.compile(r"Subquery returns (?P<count>\d+) columns - expected 1"),
        _fixed("Subquery must have only one output column; it has {count}"),
    ),
    (
        re.compile(r"More than one row returned by a subquery used as an expression"),
        _fixed("Scalar subquery produced more than one element"),
    ),
    (
        re.compile(r'Could not find key "(?P<key>[^"]+)" in struct(?:\s*Candidate Entries: (?P<candidates>.*))?', re.S),
        _missing_field,
    ),
    (re.compile(r"Window functions are not supported here"), _fixed("Analytic function not allowed here")),
    (re.compile(r"LIMIT/OFFSET cannot be negative"), _fixed("LIMIT and OFFSET must not be negative")),
    (
        re.compile(r"Cannot compare values of type (?P<a>.+?) and type (?P<b>.+?) - an explicit cast is required"),
        lambda m, e: SQLError(f"Cannot compare {bigquery_type(m['a'])} with {bigquery_type(m['b'])}", **e.at(None)),
    ),
]
"""DuckDB's message (after its kind prefix) -> our BQMLError; each pattern is pinned by a test."""


def _unmatched(error: _Error) -> BQMLError:
    """DuckDB's own sentence, without what only means something to DuckDB or to us."""
    text = re.split(r"\n\s*(?:Did you mean|Candidate (?:functions|bindings):)|\s*Use (?:\"SET |TRY\()", error.text)
    message = public_text(" ".join(text[0].split()), error.statement) or "The query failed"
    cls = NotFoundError if isinstance(error.exc, duckdb.CatalogException) else SQLError
    return cls(message, **error.at(_named(_first_quoted(error.text), error)))


# -- names and places ----------------------------------------------------------------------
_OPERATOR_NODES: dict[str, type[exp.Expr]] = {
    "+": exp.Add, "-": exp.Sub, "*": exp.Mul, "/": exp.Div, "//": exp.IntDiv, "%": exp.Mod, "~~": exp.Like,
    "!~~": exp.Like, "~~*": exp.ILike, "||": exp.DPipe, "&": exp.BitwiseAnd, "|": exp.BitwiseOr,
    "<<": exp.BitwiseLeftShift, ">>": exp.BitwiseRightShift, "xor": exp.BitwiseXor,
}  # fmt: skip
_OPERATORS = {"~~": "LIKE", "!~~": "NOT LIKE", "~~*": "ILIKE", "!~~*": "NOT ILIKE", "~~~": "GLOB", "//": "DIV"}


def _first_quoted(text: str) -> str | None:
    return text.split('"')[1] if text.count('"') >= 2 else None


def _named(name: str | None, error: _Error) -> exp.Expr | None:
    """The column or identifier the user wrote as ``name``, if the tree still knows it."""
    if error.statement is None or not name:
        return None
    for node in error.statement.find_all(exp.Column, exp.Identifier):
        if node.name.lower() == name.lower() and position(node)[0] is not None:
            return node
    return None


def _call_named(name: str, statement: exp.Expr | None) -> exp.Expr | None:
    """The function call DuckDB names (``abs``, ``bqml_decode_image``), found in the tree."""
    if statement is None:
        return None
    lowered = name.lower()
    for node in statement.find_all(exp.Func):
        if isinstance(node, exp.Anonymous) and node.name.lower() == lowered:
            return node
    calls = [node for node in statement.find_all(exp.Func) if not isinstance(node, exp.Anonymous)]
    for node in calls:
        if _written(node).lower() == lowered:
            return node
    for node in calls:  # named otherwise in DuckDB's SQL than in the user's (SUBSTR -> SUBSTRING)
        try:
            if node.sql(dialect="duckdb").lower().startswith(lowered + "("):
                return node
        except (SqlglotError, RecursionError):
            continue
    return None


def _operator_named(name: str, statement: exp.Expr | None) -> exp.Expr | None:
    """The first use of the operator DuckDB names (``+``, ``~~`` for LIKE) in the tree."""
    kind = _OPERATOR_NODES.get(name)
    return next(statement.find_all(kind), None) if statement is not None and kind is not None else None


def _written(node: exp.Expr) -> str:
    """A call's name as the user wrote it (sqlglot keeps BigQuery's spelling in its meta)."""
    if isinstance(node, exp.Anonymous):
        function, _ = ml_udf(node.name)
        return function.name if function is not None else node.name
    if isinstance(node, exp.Func):
        return str(node.meta.get("bigquery_name") or node.sql_name())
    return node.sql("bigquery")


def _cast_of(value: str, error: _Error) -> exp.Expr | None:
    """The CAST (or literal, or column) of the value that did not convert."""
    if error.statement is None:
        return None
    column = re.search(r"when casting from source column (?P<name>\S+)", error.text)
    for cast in error.statement.find_all(exp.Cast):
        if isinstance(cast.this, exp.Literal) and cast.this.this == value:
            return cast
        if column and isinstance(cast.this, exp.Column) and cast.this.name.lower() == column["name"].lower():
            return cast
    for literal in error.statement.find_all(exp.Literal):
        if literal.is_string and literal.this == value:
            return literal
    return _named(column["name"], error) if column else None


def _underlined_node(echo: str, statement: exp.Expr | None) -> exp.Expr | None:
    """The node whose DuckDB SQL is what DuckDB underlined in ``LINE n: <our SQL>`` / ``   ^^^^``."""
    lines = echo.split("\n")
    head = re.match(r"LINE (?P<line>\d+): ", lines[0]) if lines else None
    if statement is None or head is None or len(lines) < 2 or "^" not in lines[1]:
        return None
    shown, carets = lines[0][head.end() :], lines[1]
    begin = carets.index("^") - head.end()
    width = len(carets.strip())
    if begin < 0:
        return None
    before, underlined = shown[:begin].removeprefix("..."), shown[begin : begin + width]
    nodes = list(statement.walk(bfs=False))
    if len(nodes) > _MAX_SEARCHED:
        return None
    try:
        full = statement.sql(dialect="duckdb")
        text_line = full.split("\n")[int(head["line"]) - 1]
        found = text_line.find(before + underlined)
        if found < 0:
            return None
        occurrence = text_line.count(underlined, 0, found + len(before))
        matching = [n for n in nodes if n is not statement and n.sql(dialect="duckdb") == underlined]
    except (RecursionError, IndexError, ValueError, SqlglotError):
        return None
    return matching[occurrence] if occurrence < len(matching) else (matching[0] if matching else None)
