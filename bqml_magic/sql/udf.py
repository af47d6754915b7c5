"""SQL user-defined functions: ``CREATE [TEMP] FUNCTION`` read from sqlglot's tree, and the DuckDB
macro each one becomes (docs/behaviour.md#sql-udfs).

A function is a DuckDB macro built as a sqlglot tree: ``CREATE MACRO "d"."f"(x BIGINT) AS
CAST(<body> AS <returns>)``. DuckDB's typed macro parameters coerce arguments as BigQuery does
(INT64 -> FLOAT64 passes, FLOAT64 -> INT64 and STRING -> INT64 do not), ``RETURNS`` casts the
result as BigQuery casts it at query time, and an ``ANY TYPE`` parameter is an untyped one. A
persistent function is a macro of its dataset's schema; a temporary one lives in an in-memory
database attached beside the catalog (``TEMP_DATABASE``) for the script.

sqlglot takes OPTIONS only before AS, so BigQuery's documented ``AS (expr) OPTIONS(...)`` falls
back to a generic Command; ``parseable_tokens`` moves the OPTIONS before AS, each token keeping
its place in the text. sqlglot also drops the TABLE of ``CREATE TABLE FUNCTION``, so that form
(and ``CREATE AGGREGATE FUNCTION``) is refused from the tokens.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlglot import exp
from sqlglot.dialects.dialect import Dialect
from sqlglot.tokens import Token, TokenType

from bqml_magic.errors import SQLError
from bqml_magic.sql.callables import is_denied
from bqml_magic.sql.names import Name, at, name_parts, object_name
from bqml_magic.sql.options import options_of
from bqml_magic.sql.script import Script

TEMP_DATABASE = "__bqml_temp"
"""The in-memory database attached beside the catalog that holds a script's temporary functions."""
ANY_TYPE = "ANY TYPE"
OPTIONS = ("description",)
"""The OPTIONS a SQL function takes [doc]."""
SUPPORTED = (
    "supported here: SQL functions, CREATE [OR REPLACE] [TEMP] FUNCTION [IF NOT EXISTS] [dataset.]name"
    "(param type, ...) [RETURNS type] AS (expression)"
)
LITERAL_COERCED = ("DATE", "DATETIME", "TIME", "TIMESTAMP")
_REFUSED: dict[type[exp.Expr], str] = {
    exp.LanguageProperty: "Functions in other languages than SQL (LANGUAGE js, python) are not supported here",
    exp.RemoteWithConnectionModelProperty: "Remote functions (REMOTE WITH CONNECTION) are not supported here",
    exp.StabilityProperty: "DETERMINISTIC / NOT DETERMINISTIC is for JavaScript functions, not supported here",
}
_KEPT = (exp.TemporaryProperty, exp.ReturnsProperty, exp.Property)
"""What a SQL function's statement may say besides its body: TEMP, RETURNS and OPTIONS."""


@dataclass(frozen=True)
class Routine:
    """A function a call resolves to: its name as the user knows it, its macro's path in DuckDB, and
    its parameters' BigQuery types (``ANY TYPE`` for templated ones)."""

    name: str
    path: tuple[str, ...]
    types: tuple[str, ...]
    temporary: bool

    @property
    def signature(self) -> str:
        return f"{self.name}({', '.join(self.types)})"

    def call(self, node: exp.Expr, args: Sequence[exp.Expr]) -> exp.Expression:
        """The macro's call in place of ``node``, placed where ``node`` was written (errors point there)."""
        if len(args) != len(self.types):
            raise SQLError(
                f"No matching signature for function {self.name} with {len(args)} argument(s). "
                f"Supported signature: {self.signature}",
                **at(node),
            )
        args = [_coerced(arg, kind) for arg, kind in zip(args, self.types)]
        function = exp.Anonymous(this=exp.to_identifier(self.path[-1], quoted=True), expressions=args)
        first = min((n for n in node.walk() if "start" in n.meta), key=lambda n: n.meta["start"], default=None)
        if first is not None:
            function.update_positions(first)
        function.meta.update(bigquery_name=self.name, signature=self.signature, temporary=self.temporary)
        return exp.Dot.build([*(exp.to_identifier(p, quoted=True) for p in self.path[:-1]), function])

    def probe(self) -> exp.Expression:
        """``DESCRIBE SELECT f(CAST(NULL AS t), ...)``: DuckDB binds the body on its declared types
        (what BigQuery checks at CREATE time) without running it."""
        args = [exp.cast(exp.null(), exp.DataType.build(t, dialect="bigquery")) for t in self.types]
        return exp.Describe(this=exp.select(self.call(exp.null(), args)))


def _coerced(arg: exp.Expr, kind: str) -> exp.Expr:
    """BigQuery's literal coercion: a string literal passes for a DATE, DATETIME, TIME or TIMESTAMP
    parameter [doc], where DuckDB's typed parameters take only values of those types."""
    if isinstance(arg, exp.Literal) and arg.is_string and kind in LITERAL_COERCED:
        return exp.cast(arg, exp.DataType.build(kind, dialect="bigquery"))
    return arg


