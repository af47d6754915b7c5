"""``CREATE VECTOR INDEX`` and ``DROP VECTOR INDEX``, read from the Command sqlglot leaves them as.

BigQuery's forms [doc: data-definition-language#create_vector_index_statement]::

    CREATE [OR REPLACE] VECTOR INDEX [IF NOT EXISTS] index_name
    ON [project.]dataset.table(column_name) [STORING(stored_column_name [, ...])]
    OPTIONS(index_type = 'IVF' | 'TREE_AH', distance_type = ..., ivf_options = '{...}', ...)

    DROP VECTOR INDEX [IF EXISTS] index_name ON [project.]dataset.table
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlglot import exp
from sqlglot.tokens import TokenType

from bqml_magic.sql.command_reader import CommandReader, command_text
from bqml_magic.sql.names import Name, Position, at, object_name


@dataclass(frozen=True)
class CreateVectorIndex:
    """``CREATE VECTOR INDEX``, its parts read; the options as written (checked where the index is made)."""

    index: str
    table: Name
    column: str
    storing: tuple[str, ...]
    replace: bool
    if_not_exists: bool
    options: dict[str, Any]
    where: Position
    """The table's name in the statement, for errors about the table or its column."""
    ddl: str
    """The statement as written (INFORMATION_SCHEMA.VECTOR_INDEXES shows it)."""


@dataclass(frozen=True)
class DropVectorIndex:
    """``DROP VECTOR INDEX [IF EXISTS] index ON table``."""

    index: str
    table: Name
    if_exists: bool
    where: Position


def vector_index_statement(
    statement: exp.Expr, script: str | None = None
) -> CreateVectorIndex | DropVectorIndex | None:
    """The vector-index statement behind a sqlglot Command; None when ``statement`` is not one.
    ``script`` (the text given to sqlglot) places errors in it."""
    if not (isinstance(statement, exp.Command) and statement.name.upper() in ("CREATE", "DROP")):
        return None
    text, first = command_text(statement, script)
    if not _VectorIndexReader(text, True).vector_index():
        return None
    reader = _VectorIndexReader.in_script(text, first, script)
    assert isinstance(reader, _VectorIndexReader)
    reader.vector_index()
    return reader.read()


class _VectorIndexReader(CommandReader):
    def vector_index(self) -> bool:
        self.i = 0
        creating = self.take("CREATE") and (self.take("OR", "REPLACE") or True)
        return (creating or self.take("DROP")) and self.take("VECTOR", "INDEX")

    def read(self) -> CreateVectorIndex | DropVectorIndex:
        replace = self.word(1) == "OR"
        if self.word(0) == "DROP":
            if_exists = self.take("IF", "EXISTS")
            index = self.identifier("an index name")
            self.take("ON", what="ON after the index name")
            table = self.name("a table name")
            if self.i != len(self.tokens):
                self.fail("expected end of statement")
            return DropVectorIndex(index, object_name(table), if_exists, at(table))
        if_at = self.i
        if_not_exists = self.take("IF", "NOT", "EXISTS")
        if replace and if_not_exists:
            self.fail("OR REPLACE and IF NOT EXISTS cannot be used together", if_at, got=False)
        index = self.identifier("an index name")
        self.take("ON", what="ON after the index name")
        table = self.name("a table name")
        self.take("(", what="(column_name) after the table name")
        column = self.identifier("the name of the column to index")
        self.take(")", what=") after the column name")
        storing: list[str] = []
        if self.take("STORING"):
            self.take("(", what="( after STORING")
            storing.append(self.identifier("a column name to store"))
            while self.take(","):
                storing.append(self.identifier("a column name to store"))
            self.take(")", what=") after the stored columns")
        self.take("OPTIONS", what="OPTIONS(index_type = ...)")
        self.kept = []
        options = self.options(head="CREATE TABLE _")
        return CreateVectorIndex(
            index,
            object_name(table),
            column,
            tuple(storing),
            replace,
            if_not_exists,
            options,
            at(table),
            self.sql.strip(),
        )

    def identifier(self, what: str) -> str:
        """One name: a word or a backticked name."""
        token = self.tokens[self.i] if self.i < len(self.tokens) else None
        if token is None or not (
            token.token_type in (TokenType.VAR, TokenType.IDENTIFIER) or token.text.isidentifier()
        ):
            self.fail(f"expected {what}")  # a keyword is a name too, when it is a word
        name = self.tokens[self.i].text
        self.i += 1
        return name
