"""What kind of statement this is: the key into the engine's table of handlers."""
from __future__ import annotations

from sqlglot import exp

from bqml_magic.errors import SQLError
from bqml_magic.sql.parse import CreateExternalTable

QUERY_TYPES = (exp.Select, exp.Union, exp.Intersect, exp.Except, exp.Subquery)


def statement_kind(statement: exp.Expression | CreateExternalTable) -> str:
    if isinstance(statement, CreateExternalTable):
        return "CREATE_EXTERNAL_TABLE"
    if isinstance(statement, QUERY_TYPES):
        return "QUERY"
    if isinstance(statement, (exp.Create, exp.Drop)):
        kind = (statement.args.get("kind") or "").upper()
        verb = "CREATE" if isinstance(statement, exp.Create) else "DROP"
        if kind in ("SCHEMA", "DATABASE"):
            return f"{verb}_SCHEMA"
        if kind in ("MODEL", "TABLE", "VIEW"):
            return f"{verb}_{kind}"
    if isinstance(statement, (exp.Insert, exp.Delete, exp.Update, exp.Merge)):
        return "DML"
    if isinstance(statement, exp.Command) and statement.name.upper() == "CALL":
        return "CALL"
    text = statement.sql("bigquery")[:60]
    raise SQLError(f"Statement not supported here: {text}...")
