"""What a cell's text stands for, as in ``%%bigquery``: SQL, ``$name`` (a variable holding the SQL),
``{name}`` filled in from the notebook (``--pyformat``), or a bare table id (all its rows).

The rules are bigquery-magics' own (``_validate_and_resolve_query`` and ``_make_bq_query`` in
``bigquery_magics/bigquery.py``), so a notebook written for ``%%bigquery`` means the same here:

- ``$`` and an identifier, alone in the cell, names a str (or bytes) variable holding the SQL; ``$``
  followed by anything else is left as it is.
- ``--pyformat`` then fills ``{name}`` with a str or number from the notebook, unescaped (for what
  query parameters cannot be, such as a table name); ``{{`` and ``}}`` are literal braces.
- A text without whitespace is a table id, ``dataset.table``, ``project.dataset.table`` or backticked;
  the cell lists its rows (``--max_results`` applies), built as a sqlglot tree, never as a string.

Plain SQL comes back exactly as written, so error positions keep the cell's own lines and columns.
"""

from __future__ import annotations

import numbers
import re
import string
from collections.abc import Mapping
from typing import Any

from IPython.core.error import UsageError

from bqml_magic.errors import SQLError

BRACES = "write {{ and }} for a literal brace"


def cell_sql(text: str, namespace: Mapping[str, Any], *, pyformat: bool = False) -> str:
    """The SQL to run for a cell's text, read with the notebook's variables."""
    stripped = text.strip()
    if stripped.startswith("$") and (stripped == "$" or stripped[1:].isidentifier()):
        text = stripped = _variable(stripped[1:], namespace).strip()
    if pyformat:
        text = _pyformat(text, namespace)
        stripped = text.strip()
    if stripped and not re.search(r"\s", stripped):
        return _table_rows(stripped)
    return text


def _variable(name: str, namespace: Mapping[str, Any]) -> str:
    if not name:
        raise UsageError("The cell is a lone $: write $name, naming the variable that holds the query")
    if name not in namespace:
        raise UsageError(f"${name}: there is no variable {name!r} holding the query")
    value = namespace[name]
    if isinstance(value, bytes):
        return value.decode()
    if not isinstance(value, str):
        raise UsageError(f"${name} holds a {type(value).__name__}; the query must be a str")
    return value


def _pyformat(sql: str, namespace: Mapping[str, Any]) -> str:
    """Python's ``str.format`` over the notebook's str and number variables, as ``--pyformat`` does."""
    try:
        fields = [field for _, field, _, _ in string.Formatter().parse(sql) if field is not None]
        values = {field: _format_value(field, namespace) for field in fields}
        return sql.format_map(values)
    except ValueError as exc:  # a lone brace, a bad format spec
        raise UsageError(f"--pyformat: {exc} ({BRACES})") from None


def _format_value(field: str, namespace: Mapping[str, Any]) -> str | numbers.Real:
    if field not in namespace:
        raise UsageError(f"--pyformat: there is no variable {field!r} for {{{field}}} ({BRACES})")
    value = namespace[field]
    if not isinstance(value, (str, numbers.Real)):
        raise UsageError(f"--pyformat: {field} is a {type(value).__name__}; only str, int and float go into SQL")
    return value


def _table_rows(table_id: str) -> str:
    """``SELECT * FROM`` the table: what ``%%bigquery`` lists for a table id."""
    from sqlglot import exp

    from bqml_magic.sql.names import name_from_text

    try:
        name = name_from_text(table_id)
    except SQLError as exc:
        raise SQLError(f"A cell without spaces is a table id, as in %%bigquery: {exc.message}") from exc
    return exp.select("*").from_(name.to_table()).sql("bigquery")
