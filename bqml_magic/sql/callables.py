"""What a user's SQL may call: BigQuery's table functions and functions, never DuckDB's own.

The SQL runs in DuckDB, whose functions read files (``read_text``, ``read_csv``, ``glob``), run SQL
text (``query``), show and write its state (``duckdb_settings()``, ``current_setting``,
``write_log``) and reach ours (``bqml_read``, the UDFs behind ``ML.*`` and the data pseudocolumn).
BigQuery has none of them, so a statement naming one is refused when it is parsed, before any
translation, in BigQuery's words (``Table-valued function not found: read_text [at 1:15]``),
whatever DuckDB's own settings (the engine also switches its file access off).

In ``FROM`` only BigQuery's table-valued forms pass: ``UNNEST`` and ``ML.PREDICT`` (their own
nodes in sqlglot's tree); any other call there is a table function BigQuery does not have here.
Elsewhere DuckDB's file and system functions, listed from ``duckdb_functions()`` (a test checks
the list against the installed DuckDB), are "Function not found"; other unknown names reach DuckDB,
whose "does not exist" is retold the same way (``duckdb_errors.py``).
"""

from __future__ import annotations

from sqlglot import exp
from sqlglot.tokens import TokenType

from bqml_magic.errors import SQLError
from bqml_magic.sql.script import Script

DENIED_PREFIXES = (
    "read_", "parquet_", "duckdb_", "pragma_", "sniff_", "json_execute", "bqml_", "__", "pg_", "icu_", "test_",
    "enable_", "disable_", "force_", "register_", "deregister_", "destroy_", "create_", "add_", "remove_",
    "truncate_", "show_", "python_", "pandas_", "arrow_", "sqlite_",
)  # fmt: skip
"""DuckDB's families of file, catalog, extension and system functions; ``bqml_`` and ``__bqml`` are ours."""

DENIED = frozenset({
    "glob", "query", "query_table", "checkpoint", "collations", "copy_database", "database_list", "database_size",
    "extension_versions", "functions", "import_database", "metadata_info", "platform", "repeat_row", "seq_scan",
    "show", "storage_info", "summary", "table_info", "user_agent", "verify_parallelism", "version",
    "histogram_values", "json_each", "json_tree", "which_secret", "getenv", "current_setting", "getvariable",
    "set_variable", "current_query", "current_query_id", "current_connection_id", "current_transaction_id",
    "txid_current", "current_database", "current_catalog", "current_schema", "current_schemas", "current_role",
    "write_log", "has_database_privilege", "has_schema_privilege", "parse_duckdb_log_message", "json_serialize_sql",
    "json_deserialize_sql", "load_aws_credentials",
})  # fmt: skip
"""DuckDB's table functions and system scalars outside those families (DuckDB 2.0's ``duckdb_functions()``)."""

SHARED_NAMES = frozenset({"unnest", "range", "repeat", "generate_series", "histogram"})
"""DuckDB table functions whose name is also a BigQuery (or harmless) scalar function: allowed as scalars."""

_TABLE_KEYWORDS = {TokenType.FROM, TokenType.JOIN}
_CLAUSES = {
    TokenType.SELECT, TokenType.FROM, TokenType.WHERE, TokenType.GROUP_BY, TokenType.ORDER_BY, TokenType.HAVING,
    TokenType.QUALIFY, TokenType.WINDOW, TokenType.LIMIT, TokenType.JOIN, TokenType.ON, TokenType.USING,
}  # fmt: skip


_TABLE_CALLS = (exp.Predict, exp.VectorSearch)


def is_denied(name: str) -> bool:
    """A DuckDB file or system function, or one of ours: no BigQuery user can call it."""
    bare = name.rsplit(".", 1)[-1].strip("`").lower()
    return bare not in SHARED_NAMES and (bare in DENIED or bare.startswith(DENIED_PREFIXES))


def check(statement: exp.Expr, script: Script) -> None:
    """Refuse table functions other than UNNEST / ML.PREDICT / VECTOR_SEARCH, and DuckDB's file and
    system functions."""
    for node in statement.walk():
        if isinstance(node, exp.Table) and isinstance(node.this, exp.Func) and not isinstance(node.this, _TABLE_CALLS):
            qualifier = ".".join(p.name for p in node.parts[:-1] if isinstance(p, exp.Identifier))
            name = written_name(node.this, script)
            raise _not_found("Table-valued function", f"{qualifier}.{name}" if qualifier else name, node.this, script)
        if isinstance(node, exp.Func) and not isinstance(node, exp.Predict) and not _qualified(node):
            name = written_name(node, script)
            if is_denied(name):
                raise _not_found("Function", name, node, script)


def _qualified(node: exp.Func) -> bool:
    """``dataset.f(...)`` / ```dataset.f`(...)``: a user function's call, resolved through the catalog
    (``udf.py``), which finds none in DuckDB's own schemas."""
    return isinstance(node, exp.Anonymous) and (
        "." in node.name or (isinstance(node.parent, exp.Dot) and node.arg_key == "expression")
    )


def written_name(node: exp.Func, script: Script | None = None) -> str:
    """A function's name as the user wrote it (sqlglot's node may be named otherwise: SUBSTR -> Substring)."""
    meta = node.meta
    if script is not None and "start" in meta and "end" in meta:
        return script.sql[meta["start"] : meta["end"] + 1]
    if isinstance(node, exp.Anonymous):
        return node.name
    return str(meta.get("bigquery_name") or node.sql_name())


def is_table_context(script: Script, offset: int) -> bool:
    """Whether the call starting at ``offset`` stands where a table goes (after FROM, JOIN, or a comma of FROM)."""
    tokens = script.tokens
    i = script.by_start.get(offset)
    if i is None or i == 0:
        return False
    if tokens[i - 1].token_type in _TABLE_KEYWORDS:
        return True
    if tokens[i - 1].token_type != TokenType.COMMA:
        return False
    depth = 0
    for k in range(i - 1, -1, -1):
        kind = tokens[k].token_type
        depth += (kind == TokenType.R_PAREN) - (kind == TokenType.L_PAREN)
        if depth < 0:
            return False
        if depth == 0 and kind in _CLAUSES:
            return kind == TokenType.FROM
    return False


def _not_found(what: str, name: str, node: exp.Expr, script: Script) -> SQLError:
    start = node.meta.get("start")
    return script.error(f"{what} not found: {name}", start if isinstance(start, int) else None)
