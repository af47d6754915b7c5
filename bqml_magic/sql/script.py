"""A script as sqlglot's tokens and its text: where a token or an offset is, as ``[at line:column]``.

Tokenizing is the first thing that can fail: an unclosed quote or comment is reported where it
opens, which sqlglot's own error (100 characters around the end) does not say.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property

import sqlglot
from sqlglot.errors import TokenError
from sqlglot.tokens import Token, TokenType

from bqml_magic.errors import SQLError

DIALECT = "bigquery"

_UNCLOSED = {  # the quote left open -> what BigQuery calls it
    "`": "Unclosed identifier literal",
    "'": "Unclosed string literal",
    '"': "Unclosed string literal",
    "'''": "Unclosed triple-quoted string literal",
    '"""': "Unclosed triple-quoted string literal",
}


@dataclass(frozen=True)
class Script:
    """A script's text and its sqlglot tokens: places (offsets) become ``[at line:column]``."""

    sql: str
    tokens: list[Token]

    def error(self, message: str, offset: int | None) -> SQLError:
        """A SQLError at a character offset of the script (unplaced without one)."""
        if offset is None:
            return SQLError(message)
        offset = max(0, min(offset, len(self.sql)))
        line = self.sql.count("\n", 0, offset) + 1
        return SQLError(message, line=line, column=offset - self.sql.rfind("\n", 0, offset))

    @cached_property
    def by_start(self) -> dict[int, int]:
        """Token index by the offset it starts at."""
        return {token.start: i for i, token in enumerate(self.tokens)}

    def offset(self, line: int | None, column: int | None) -> int | None:
        """The character offset of a 1-based line and column."""
        if line is None or column is None:
            return None
        start = 0
        for _ in range(line - 1):
            start = self.sql.find("\n", start) + 1
            if start == 0:
                return None
        return start + column - 1

    def text(self, i: int) -> str:
        token = self.tokens[i]
        return self.sql[token.start : token.end + 1]

    def statements(self) -> list[range]:
        """Token indices of each statement: split at semicolons, as sqlglot splits; empty ones dropped."""
        chunks, start = [], 0
        for i, token in enumerate([*self.tokens, None]):
            if token is None or token.token_type == TokenType.SEMICOLON:
                if i > start:
                    chunks.append(range(start, i))
                start = i + 1
        return chunks

    def index_at(self, line: int | None, col: int | None) -> int | None:
        """The token sqlglot placed an error on (its line and last column)."""
        return next((i for i, t in enumerate(self.tokens) if (t.line, t.col) == (line, col)), None)


def scan(sql: str) -> Script:
    """The script's tokens; an unclosed quote or comment is an error at the place it opens."""
    try:
        return Script(sql, sqlglot.tokenize(sql, read=DIALECT))
    except TokenError as exc:
        raise _unclosed(sql, exc) from exc


def _unclosed(sql: str, exc: TokenError) -> SQLError:
    """sqlglot's TokenError quotes 100 characters around the place; its cause, or our own look at the
    quotes and comments, says what is left open and where it opens."""
    script = Script(sql, [])
    missing = re.fullmatch(r"Missing (?P<delimiter>.+) from \d+:(?P<start>\d+)", str(exc.__cause__ or ""))
    if missing:
        what = _UNCLOSED.get(missing["delimiter"], "Unclosed string literal")
        return script.error(f"Syntax error: {what}", int(missing["start"]))
    opened = _open_construct(sql)
    if opened is not None:
        return script.error(f"Syntax error: {opened[1]}", opened[0])
    place = exc.start if isinstance(exc.start, int) else None
    return script.error("Syntax error: the text could not be read as SQL", place)


def _open_construct(sql: str) -> tuple[int, str] | None:
    """The quote or comment that is never closed, read as BigQuery reads them (backslash escapes)."""
    i = 0
    while i < len(sql):
        if sql.startswith(("--", "#"), i):
            end = sql.find("\n", i)
            i = len(sql) if end < 0 else end + 1
        elif sql.startswith("/*", i):
            end = sql.find("*/", i + 2)
            if end < 0:
                return i, "Unclosed comment"
            i = end + 2
        elif sql[i] in "'\"`":
            quote = sql[i : i + 3] if sql.startswith(("'''", '"""'), i) else sql[i]
            j = i + len(quote)
            while j < len(sql) and not sql.startswith(quote, j):
                j += 2 if sql[j] == "\\" else 1
            if j >= len(sql):
                return i, _UNCLOSED[quote]
            i = j + len(quote)
        else:
            i += 1
    return None
