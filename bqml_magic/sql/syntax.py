"""Syntax errors in BigQuery's words, at their place in the user's text.

sqlglot says what its parser wanted in its own terms ("Invalid expression / Unexpected token",
"Required keyword: 'this' missing for <class '...Substring'>"), placed at the end of the token
it stopped on; its TokenError has no place at all. BigQuery says ``Syntax error: Unexpected
identifier "SELEC" at [1:1]`` or ``Expected ")" but got end of script``. ``PARSE_RULES`` turns
one into the other, a (pattern -> message) row each. What sqlglot accepts or cannot say is read
from the tokens: a statement that starts with a name (sqlglot takes ``SELEC uri`` for an
expression), a misspelt keyword taken for an alias (``FROM t WHER x``), a stray character taken
for a name (``$``, ``€``), and nesting deeper than its recursive parser can follow.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from sqlglot import exp
from sqlglot.errors import ParseError
from sqlglot.tokens import TokenType

from bqml_magic.errors import SQLError
from bqml_magic.sql.callables import is_denied, is_table_context
from bqml_magic.sql.names import at
from bqml_magic.sql.script import Script

MAX_NESTING = 32
"""Parentheses, brackets and CASE open at once. sqlglot parses recursively, about 22 Python frames
a level: 32 levels fit Python's default recursion limit with room for a notebook's own stack."""

TOO_DEEP = "Query too deeply nested: more than {} levels of parentheses, brackets or CASE; flatten it with WITH clauses"
TOO_DEEP_TO_READ = "Query too deeply nested to read (operators, calls or types within one another); simplify it"

STATEMENT_STARTS = frozenset({
    "SELECT", "WITH", "FROM", "CREATE", "DROP", "ALTER", "INSERT", "UPDATE", "DELETE", "MERGE", "TRUNCATE", "CALL",
    "DECLARE", "SET", "BEGIN", "END", "IF", "LOOP", "WHILE", "REPEAT", "FOR", "BREAK", "LEAVE", "CONTINUE",
    "ITERATE", "RETURN", "RAISE", "EXECUTE", "EXPORT", "LOAD", "GRANT", "REVOKE", "ASSERT", "EXPLAIN", "COMMIT",
    "ROLLBACK", "UNDROP", "CASE",
})  # fmt: skip
"""The words a BigQuery statement may start with (and ``(``); any other start is a syntax error there."""

CLAUSE_KEYWORDS = [
    "SELECT", "FROM", "WHERE", "GROUP", "ORDER", "HAVING", "QUALIFY", "WINDOW", "LIMIT", "OFFSET", "JOIN", "INNER",
    "LEFT", "RIGHT", "CROSS", "FULL", "UNION", "INTERSECT", "EXCEPT", "USING", "OPTIONS", "DISTINCT",
]  # fmt: skip
"""Keywords whose misspelling sqlglot reads as an alias: a near miss among them is suggested."""

_STRINGS = {
    TokenType.STRING: "string literal",
    TokenType.RAW_STRING: "string literal",
    TokenType.BYTE_STRING: "bytes literal",
    TokenType.HEX_STRING: "integer literal",
    TokenType.BIT_STRING: "integer literal",
    TokenType.NATIONAL_STRING: "string literal",
    TokenType.UNICODE_STRING: "string literal",
    TokenType.HEREDOC_STRING: "string literal",
}
_NAMES = {TokenType.VAR, TokenType.IDENTIFIER}
_OPENERS = {TokenType.L_PAREN, TokenType.L_BRACKET, TokenType.L_BRACE}
_CLOSERS = {TokenType.R_PAREN, TokenType.R_BRACKET, TokenType.R_BRACE}
_TYPED_LITERALS = {"DATE", "TIME", "DATETIME", "TIMESTAMP", "NUMERIC", "BIGNUMERIC", "DECIMAL", "BIGDECIMAL", "JSON"}
_STAR_PARENTS = (exp.Select, exp.Column, exp.Dot, exp.Count, exp.Alias)
"""Where ``*`` may stand: a select list, ``t.*`` / ``expr.*``, ``COUNT(*)`` (an alias is refused on its own)."""


def check_nesting(script: Script) -> None:
    """Refuse, at the opening that goes too deep, what sqlglot's recursive parser cannot follow."""
    depth, cases = 0, 0
    for token in script.tokens:
        kind = token.token_type
        if kind in _OPENERS or kind == TokenType.CASE:
            depth += 1
            cases += kind == TokenType.CASE
            if depth > MAX_NESTING:
                raise script.error(f"Syntax error: {TOO_DEEP.format(MAX_NESTING)}", token.start)
        elif kind in _CLOSERS or (kind == TokenType.END and cases):
            depth = max(0, depth - 1)
            cases -= kind == TokenType.END


def describe(script: Script, i: int) -> str:
    """A token as BigQuery names it in "Unexpected ..." / "... but got ...": ``keyword FROM``, ``identifier "x"``."""
    token, text = script.tokens[i], _shown(script.text(i))
    kind = token.token_type
    if kind == TokenType.VAR:
        return f'identifier "{text}"'
    if kind == TokenType.IDENTIFIER:
        return f"identifier {text}"
    if kind in _STRINGS:
        return f"{_STRINGS[kind]} {text}"
    if kind == TokenType.NUMBER:
        return f'{"integer" if text.isdigit() else "floating point"} literal "{text}"'
    if text[:1].isalpha():
        return f"keyword {text.upper()}"
    return f'"{text}"'


def _shown(text: str, limit: int = 40) -> str:
    """Text for a message: one line, control characters escaped, long literals cut."""
    text = "".join(c if c.isprintable() else f"\\u{ord(c):04x}" for c in text)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _close_keyword(word: str, keywords: Iterable[str]) -> str | None:
    """The keyword ``word`` most likely misspells (SELEC -> SELECT, FORM -> FROM, WHER -> WHERE)."""
    if len(word) < 3 or not word.isalpha():
        return None
    match = difflib.get_close_matches(word.upper(), list(keywords), n=1, cutoff=0.75)
    return match[0] if match and match[0] != word.upper() else None


# -- what sqlglot accepts but BigQuery does not ----------------------------------------------
def lexical_problem(script: Script) -> tuple[int, SQLError] | None:
    """The first stray character or statement that cannot start as it does, with its offset."""
    found: list[tuple[int, SQLError]] = []
    for i, token in enumerate(script.tokens):
        if token.token_type in (TokenType.L_BRACE, TokenType.R_BRACE):  # DuckDB's struct literal, not BigQuery's
            found.append((token.start, script.error(f"Syntax error: Unexpected {describe(script, i)}", token.start)))
            break
        if token.token_type in (TokenType.VAR, TokenType.BACKSLASH):
            text = script.text(i)
            bad = next((k for k, c in enumerate(text) if not (c.isalnum() or c == "_")), None)
            if bad is not None:
                found.append((token.start + bad, _illegal(script, token.start + bad)))
                break
    for chunk in script.statements():
        first = chunk[0]
        word = script.text(first).upper()
        if script.tokens[first].token_type == TokenType.L_PAREN or (
            word in STATEMENT_STARTS and script.tokens[first].token_type != TokenType.IDENTIFIER
        ):
            continue
        hint = _close_keyword(word, STATEMENT_STARTS) if script.tokens[first].token_type == TokenType.VAR else None
        message = f"Syntax error: Unexpected {describe(script, first)}" + (f"; did you mean {hint}?" if hint else "")
        found.append((script.tokens[first].start, script.error(message, script.tokens[first].start)))
        break
    return min(found, key=lambda f: f[0]) if found else None


def _illegal(script: Script, offset: int) -> SQLError:
    return script.error(f'Syntax error: Illegal input character "{_shown(script.sql[offset])}"', offset)


# -- sqlglot's ParseError ------------------------------------------------------------------------
@dataclass(frozen=True)
class Failure:
    """Where sqlglot's parser stopped in one statement (``chunk``): the token it stopped on, or
    None when it ran out of tokens (``got`` is then the ``;`` or the end of the script)."""

    script: Script
    chunk: range
    index: int | None
    description: str

    @property
    def got(self) -> str:
        if self.index is not None:
            return describe(self.script, self.index)
        return '";"' if self.chunk.stop < len(self.script.tokens) else "end of script"

    @property
    def offset(self) -> int:
        if self.index is not None:
            return self.script.tokens[self.index].start
        if self.chunk.stop < len(self.script.tokens):
            return self.script.tokens[self.chunk.stop].start
        return self.script.tokens[self.chunk.stop - 1].end + 1

    @property
    def consumed(self) -> int:
        """The last token the parser took before it stopped."""
        return (self.index if self.index is not None else self.chunk.stop) - 1

    def error(self, message: str, offset: int | None = None) -> tuple[int, SQLError]:
        offset = self.offset if offset is None else offset
        return offset, self.script.error(f"Syntax error: {message}", offset)


Rule = Callable[[re.Match[str], Failure], tuple[int, SQLError]]


def parse_failure(exc: ParseError, script: Script, chunk: range, at_end: bool) -> tuple[int, SQLError]:
    """The SQLError (and its offset) for sqlglot's first complaint about one statement."""
    first = exc.errors[0] if exc.errors else {}
    index = None if at_end else script.index_at(first.get("line"), first.get("col"))
    failure = Failure(script, chunk, index if index is None or index in chunk else None, first.get("description") or "")
    misspelt = _misspelt_alias(failure)
    if misspelt is not None:
        return misspelt
    for pattern, rule in PARSE_RULES:
        match = pattern.fullmatch(failure.description)
        if match:
            return rule(match, failure)
    return failure.error(f"{clean(failure.description)}: unexpected {failure.got}")


def clean(text: str) -> str:
    """sqlglot's words without its Python: ``<class '...Glob'>`` -> ``Glob``, token reprs dropped."""
    text = re.sub(r"<class '(?:[\w.]+\.)?(\w+)'>", r"\1", text)
    return re.sub(r"\s*<Token [^>]*>|\s*Token\(.*?\)", "", text).strip() or "Invalid syntax"


def reworded(exc: SQLError, script: Script) -> SQLError:
    """A SQLError that still speaks sqlglot's Python (``missing for <class '...EQ'>``): "Unexpected"
    the token at its place."""
    offset = script.offset(exc.line, exc.column)
    at_token = script.by_start.get(offset) if offset is not None else None
    if at_token is None:
        return SQLError(f"Syntax error: {clean(exc.message.removeprefix('Syntax error: '))}")
    return script.error(f"Syntax error: Unexpected {describe(script, at_token)}", offset)


def _misspelt_alias(failure: Failure) -> tuple[int, SQLError] | None:
    """``FROM t WHER x``: sqlglot took WHER for an alias and stopped after it; say it is a misspelt keyword."""
    script = failure.script
    for i in (failure.index, failure.consumed):
        if i is None or i not in failure.chunk or script.tokens[i].token_type != TokenType.VAR:
            continue
        if i > failure.chunk.start and script.tokens[i - 1].token_type == TokenType.ALIAS:
            continue
        keyword = _close_keyword(script.text(i), CLAUSE_KEYWORDS)
        if keyword:
            message = f"Unexpected {describe(script, i)}; did you mean {keyword}?"
            return failure.error(message, script.tokens[i].start)
    return None


def _end_of_input(match: re.Match[str], failure: Failure) -> tuple[int, SQLError]:
    return failure.error(f"Expected end of input but got {failure.got}")


def _expected(match: re.Match[str], failure: Failure) -> tuple[int, SQLError]:
    what = match["what"]
    what = f'"{what}"' if len(what) == 1 and not what.isalnum() else what
    return failure.error(f"Expected {what} but got {failure.got}")


def _expected_name(match: re.Match[str], failure: Failure) -> tuple[int, SQLError]:
    return failure.error(f"Expected {match['what']} name but got {failure.got}")


def _set_operation(match: re.Match[str], failure: Failure) -> tuple[int, SQLError]:
    return failure.error(f"Expected keyword ALL or keyword DISTINCT but got {failure.got}")


def _missing_argument(match: re.Match[str], failure: Failure) -> tuple[int, SQLError]:
    """A function sqlglot knows, called without what it needs (``SUBSTR()``), or a DuckDB-only
    name that sqlglot reads as an operator (``glob(...)``): named as the user wrote it."""
    call = _call_before(failure)
    node_class: type[exp.Expr] | None = getattr(exp, match.groupdict().get("cls") or "Func", None)
    if call is None:
        return failure.error(f"Unexpected {failure.got}")
    name, offset, empty = call

    script = failure.script
    if is_table_context(script, offset):
        return offset, script.error(f"Table-valued function not found: {name}", offset)
    is_function = isinstance(node_class, type) and issubclass(node_class, exp.Func)
    if is_denied(name) or (not is_function and node_class is not None and name.lower() == node_class.key):
        return offset, script.error(f"Function not found: {name}", offset)
    if not is_function:
        return failure.error(f"Unexpected {failure.got}")
    if empty:
        return offset, script.error(f"No matching signature for function {name.upper()} with no arguments", offset)
    return offset, script.error(f"Number of arguments does not match for function {name.upper()}", offset)


def _call_before(failure: Failure) -> tuple[str, int, bool] | None:
    """The function call the parser was in or had just closed: (name as written, offset, no arguments)."""
    script, tokens = failure.script, failure.script.tokens
    i = failure.consumed
    if i < failure.chunk.start:
        return None
    if tokens[i].token_type == TokenType.R_PAREN:
        depth = 0
        for j in range(i, failure.chunk.start - 1, -1):
            depth += (tokens[j].token_type == TokenType.R_PAREN) - (tokens[j].token_type == TokenType.L_PAREN)
            if depth == 0:
                opening = j
                break
        else:
            return None
    else:
        depth, opening = 0, -1
        for j in range(i, failure.chunk.start - 1, -1):
            depth += (tokens[j].token_type == TokenType.R_PAREN) - (tokens[j].token_type == TokenType.L_PAREN)
            if depth < 0:
                opening = j
                break
        if opening < 0:
            return None
    name_at = opening - 1
    if name_at < failure.chunk.start:
        return None
    if not script.text(name_at)[:1].isalpha() and tokens[name_at].token_type not in _NAMES:
        return None
    start = name_at
    while start - 2 >= failure.chunk.start and tokens[start - 1].token_type == TokenType.DOT:
        start -= 2
    name = script.sql[tokens[start].start : tokens[name_at].end + 1]
    empty = opening + 1 < len(tokens) and tokens[opening + 1].token_type == TokenType.R_PAREN
    return name, tokens[start].start, empty


PARSE_RULES: list[tuple[re.Pattern[str], Rule]] = [
    (re.compile(r"Invalid expression / Unexpected token"), _end_of_input),
    (re.compile(r"Required keyword: '\w+' missing for <class '(?:[\w.]+\.)?(?P<cls>\w+)'>"), _missing_argument),
    (re.compile(r"Expected DISTINCT or ALL for \w+"), _set_operation),
    (re.compile(r"The number of provided arguments \(\d+\) is greater than the maximum .*"), _missing_argument),
    (re.compile(r"Expected (?P<what>table|database) name but got .*", re.DOTALL), _expected_name),
    (re.compile(r"Expect(?:ing|ed) (?P<what>[^<]+?)"), _expected),
]
"""sqlglot's descriptions (parser.py ``raise_error`` calls) -> BigQuery's message; first match wins."""


# -- trees sqlglot accepts and BigQuery does not ----------------------------------------------------
def check_tree(statement: exp.Expr, script: Script) -> None:
    """What sqlglot lets through: a star with an alias (``SELECT *uri``) or as an argument (``f(*)``,
    only ``COUNT(*)`` has one), and a query whose result names a column twice (``SELECT uri, size AS
    uri``: BigQuery refuses the result, and a DataFrame cannot hold it)."""
    for alias in statement.find_all(exp.Alias):
        if isinstance(alias.this, exp.Star):
            start = alias.args["alias"].meta.get("start") if alias.args.get("alias") is not None else None
            i = script.by_start.get(start) if isinstance(start, int) else None
            got = describe(script, i) if i is not None else "an alias"
            raise script.error(f"Syntax error: Expected end of input but got {got}", start)
    for star in statement.find_all(exp.Star):
        if star.parent is not None and not isinstance(star.parent, _STAR_PARENTS):
            starts = [n.meta["start"] for n in star.parent.walk() if "start" in n.meta]
            after = min(starts) if starts else 0
            offset = next((t.start for t in script.tokens if t.start >= after and t.token_type == TokenType.STAR), None)
            raise script.error('Syntax error: Unexpected "*"', offset)
    if isinstance(statement, exp.Create) and statement.expression is None:
        kind = (statement.args.get("kind") or "").upper()
        if kind == "VIEW":
            raise SQLError("Syntax error: CREATE VIEW needs AS followed by a query")
        if kind == "TABLE" and not isinstance(statement.this, exp.Schema):
            raise SQLError("CREATE TABLE needs a column list or AS followed by a query here (not LIKE, COPY or CLONE)")
    if isinstance(statement, exp.Select):
        seen: dict[str, exp.Expr] = {}
        for projection in statement.expressions:
            name = projection.alias_or_name if isinstance(projection, (exp.Alias, exp.Column)) else ""
            if name and name.lower() in seen:
                message = f"Duplicate column names in the result are not supported. Found duplicate(s): {name}"
                raise SQLError(message, **at(projection))
            seen[name.lower()] = projection


# -- places sqlglot does not record ----------------------------------------------------------------
def place_casts(statement: exp.Expr, script: Script) -> None:
    """Give CAST / SAFE_CAST / ``DATE '...'`` nodes the place of their keyword (sqlglot records none),
    so a value that does not convert is reported where its CAST is."""
    for node in statement.find_all(exp.Cast):
        starts = [n.meta["start"] for n in node.this.walk() if "start" in n.meta] if node.this else []
        first = script.by_start.get(min(starts)) if starts and "line" not in node.meta else None
        keyword = _cast_keyword(script, first) if first else None
        if keyword is not None:
            node.update_positions(script.tokens[keyword])


def _cast_keyword(script: Script, first: int) -> int | None:
    """The CAST before the ``(`` that opens around token ``first`` (a cast's first placed token), or the
    type of a typed literal (``DATE '2020-01-01'``)."""
    tokens = script.tokens
    if script.text(first - 1).upper() in _TYPED_LITERALS:
        return first - 1
    depth = 0
    for i in range(first - 1, max(first - 64, 0), -1):  # back over what opens around the cast's operand
        kind = tokens[i].token_type
        if kind in _CLOSERS:
            depth += 1
        elif kind in _OPENERS and depth:
            depth -= 1
        elif kind == TokenType.L_PAREN and script.text(i - 1).upper() in ("CAST", "SAFE_CAST"):
            return i - 1
    return None
