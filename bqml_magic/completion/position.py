"""What is being typed at the cursor of unfinished SQL, and which tables and models its statement names.

A cell being written rarely parses, so this reads sqlglot's tokens (BigQuery dialect) rather
than a tree: the name under the cursor with its qualifier (``my_dataset.obj``, ``t.ur``,
`` `my_dataset.ob``), the keyword before it that says what kind of name goes there (``FROM``:
a table, ``MODEL``: a model), and the ``FROM`` / ``JOIN`` / ``MODEL`` references of the
statement around the cursor, before and after it, with their aliases.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum

from sqlglot.dialects.bigquery import BigQuery
from sqlglot.errors import TokenError
from sqlglot.tokens import Token, TokenType


class Place(Enum):
    """What kind of name the grammar expects at the cursor."""

    DATASET = "dataset"
    RELATION = "relation"
    MODEL = "model"
    EXPRESSION = "expression"


_PLACES = {
    TokenType.FROM: Place.RELATION,
    TokenType.JOIN: Place.RELATION,
    TokenType.TABLE: Place.RELATION,
    TokenType.VIEW: Place.RELATION,
    TokenType.INTO: Place.RELATION,
    TokenType.UPDATE: Place.RELATION,
    TokenType.MERGE: Place.RELATION,
    TokenType.MODEL: Place.MODEL,
    TokenType.SCHEMA: Place.DATASET,
    TokenType.DATABASE: Place.DATASET,
}
"""The keyword before a name -> the kind of name it takes."""
_OPTIONAL_WORDS = {"IF", "NOT", "EXISTS"}
"""Words between a keyword and its name (``DROP SCHEMA IF EXISTS d``)."""
_CLAUSES = {
    TokenType.SELECT,
    TokenType.FROM,
    TokenType.JOIN,
    TokenType.WHERE,
    TokenType.GROUP_BY,
    TokenType.ORDER_BY,
    TokenType.HAVING,
    TokenType.QUALIFY,
    TokenType.ON,
    TokenType.USING,
    TokenType.SET,
    TokenType.VALUES,
}
"""Keywords that start a clause: the nearest one before a comma says what it separates (JOIN: tables, as FROM)."""
_WORD = re.compile(r"[A-Za-z_]\w*")
_DIALECT = BigQuery()


@dataclass(frozen=True)
class Reference:
    """A table or model the statement names (as written), and the alias its columns go by."""

    parts: tuple[str, ...]
    alias: str | None
    model: bool


@dataclass(frozen=True)
class NameAtCursor:
    """The name being typed: ``qualifier.partial``; completion replaces ``partial``."""

    place: Place
    qualifier: tuple[str, ...]
    partial: str
    quoted: bool
    """Typed inside an open backtick: names go in as they are."""
    references: tuple[Reference, ...]
    ctes: tuple[str, ...] = ()
    """The statement's ``WITH`` names, which its FROM clauses may read."""


def name_at_cursor(sql: str, cursor: int) -> NameAtCursor | None:
    """None where no name goes: inside a string literal or a comment."""
    before = sql[:cursor]
    tokens = _tokens(before)
    if tokens is None:
        return _in_open_backtick(sql, cursor)
    last_end = tokens[-1].end + 1 if tokens else 0
    if before[last_end:].strip():
        return None  # a comment runs up to the cursor
    partial = ""
    if tokens and last_end == cursor and _is_word(tokens[-1]):
        if before.endswith("`"):
            return None  # a quoted name, closed
        partial = before[tokens[-1].start :]
        tokens = tokens[:-1]
    return _name(sql, cursor, tokens, [], partial, quoted=False)


def _in_open_backtick(sql: str, cursor: int) -> NameAtCursor | None:
    """`` `my_dataset.obj``: the open quote's text, split at its dots, is the name so far."""
    before = sql[:cursor]
    quote = before.rfind("`")
    tokens = _tokens(before[:quote]) if quote >= 0 and "\n" not in before[quote:] else None
    if tokens is None:
        return None
    *qualifier, partial = before[quote + 1 :].split(".")
    return _name(sql, cursor, tokens, qualifier, partial, quoted=True)


def _name(sql: str, cursor: int, tokens: list[Token], qualifier: list[str], partial: str, quoted: bool) -> NameAtCursor:
    """Completes the qualifier from the ``word.`` tokens before the name, then reads the statement."""
    while len(tokens) >= 2 and tokens[-1].token_type is TokenType.DOT and _is_word(tokens[-2]):
        qualifier[:0] = _parts(tokens[-2])
        tokens = tokens[:-2]
    head = tokens[_statement_start(tokens) :]
    tail = _tokens(sql[cursor:]) or []
    tail = tail[: next((i for i, t in enumerate(tail) if t.token_type is TokenType.SEMICOLON), len(tail))]
    statement = [*head, *tail]
    return NameAtCursor(
        _place(head), tuple(qualifier), partial, quoted, tuple(_references(statement)), tuple(_cte_names(statement))
    )


