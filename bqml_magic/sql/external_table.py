"""``CREATE EXTERNAL TABLE`` and ``DROP EXTERNAL TABLE``, read with sqlglot's own tokenizer and parser.

sqlglot 30 leaves ``CREATE EXTERNAL TABLE ... WITH CONNECTION`` and ``DROP EXTERNAL TABLE`` as a generic
``exp.Command``, and parses the form without a connection while accepting what BigQuery rejects (OR
REPLACE with IF NOT EXISTS, a column list, AS SELECT, no OPTIONS). So a ``CommandReader`` walks the
statement's tokens and hands table and connection names, ``CREATE TABLE name OPTIONS(...)`` and
``DROP TABLE name`` back to sqlglot.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlglot import exp

from bqml_magic.sql.command_reader import DIALECT, CommandReader, blank, command_text, statements
from bqml_magic.sql.names import Name, object_name


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
        found = next(((at, text) for at, text in statements(script) if at <= min(starts) < at + len(text)), None)
        first, text, placed = (*found, True) if found else (0, statement.sql(DIALECT), False)
    elif isinstance(statement, exp.Command) and statement.name.upper() in ("CREATE", "DROP"):
        text, first = command_text(statement, script)
        if not _ExternalTableReader(text, True).external():
            return None
        placed = True
    else:
        return None
    reader = _ExternalTableReader(blank(script[:first]) + text if script else text, placed)
    if not reader.external():
        reader.fail("expected CREATE [OR REPLACE] EXTERNAL TABLE")  # e.g. CREATE TEMP EXTERNAL TABLE
    return reader.read()


class _ExternalTableReader(CommandReader):
    def external(self) -> bool:
        self.i = 0
        return self.take("DROP", "EXTERNAL") or (
            self.take("CREATE") and (self.take("OR", "REPLACE") or True) and self.take("EXTERNAL")
        )

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
