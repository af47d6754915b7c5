"""``CREATE EXTERNAL TABLE`` and ``DROP EXTERNAL TABLE``, read with sqlglot's own tokenizer and parser.

sqlglot 30 leaves ``CREATE EXTERNAL TABLE ... WITH CONNECTION`` and ``DROP EXTERNAL TABLE`` as a generic
``exp.Command`` (raw text, no positions), and parses the form without a connection while accepting what
BigQuery rejects (OR REPLACE with IF NOT EXISTS, a column list, AS SELECT, no OPTIONS). So we walk the
statement's BigQuery tokens keyword by keyword and hand the parts sqlglot knows (table and connection
names, ``CREATE TABLE name OPTIONS(...)``, ``DROP TABLE name``) back to ``sqlglot.parse_one``: no regex,
no subclass of sqlglot's (compiled) dialect. sqlglot gets the script with everything else blanked out,
newlines kept, so tokens and nodes keep their line, column and offset in the script the user wrote.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, NoReturn

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError, TokenError
from sqlglot.tokens import Token, TokenType

from bqml_magic.errors import SQLError
from bqml_magic.sql.names import Name, object_name

DIALECT = "bigquery"
logging.getLogger("sqlglot").setLevel(logging.ERROR)  # its "falling back to Command" warning is ours to handle
_QUOTES = {"`": "backtick-quoted name", "'": "string", '"': "string", "'''": "string", '"""': "string"}
_OPEN, _CLOSE = (TokenType.L_PAREN, TokenType.L_BRACKET), (TokenType.R_PAREN, TokenType.R_BRACKET)


@dataclass(frozen=True)
class CreateExternalTable:
    """``CREATE [OR REPLACE] EXTERNAL TABLE [IF NOT EXISTS] name [WITH CONNECTION c] OPTIONS(...)``."""

    name: Name
    replace: bool
    if_not_exists: bool
    connection: str | None  # as written, backticks removed; "DEFAULT" for DEFAULT; None when absent
    options: dict[str, Any]  # lower-cased keys, Python values (INTERVAL kept as exp.Interval)
    table: exp.Table  # the parsed name, with sqlglot's line/col meta for error messages


def external_table_statement(statement: exp.Expr, script: str | None = None) -> CreateExternalTable | exp.Drop | None:
    """The external-table statement behind a sqlglot Command (or native Create with ExternalProperty):
    CreateExternalTable for CREATE forms, an ordinary exp.Drop (kind TABLE, exists flag kept) for DROP
    EXTERNAL TABLE, None when ``statement`` is not an external-table form.

    ``script``, the text given to ``sqlglot.parse``, places errors in it. Without it positions are relative
    to the statement's first keyword (a Command keeps no offsets), or absent for a native Create.
    """
    if isinstance(statement, exp.Create) and statement.find(exp.ExternalProperty):
        starts = [i.meta["start"] for i in statement.this.find_all(exp.Identifier) if "start" in i.meta] or [-1]
        found = next(((at, text) for at, text in _statements(script) if at <= min(starts) < at + len(text)), None)
        first, text, placed = (*found, True) if found else (0, statement.sql(DIALECT), False)
    elif isinstance(statement, exp.Command) and statement.name.upper() in ("CREATE", "DROP"):
        text = statement.name + statement.text("expression")  # sqlglot's verbatim slice of the script
        if not _Reader(text, True).external():
            return None
        # where it stands in the script: the first statement with its text (an identical one fails the same)
        first = next((at for at, candidate in _statements(script) if candidate == text), 0)
        placed = True
    else:
        return None
    reader = _Reader(_blank(script[:first]) + text if script else text, placed)
    if not reader.external():
        reader.fail("expected CREATE [OR REPLACE] EXTERNAL TABLE")  # e.g. CREATE TEMP EXTERNAL TABLE
    return reader.read()


