"""A walk over one statement's BigQuery tokens, for the DDL sqlglot leaves as a generic Command.

sqlglot 30 keeps ``CREATE EXTERNAL TABLE ... WITH CONNECTION``, ``CREATE VECTOR INDEX`` and their DROP
forms as an ``exp.Command`` (raw text, no positions). A reader takes the statement keyword by keyword
and hands the parts sqlglot knows (names, ``OPTIONS(...)``) back to ``sqlglot.parse_one``: no regex,
no subclass of sqlglot's (compiled) dialect. sqlglot gets the script with everything else blanked out,
newlines kept, so tokens and nodes keep their line, column and offset in the script the user wrote.
"""

from __future__ import annotations

import logging
from typing import Any, NoReturn

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError, TokenError
from sqlglot.tokens import Token, TokenType

from bqml_magic.errors import SQLError

DIALECT = "bigquery"
logging.getLogger("sqlglot").setLevel(logging.ERROR)  # its "falling back to Command" warning is ours to handle
_QUOTES = {"`": "backtick-quoted name", "'": "string", '"': "string", "'''": "string", '"""': "string"}
_OPEN, _CLOSE = (TokenType.L_PAREN, TokenType.L_BRACKET), (TokenType.R_PAREN, TokenType.R_BRACKET)


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
                raise error_at(f"Syntax error: unterminated {what}", sql, last.start) from exc
        raise SQLError(f"Syntax error: {exc}") from exc


def statements(script: str | None) -> list[tuple[int, str]]:
    """(offset, text) of each statement of ``script``, split where sqlglot splits them: at semicolons."""
    chunks: list[list[Token]] = [[]]
    for tok in tokenize(script) if script else []:
        chunks.append([]) if tok.token_type == TokenType.SEMICOLON else chunks[-1].append(tok)
    return [(c[0].start, (script or "")[c[0].start : c[-1].end + 1]) for c in chunks if c]


def command_text(statement: exp.Command, script: str | None) -> tuple[str, int]:
    """A Command's text (sqlglot's verbatim slice) and its offset in ``script``: the first statement
    with that text (an identical one fails the same); 0 without a script."""
    text = statement.name + statement.text("expression")
    return text, next((at for at, candidate in statements(script) if candidate == text), 0)


class CommandReader:
    """A walk over one statement's tokens; ``kept`` are the character spans handed back to sqlglot."""

    @classmethod
    def in_script(cls, text: str, first: int, script: str | None) -> CommandReader:
        """A reader of ``text``, which starts at offset ``first`` of ``script``: its errors are placed there."""
        return cls(blank(script[:first]) + text if script else text, True)

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
        raise error_at(f"Syntax error: {message}", self.sql if self.placed else None, where)

    def parse(self, spans: list[tuple[int, int]], into: type[exp.Expression] | None = None, head: str = "") -> Any:
        """sqlglot's tree of the kept ``spans``, everything else blank; ``head``, written over the blanks at
        the statement's start, makes a form sqlglot knows of one it does not (``CREATE TABLE _ OPTIONS(...)``)."""
        start = self.tokens[0].start
        text = blank(self.sql)
        text = text[:start] + head + text[start + len(head) :]
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

    def options(self, head: str = "") -> dict[str, Any]:
        """``(name = constant, ...)`` after OPTIONS, up to the end of the statement, read by sqlglot as
        the kept spans and the OPTIONS (after ``head``, see ``parse``)."""
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
        props = self.parse(self.kept, head=head).args.get("properties")
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


def error_at(message: str, sql: str | None, offset: int) -> SQLError:
    """A SQLError at 1-based line and column of a character offset in ``sql`` (no position without it)."""
    if sql is None:
        return SQLError(message)
    return SQLError(message, line=sql.count("\n", 0, offset) + 1, column=offset - sql.rfind("\n", 0, offset))


def blank(text: str) -> str:
    return "".join(c if c in "\r\n" else " " for c in text)