@dataclass(frozen=True)
class FunctionDefinition:
    """A ``CREATE FUNCTION`` statement, checked; ``name`` is a bare string for a temporary function."""

    name: Name | str
    params: tuple[tuple[str, exp.DataType | None], ...]
    returns: exp.DataType | None
    body: exp.Expression
    replace: bool
    if_not_exists: bool

    @property
    def temporary(self) -> bool:
        return isinstance(self.name, str)

    @property
    def templated(self) -> bool:
        return any(kind is None for _, kind in self.params)

    @classmethod
    def of(cls, create: exp.Create) -> FunctionDefinition:
        udf = create.this
        assert isinstance(udf, exp.UserDefinedFunction)
        props = create.args.get("properties")
        properties = props.expressions if props else []
        for prop in properties:
            if type(prop) not in _KEPT:
                raise SQLError(f"{_REFUSED.get(type(prop), 'This function form is not supported here')}; {SUPPORTED}")
        unknown = sorted(set(options_of(create)) - set(OPTIONS))
        if unknown:
            raise SQLError(f"Unknown option {unknown[0]} for a SQL function; it takes OPTIONS({', '.join(OPTIONS)})")
        returns = next((p for p in properties if isinstance(p, exp.ReturnsProperty)), None)
        if returns is not None and (returns.args.get("is_table") or _is_any_type(returns.this)):
            raise SQLError(f"RETURNS must name one type (not TABLE or ANY TYPE); {SUPPORTED}", **at(returns.this))
        body = create.expression
        if not isinstance(body, (exp.Paren, exp.Subquery)):
            raise SQLError(f"A SQL function's body is AS (expression); {SUPPORTED}", **at(body or create))
        if create.args.get("replace") and create.args.get("exists"):
            raise SQLError("CREATE OR REPLACE FUNCTION and IF NOT EXISTS cannot be used together")
        temporary = any(isinstance(p, exp.TemporaryProperty) for p in properties)
        return cls(
            _function_name(udf.this, temporary),
            _params(udf),
            None if returns is None else returns.this,
            body,
            bool(create.args.get("replace")),
            bool(create.args.get("exists")),
        )

    def routine(self, path: tuple[str, ...]) -> Routine:
        types = tuple(ANY_TYPE if kind is None else kind.sql("bigquery") for _, kind in self.params)
        return Routine(str(self.name), path, types, self.temporary)

    def macro(self, path: tuple[str, ...], body: exp.Expression) -> exp.Create:
        """``CREATE OR REPLACE MACRO path(params) AS body``, the body cast to RETURNS' type."""
        params = [
            exp.to_identifier(name, quoted=True)
            if kind is None
            else exp.ColumnDef(this=exp.to_identifier(name, quoted=True), kind=kind)
            for name, kind in self.params
        ]
        parts = [exp.to_identifier(p, quoted=True) for p in path]
        target = exp.Table(this=parts[-1], db=parts[-2], catalog=parts[-3] if len(parts) > 2 else None)
        expression = body if self.returns is None else exp.Cast(this=body, to=self.returns.copy())
        signature = exp.UserDefinedFunction(this=target, expressions=params, wrapped=True)
        return exp.Create(this=signature, kind="MACRO", replace=True, expression=expression)


def _function_name(table: exp.Table, temporary: bool) -> Name | str:
    parts = name_parts(table)
    if not temporary:
        return object_name(table, "Function")
    if len(parts) != 1:
        raise SQLError(
            f"A temporary function's name cannot be qualified: {'.'.join(parts)}; drop TEMP to create it in a dataset",
            **at(table),
        )
    if parts[0].upper() in Dialect.get_or_raise("bigquery").parser_class.FUNCTIONS or is_denied(parts[0]):
        raise SQLError(
            f"{parts[0]} is the name of a built-in function; name the temporary function otherwise", **at(table)
        )
    return parts[0]


def _params(udf: exp.UserDefinedFunction) -> tuple[tuple[str, exp.DataType | None], ...]:
    params: list[tuple[str, exp.DataType | None]] = []
    for param in udf.expressions:
        kind = param.args.get("kind") if isinstance(param, exp.ColumnDef) else None
        if not isinstance(kind, exp.DataType):
            raise SQLError(
                f"Parameter {param.name} needs a type ({param.name} INT64, or {param.name} ANY TYPE)", **at(param)
            )
        if param.name.lower() in {name.lower() for name, _ in params}:
            raise SQLError(f"Duplicate argument name {param.name}", **at(param))
        params.append((param.name, None if _is_any_type(kind) else kind))
    return tuple(params)