def tokenize(sql: str) -> list[Token]:
    """sqlglot's BigQuery tokens; an unterminated quote is a SQLError at its opening character (sqlglot's
    TokenError has no position, and ``sqlglot.parse`` raises it first: call this on the script it rejected)."""
    try:
        return sqlglot.tokenize(sql, read=DIALECT)
    except TokenError as exc:
        for quote, what in _QUOTES.items():  # the token that our closing quote completes is the open one
            try:
                last = sqlglot.tokenize(sql + quote, read=DIALECT)[-1]
            except (TokenError, IndexError):
                continue
            if last.end >= len(sql):
                raise _error(f"Syntax error: unterminated {what}", sql, last.start) from exc
        raise SQLError(f"Syntax error: {exc}") from exc


def _statements(script: str | None) -> list[tuple[int, str]]:
    """(offset, text) of each statement of ``script``, split where sqlglot splits them: at semicolons."""
    chunks: list[list[Token]] = [[]]
    for tok in tokenize(script) if script else []:
        chunks.append([]) if tok.token_type == TokenType.SEMICOLON else chunks[-1].append(tok)
    return [(c[0].start, (script or "")[c[0].start : c[-1].end + 1]) for c in chunks if c]


class _Reader:
    """A walk over one statement's tokens; ``kept`` are the character spans handed back to sqlglot."""

    def __init__(self, sql: str, placed: bool) -> None:
        self.sql, self.tokens, self.placed, self.i = sql, tokenize(sql), placed, 0
        self.kept: list[tuple[int, int]] = []

    def word(self, k: int) -> str | None:  # a token as written (quotes included), upper-cased
        return self.sql[self.tokens[k].start : self.tokens[k].end + 1].upper() if k < len(self.tokens) else None

    def take(self, *words: str, keep: bool = False, what: str = "") -> bool:
        if any(self.word(self.i + n) != w for n, w in enumerate(words)):
            if what:
                self.fail(f"expected {what}")
            return False
        self.kept += [(self.tokens[self.i].start, self.tokens[self.i + len(words) - 1].end)] if keep else []
        self.i += len(words)
        return True

    def fail(self, message: str, k: int | None = None, got: bool = True) -> NoReturn:
        k = self.i if k is None else k
        where = self.tokens[k].start if k < len(self.tokens) else self.tokens[-1].end + 1
        if got:  # BigQuery's own wording: "Expected ... but got ..."
            shown = repr(self.sql[where : self.tokens[k].end + 1]) if k < len(self.tokens) else "end of statement"
            message += f" but got {shown}"
        raise _error(f"Syntax error: {message}", self.sql if self.placed else None, where)

    def external(self) -> bool:
        self.i = 0
        return self.take("DROP", "EXTERNAL") or (
            self.take("CREATE") and (self.take("OR", "REPLACE") or True) and self.take("EXTERNAL")
        )

    def parse(self, spans: list[tuple[int, int]], into: type[exp.Expression] | None = None) -> Any:
        text = _blank(self.sql)
        for start, end in spans:
            text = text[:start] + self.sql[start : end + 1] + text[end + 1 :]
        try:
            return sqlglot.parse_one(text, read=DIALECT, into=into)
        except ParseError as exc:
            err = exc.errors[0] if exc.errors else {}
            line, col = err.get("line"), err.get("col")  # col: where sqlglot's highlighted token ends
            column = col - len(err.get("highlight", "")) + 1 if line and col and self.placed else None
            message = f"Syntax error: {err.get('description', exc)}"
            raise SQLError(message, line=line if column else None, column=column) from exc

    def name(self, what: str) -> exp.Table:
        """A dotted name: tokens joined by dots or written without space between them (my-project.d.t)."""
        toks, j = self.tokens, self.i + 1
        if self.i >= len(toks) or self.word(self.i) == "(" or (self.word(self.i), self.word(j)) == ("OPTIONS", "("):
            self.fail(f"expected {what}")
        while j < len(toks) and (
            TokenType.DOT in (toks[j].token_type, toks[j - 1].token_type)
            or (toks[j].start == toks[j - 1].end + 1 and toks[j].token_type not in _OPEN)
        ):
            j += 1
        self.kept.append((toks[self.i].start, toks[j - 1].end))
        try:
            table = self.parse([self.kept[-1]], exp.Table)
        except SQLError:
            self.fail(f"expected {what}", got=False)
        self.i = j
        return table

    def read(self) -> CreateExternalTable | exp.Drop:
        self.kept.append((self.tokens[0].start, self.tokens[0].end))  # CREATE / DROP; EXTERNAL is left out
        if self.word(0) == "DROP":
            self.take("TABLE", keep=True, what="TABLE after DROP EXTERNAL")
            self.take("IF", "EXISTS", keep=True)
            self.name("a table name")
            return self.parse(self.kept) if self.i == len(self.tokens) else self.fail("expected end of statement")
        replace, if_at = self.word(1) == "OR", self.i + 1
        self.take("TABLE", keep=True, what="TABLE after EXTERNAL")
        exists = self.take("IF", "NOT", "EXISTS")
        if replace and exists:
            self.fail("OR REPLACE and IF NOT EXISTS cannot be used together", if_at, got=False)
        table, connection = self.name("a table name"), None
        if self.take("WITH"):
            self.take("CONNECTION", what="CONNECTION after WITH")
            if self.take("DEFAULT"):
                connection = "DEFAULT"
            else:
                connection = ".".join(p.name for p in self.name("a connection name or DEFAULT").parts)
                self.kept.pop()  # not for sqlglot's CREATE TABLE
        self.take("OPTIONS", what="OPTIONS(...)" if connection else "WITH CONNECTION or OPTIONS(...)")
        options = self.options()
        return CreateExternalTable(object_name(table, "Table"), replace, exists, connection, options, table)

    def options(self) -> dict[str, Any]:
        """``(name = constant, ...)`` after OPTIONS, up to the end of the statement."""
        at, keys, depth = self.i - 1, [], 1  # keys: (name, index of its value's first token)
        self.take("(", what="( after OPTIONS")
        while depth and self.i < len(self.tokens):
            if depth == 1 and self.word(self.i - 1) in ("(", ",") and self.word(self.i + 1) == "=":
                keys.append((self.tokens[self.i].text.lower(), self.i + 2))
                if self.word(self.i + 2) in (",", ")", None):
                    self.fail(f"expected a value for option {keys[-1][0]}", self.i + 2)
            depth += (self.tokens[self.i].token_type in _OPEN) - (self.tokens[self.i].token_type in _CLOSE)
            self.i += 1
        self.kept.append((self.tokens[at].start, self.tokens[self.i - 1].end))
        if depth or self.i < len(self.tokens):
            self.fail("expected ) to close OPTIONS(" if depth else "expected end of statement after OPTIONS(...)")
        props = self.parse(self.kept).args.get("properties")
        # format = 'CSV' is sqlglot's FileFormatProperty, its value in `this`; keys come from the tokens
        values = [p.args["value"] if type(p) is exp.Property else p.this for p in props.expressions] if props else []
        if len(values) != len(keys):
            self.fail("expected OPTIONS(name = constant, ...)", at, got=False)
        return {key: self.constant(value, k, key) for (key, k), value in zip(keys, values)}

    def constant(self, node: exp.Expression, k: int, key: str) -> Any:
        """A constant option value: string, number, bool, NULL, array or INTERVAL (kept as exp.Interval)."""
        if isinstance(node, exp.Neg) and isinstance(node.this, exp.Literal) and not node.this.is_string:
            return -self.constant(node.this, k, key)
        if isinstance(node, exp.Literal):
            return node.this if node.is_string else int(node.this) if node.this.isdigit() else float(node.this)
        if isinstance(node, exp.Array):
            return [self.constant(e, k, key) for e in node.expressions]
        if isinstance(node, (exp.Boolean, exp.Null, exp.Interval)):
            return node if isinstance(node, exp.Interval) else node.this if isinstance(node, exp.Boolean) else None
        kinds = "string, number, boolean, NULL, array or INTERVAL"
        self.fail(f"the value of option {key} must be a constant ({kinds}), not {node.sql(DIALECT)!r}", k, got=False)


def _error(message: str, sql: str | None, offset: int) -> SQLError:
    """A SQLError at 1-based line and column of a character offset in ``sql`` (no position without it)."""
    if sql is None:
        return SQLError(message)
    return SQLError(message, line=sql.count("\n", 0, offset) + 1, column=offset - sql.rfind("\n", 0, offset))


def _blank(text: str) -> str:
    return "".join(c if c in "\r\n" else " " for c in text)
