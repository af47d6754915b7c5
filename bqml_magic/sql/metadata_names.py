"""``INFORMATION_SCHEMA`` in a statement: which view a name means, over which datasets, and that
nothing may change one (docs/behaviour.md#information-schema).

BigQuery scopes a view by what comes before ``INFORMATION_SCHEMA``: a dataset
(``my_dataset.INFORMATION_SCHEMA.TABLES``) or a region (```region-us`.INFORMATION_SCHEMA.TABLES``,
every dataset there), either after an optional project [doc]. ``SCHEMATA`` is a project's list:
its only qualifiers are a project and a region, and without a region it is the US one [doc].
sqlglot reads ``d.INFORMATION_SCHEMA.TABLES`` as a table ``INFORMATION_SCHEMA.TABLES`` (one
quoted identifier) in the schema ``d``, and keeps the hyphen of an unquoted ``region-us``.
Here view names are matched in any case; the local project accepts any project name [ours].
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from enum import Enum

import sqlglot
from sqlglot import exp
from sqlglot.tokens import TokenType

from bqml_magic.errors import NotFoundError, SQLError
from bqml_magic.sql.external_table import CreateExternalTable
from bqml_magic.sql.names import at
from bqml_magic.sql.vector_index import CreateVectorIndex, DropVectorIndex

INFORMATION_SCHEMA = "INFORMATION_SCHEMA"
REGION_PREFIX = "region-"
DEFAULT_REGION = "us"
"""``INFORMATION_SCHEMA.SCHEMATA`` without a region lists the US region's datasets [doc]."""
SOURCE = "bqml_source"
"""``meta`` key of a parsed CREATE statement: its text as written (a view's definition comes from it)."""


class MetadataView(Enum):
    """The INFORMATION_SCHEMA views this engine has; the value is the name BigQuery gives each."""

    TABLES = "TABLES"
    COLUMNS = "COLUMNS"
    TABLE_OPTIONS = "TABLE_OPTIONS"
    VIEWS = "VIEWS"
    SCHEMATA = "SCHEMATA"
    VECTOR_INDEXES = "VECTOR_INDEXES"

    @property
    def dataset_scoped(self) -> bool:
        """Qualified by a dataset or a region (all but SCHEMATA, which lists the datasets themselves)."""
        return self is not MetadataView.SCHEMATA


@dataclass(frozen=True)
class MetadataRef:
    """One INFORMATION_SCHEMA view as a statement names it: ``dataset`` or ``region`` (lower case,
    ``us`` for ``region-us``) says which datasets it covers; neither is ever both."""

    view: MetadataView
    dataset: str | None = None
    region: str | None = None


def metadata_ref(table: exp.Table) -> MetadataRef | None:
    """The INFORMATION_SCHEMA view a table reference names, None for any other table; a malformed
    one (no view, unknown view, missing or extra qualifiers) is an error at the name."""
    parts = _parts(table)
    upper = [part.upper() for part in parts]
    if INFORMATION_SCHEMA not in upper:
        return None
    index = upper.index(INFORMATION_SCHEMA)
    written = ".".join(parts)
    if index != len(parts) - 2:
        raise SQLError(f"Invalid INFORMATION_SCHEMA name {written}: expected {_FORMS}", **at(table))
    view = _view(parts[-1], table)
    qualifiers = parts[:index]
    region = qualifiers[-1][len(REGION_PREFIX) :].lower() if qualifiers and _is_region(qualifiers[-1]) else None
    if len(qualifiers) > 2 or any(_is_region(q) for q in qualifiers[:-1]):
        raise SQLError(f"Invalid INFORMATION_SCHEMA name {written}: expected {_FORMS}", **at(table))
    if region is not None:
        return MetadataRef(view, region=region)
    if not view.dataset_scoped:
        if len(qualifiers) == 2:  # project.dataset: SCHEMATA has no dataset scope
            raise SQLError(
                f"INFORMATION_SCHEMA.{view.value} lists a project's datasets: qualify it with a region "
                f"(`region-us`.INFORMATION_SCHEMA.{view.value}) or a project, not a dataset",
                **at(table),
            )
        return MetadataRef(view, region=DEFAULT_REGION)  # [project.]INFORMATION_SCHEMA.SCHEMATA
    if not qualifiers:
        raise SQLError(
            f"INFORMATION_SCHEMA.{view.value} must be qualified with a dataset or a region "
            f"(e.g. my_dataset.INFORMATION_SCHEMA.{view.value} or `region-us`.INFORMATION_SCHEMA.{view.value})",
            **at(table),
        )
    return MetadataRef(view, dataset=qualifiers[-1])


_FORMS = "[project.](dataset | `region-REGION`).INFORMATION_SCHEMA.VIEW"


def _parts(table: exp.Table) -> list[str]:
    """The name's parts, backticked ones split at their dots (```region-us.INFORMATION_SCHEMA.TABLES```)."""
    return [piece for part in table.parts for piece in part.name.split(".")]


def _is_region(qualifier: str) -> bool:
    return qualifier.lower().startswith(REGION_PREFIX) and len(qualifier) > len(REGION_PREFIX)


def _view(name: str, table: exp.Table) -> MetadataView:
    try:
        return MetadataView(name.upper())
    except ValueError:
        known = [view.value for view in MetadataView]
        close = difflib.get_close_matches(name.upper(), known, n=1)
        hint = f"; did you mean {close[0]}?" if close else ""
        raise NotFoundError(
            f"Not found: INFORMATION_SCHEMA view {name}{hint} (supported here: {', '.join(sorted(known))})",
            **at(table),
        ) from None


def refuse_writes(statement: exp.Expr | CreateExternalTable | CreateVectorIndex | DropVectorIndex) -> None:
    """INFORMATION_SCHEMA is read-only: a statement that would create, change or drop one of its
    views is refused when the script is parsed. Reading one anywhere (an INSERT's query) is fine."""
    for target in _targets(statement):
        parts = _parts(target) if isinstance(target, exp.Table) else []
        if INFORMATION_SCHEMA in (part.upper() for part in parts):
            raise SQLError(f"INFORMATION_SCHEMA is read-only: {'.'.join(parts)} cannot be changed", **at(target))


def _targets(statement: exp.Expr | CreateExternalTable | CreateVectorIndex | DropVectorIndex) -> list[exp.Expr]:
    """The tables a statement writes: DML's target, what CREATE makes and DROP drops."""
    if isinstance(statement, CreateExternalTable):
        return [statement.table]
    if isinstance(statement, (exp.Insert, exp.Update, exp.Delete, exp.Merge, exp.Create, exp.Drop)):
        target = statement.this
        written = [target.this if isinstance(target, exp.Schema) else target]
        return written + list(statement.args.get("tables") or [])
    return []


def view_definition(create: exp.Create) -> str:
    """A CREATE VIEW's query as the user wrote it (what INFORMATION_SCHEMA.VIEWS shows): the text after
    its first top-level ``AS``; sqlglot's rendering of the query when the text is not known."""
    text = create.meta.get(SOURCE)
    query = create.expression
    if not text:
        return query.sql("bigquery") if query is not None else ""
    depth = 0
    for token in sqlglot.tokenize(text, read="bigquery"):
        if token.token_type in (TokenType.L_PAREN, TokenType.L_BRACKET):
            depth += 1
        elif token.token_type in (TokenType.R_PAREN, TokenType.R_BRACKET):
            depth -= 1
        elif token.token_type == TokenType.ALIAS and depth == 0:
            return text[token.end + 1 :].strip()
    return query.sql("bigquery") if query is not None else text