def _is_any_type(kind: exp.Expr) -> bool:
    """sqlglot reads BigQuery's ``ANY TYPE`` as VARIANT, a type BigQuery does not have."""
    return isinstance(kind, exp.DataType) and kind.this == exp.DataType.Type.VARIANT


# -- calls -----------------------------------------------------------------------------------
def function_call(node: exp.Expr) -> tuple[tuple[str, ...], exp.Anonymous] | None:
    """The written path and call of what may be a user function's call: ``d.f(x)`` / ``p.d.f(x)``
    (names dotted to a call), ```d.f`(x)`` (one quoted name) or ``f(x)``; None for anything else,
    ``ML.*`` included (its own pass), and a table function's call in ``FROM`` (SQL functions are scalar;
    the INFORMATION_SCHEMA macros are called there)."""
    if isinstance(node.parent, exp.Table):
        return None
    if isinstance(node, exp.Dot):
        names: list[exp.Expr] = []
        head: exp.Expr = node
        while isinstance(head, exp.Dot):
            names.insert(0, head.expression)
            head = head.this
        names.insert(0, head)
        *qualifiers, call = names
        if not isinstance(call, exp.Anonymous) or not all(isinstance(q, exp.Identifier) for q in qualifiers):
            return None
        path = (*(q.name for q in qualifiers), *call.name.split("."))
        return None if len(path) == 2 and path[0].upper() == "ML" else (path, call)
    if isinstance(node, exp.Anonymous) and not (isinstance(node.parent, exp.Dot) and node.arg_key == "expression"):
        return tuple(node.name.split(".")), node
    return None


def called_name(path: tuple[str, ...], node: exp.Expr) -> Name | str:
    """``f`` (a temporary function, or a built-in) or ``[project.]dataset.f``."""
    if len(path) == 1:
        return path[0]
    if len(path) > 3:
        raise SQLError(f"Invalid function name {'.'.join(path)}: expected [project.]dataset.name", **at(node))
    return Name(path[-2], path[-1])


def refuse_temporary_calls(tree: exp.Expr, what: str) -> None:
    """BigQuery: views and persistent functions cannot reference temporary functions [doc]."""
    for node in tree.find_all(exp.Anonymous):
        if node.meta.get("temporary"):
            raise SQLError(f"{what} cannot reference temporary function {node.meta['bigquery_name']}", **at(node))


def with_parameter_values(tree: exp.Expression, values: dict[str, Any]) -> exp.Expression:
    """A temporary function's body with its ``@name`` query parameters as literals: a macro holds no
    parameter markers, and the script's values are known when it is created."""
    for param in list(tree.find_all(exp.Parameter)):
        where = at(param.parent or param)  # sqlglot does not place parameters: their expression
        if param.name not in values:
            raise SQLError(f"Query parameter(s) not given: @{param.name}", **where)
        try:
            literal = exp.convert(values[param.name])
        except ValueError as exc:
            raise SQLError(f"Query parameter @{param.name} cannot be used in a function's body", **where) from exc
        param.replace(literal)
    return tree


# -- tokens ----------------------------------------------------------------------------------
def parseable_tokens(script: Script, chunk: range) -> list[Token]:
    """One statement's tokens for sqlglot: a CREATE FUNCTION's trailing OPTIONS(...) moved before AS;
    the forms sqlglot would misread (TABLE / AGGREGATE FUNCTION) refused at their keyword."""
    tokens = script.tokens[chunk.start : chunk.stop]
    words = [t.text.upper() for t in tokens[:6]]
    if not words or words[0] != "CREATE":
        return tokens
    i = 1 + 2 * (words[1:3] == ["OR", "REPLACE"])
    i += words[i : i + 1] in (["TEMP"], ["TEMPORARY"])
    if words[i : i + 2] in (["TABLE", "FUNCTION"], ["AGGREGATE", "FUNCTION"]):
        kind = "Table functions" if words[i] == "TABLE" else "Aggregate functions"
        raise script.error(f"{kind} (CREATE {words[i]} FUNCTION) are not supported here; {SUPPORTED}", tokens[i].start)
    if words[i : i + 1] != ["FUNCTION"]:
        return tokens
    return _options_before_body(tokens)


def _options_before_body(tokens: list[Token]) -> list[Token]:
    depth, alias, options = 0, None, None
    for k, token in enumerate(tokens):
        if depth == 0 and token.token_type == TokenType.ALIAS:
            alias = k
        elif depth == 0 and alias is not None and token.text.upper() == "OPTIONS" and _opens(tokens, k + 1):
            options = k
        depth += (token.token_type == TokenType.L_PAREN) - (token.token_type == TokenType.R_PAREN)
        if options is not None and depth == 0 and token.token_type == TokenType.R_PAREN:
            return [*tokens[:alias], *tokens[options : k + 1], *tokens[alias:options], *tokens[k + 1 :]]
    return tokens


def _opens(tokens: list[Token], k: int) -> bool:
    return k < len(tokens) and tokens[k].token_type == TokenType.L_PAREN