def _place(tokens: list[Token]) -> Place:
    """What the keyword before the name (past ``IF NOT EXISTS``) expects; a comma in FROM expects a table."""
    words = list(tokens)
    while words and words[-1].text.upper() in _OPTIONAL_WORDS:
        words.pop()
    if not words:
        return Place.EXPRESSION
    if words[-1].token_type is TokenType.COMMA:
        return Place.RELATION if _clause(words) is TokenType.FROM else Place.EXPRESSION
    return _PLACES.get(words[-1].token_type, Place.EXPRESSION)


def _clause(tokens: list[Token]) -> TokenType | None:
    """The clause keyword that the end of ``tokens`` is in, at its own parenthesis depth."""
    depth = 0
    for token in reversed(tokens):
        if token.token_type is TokenType.R_PAREN:
            depth += 1
        elif token.token_type is TokenType.L_PAREN:
            if depth == 0:
                return None
            depth -= 1
        elif depth == 0 and token.token_type in _CLAUSES:
            return TokenType.FROM if token.token_type is TokenType.JOIN else token.token_type
    return None


def _references(tokens: list[Token]) -> list[Reference]:
    """Tables after FROM / JOIN (and commas in FROM) with their aliases; models after MODEL, with the
    alias of the ``ML.PREDICT(...)`` they are in."""
    closing = _closing_parens(tokens)
    opened: list[int] = []
    references = []
    for index, token in enumerate(tokens):
        kind = token.token_type
        if kind is TokenType.L_PAREN:
            opened.append(index)
        elif kind is TokenType.R_PAREN and opened:
            opened.pop()
        parts, after = _chain(tokens, index + 1)
        if not parts:
            continue
        if kind is TokenType.MODEL:
            call = opened[-1] if opened else None
            predict = call is not None and call > 0 and tokens[call - 1].text.upper() == "PREDICT"
            alias = _alias(tokens, closing[call] + 1) if predict and call in closing else None
            references.append(Reference(parts, alias, model=True))
        elif _starts_table(tokens, index) and not _is(tokens, after, TokenType.L_PAREN):
            references.append(Reference(parts, _alias(tokens, after), model=False))
    return references


def _cte_names(tokens: list[Token]) -> list[str]:
    """``WITH name AS (`` and ``, name AS (``: nowhere else does a name stand before ``AS (``."""
    return [
        tokens[i].text
        for i in range(1, len(tokens) - 2)
        if tokens[i - 1].token_type in (TokenType.WITH, TokenType.COMMA)
        and _is_word(tokens[i])
        and tokens[i + 1].token_type is TokenType.ALIAS
        and tokens[i + 2].token_type is TokenType.L_PAREN
    ]


def _starts_table(tokens: list[Token], index: int) -> bool:
    kind = tokens[index].token_type
    if kind is TokenType.COMMA:
        return _clause(tokens[:index]) is TokenType.FROM
    return kind in (TokenType.FROM, TokenType.JOIN)


def _chain(tokens: list[Token], index: int) -> tuple[tuple[str, ...], int]:
    """``a.b.c`` starting at ``index``: its parts and the index after it (no parts: no name there)."""
    parts: list[str] = []
    while index < len(tokens) and _is_word(tokens[index]):
        parts += _parts(tokens[index])
        index += 1
        if not _is(tokens, index, TokenType.DOT):
            break
        index += 1
    return tuple(parts), index


def _alias(tokens: list[Token], index: int) -> str | None:
    """``[AS] alias`` at ``index``: a keyword is no alias unless after AS."""
    if _is(tokens, index, TokenType.ALIAS):
        return tokens[index + 1].text if index + 1 < len(tokens) and _is_word(tokens[index + 1]) else None
    if index < len(tokens) and tokens[index].token_type in (TokenType.VAR, TokenType.IDENTIFIER):
        return tokens[index].text
    return None


def _closing_parens(tokens: list[Token]) -> dict[int, int]:
    """Index of each ``(`` -> index of its ``)``."""
    opened: list[int] = []
    closing = {}
    for index, token in enumerate(tokens):
        if token.token_type is TokenType.L_PAREN:
            opened.append(index)
        elif token.token_type is TokenType.R_PAREN and opened:
            closing[opened.pop()] = index
    return closing


def _statement_start(tokens: list[Token]) -> int:
    return next((i + 1 for i in range(len(tokens) - 1, -1, -1) if tokens[i].token_type is TokenType.SEMICOLON), 0)


def _tokens(text: str) -> list[Token] | None:
    """None when the text ends inside a string, a quoted name or a comment."""
    try:
        return _DIALECT.tokenize(text)
    except TokenError:
        return None


def _is_word(token: Token) -> bool:
    """A name, quoted or not, or a keyword spelt like one (``my_dataset.table`` is a name in its place)."""
    return token.token_type is TokenType.IDENTIFIER or bool(_WORD.fullmatch(token.text))


def _parts(token: Token) -> list[str]:
    """`` `project.dataset.table` `` is one quoted token holding the whole path (docs/behaviour.md#pitfalls)."""
    return token.text.split(".") if token.token_type is TokenType.IDENTIFIER else [token.text]


def _is(tokens: list[Token], index: int, kind: TokenType) -> bool:
    return index < len(tokens) and tokens[index].token_type is kind
