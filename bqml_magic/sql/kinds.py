"""What a statement is and what a name refers to, as enums the engine, the magic and the dry run share."""

from __future__ import annotations

import re
from enum import Enum

from sqlglot import exp

from bqml_magic.errors import SQLError
from bqml_magic.sql.external_table import CreateExternalTable
from bqml_magic.sql.udf import SUPPORTED as FUNCTION_FORM
from bqml_magic.sql.udf import FunctionDefinition
from bqml_magic.sql.vector_index import CreateVectorIndex, DropVectorIndex

QUERY_TYPES = (exp.Select, exp.Union, exp.Intersect, exp.Except, exp.Subquery)


class StatementKind(Enum):
    """The key into the engine's table of handlers; its value is how a cell reports it."""

    QUERY = "QUERY"
    CREATE_SCHEMA = "CREATE SCHEMA"
    DROP_SCHEMA = "DROP SCHEMA"
    CREATE_EXTERNAL_TABLE = "CREATE EXTERNAL TABLE"
    CREATE_MODEL = "CREATE MODEL"
    DROP_MODEL = "DROP MODEL"
    CREATE_TABLE = "CREATE TABLE"
    CREATE_VIEW = "CREATE VIEW"
    DROP_TABLE = "DROP TABLE"
    DROP_VIEW = "DROP VIEW"
    CREATE_FUNCTION = "CREATE FUNCTION"
    DROP_FUNCTION = "DROP FUNCTION"
    CREATE_VECTOR_INDEX = "CREATE VECTOR INDEX"
    DROP_VECTOR_INDEX = "DROP VECTOR INDEX"
    DML = "DML"
    CALL = "CALL"


class RelationKind(Enum):
    """What a ``dataset.name`` is: names are unique across these within a dataset."""

    OBJECT_TABLE = "object table"
    TABLE = "table"
    VIEW = "view"
    MODEL = "model"


READ_COMMANDS = (CreateExternalTable, CreateVectorIndex, DropVectorIndex)
"""Statements sqlglot leaves as generic Commands, read by our own readers."""
ReadCommand = CreateExternalTable | CreateVectorIndex | DropVectorIndex
_READ_KINDS = {
    CreateExternalTable: StatementKind.CREATE_EXTERNAL_TABLE,
    CreateVectorIndex: StatementKind.CREATE_VECTOR_INDEX,
    DropVectorIndex: StatementKind.DROP_VECTOR_INDEX,
}


def statement_kind(statement: exp.Expression | ReadCommand) -> StatementKind:
    if isinstance(statement, READ_COMMANDS):
        return _READ_KINDS[type(statement)]
    if isinstance(statement, QUERY_TYPES):
        return StatementKind.QUERY
    if isinstance(statement, (exp.Create, exp.Drop)):
        kind = (statement.args.get("kind") or "").upper()
        verb = "CREATE" if isinstance(statement, exp.Create) else "DROP"
        kind = "SCHEMA" if kind == "DATABASE" else kind
        if kind in ("SCHEMA", "MODEL", "TABLE", "VIEW", "FUNCTION"):
            if kind == "FUNCTION" and isinstance(statement, exp.Create):
                FunctionDefinition.of(statement)  # a form this engine cannot run fails with the script
            return StatementKind[f"{verb}_{kind}"]
    if isinstance(statement, (exp.Insert, exp.Delete, exp.Update, exp.Merge)):
        return StatementKind.DML
    if isinstance(statement, exp.Command) and _unread_function(statement):
        raise SQLError(f"Syntax error: this CREATE FUNCTION could not be read; {FUNCTION_FORM}")
    if isinstance(statement, exp.Command) and statement.name.upper() == "CALL":
        if not statement.text("expression").strip():
            raise SQLError("Syntax error: Unexpected end of statement: CALL needs a procedure")
        return StatementKind.CALL
    raise SQLError(f"Statement not supported here: {_what(statement)}; {SUPPORTED}")


SUPPORTED = (
    "this engine runs queries, CREATE and DROP of SCHEMA, TABLE, VIEW, MODEL, EXTERNAL TABLE, (SQL) FUNCTION "
    "and VECTOR INDEX, "
    "INSERT, UPDATE, DELETE, MERGE and CALL BQ.REFRESH_EXTERNAL_METADATA_CACHE"
)
_FUNCTION = re.compile(r"\s*(?:OR\s+REPLACE\s+)?(?:TEMP\s+|TEMPORARY\s+)?FUNCTION\b", re.IGNORECASE)
_WORDS = {"transaction": "BEGIN TRANSACTION", "altertable": "ALTER TABLE", "endstatement": "END"}


def _unread_function(statement: exp.Command) -> bool:
    """A CREATE FUNCTION sqlglot gave up on: it falls back to a generic Command."""
    return statement.name.upper() == "CREATE" and bool(_FUNCTION.match(statement.text("expression")))


def _what(statement: exp.Expression) -> str:
    """The statement's kind in SQL words (``SET``, ``CREATE FUNCTION``), never its Python class."""
    if isinstance(statement, exp.Command):
        return statement.name.upper()
    if isinstance(statement, (exp.Create, exp.Drop)):
        verb = "CREATE" if isinstance(statement, exp.Create) else "DROP"
        return f"{verb} {(statement.args.get('kind') or '').upper()}".strip()
    return _WORDS.get(statement.key, statement.key.upper())
