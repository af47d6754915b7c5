"""The state of one translation that the passes share: settings in, findings out."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from sqlglot import exp

from bqml_magic.sql.kinds import RelationKind
from bqml_magic.sql.lift import LiftPlan
from bqml_magic.sql.metadata_names import MetadataRef
from bqml_magic.sql.names import Name, Position
from bqml_magic.sql.udf import Routine
from bqml_magic.sql.vector_search import SearchCall


class Resolver(Protocol):
    """What a table name refers to; raises NotFoundError (with the names there are) otherwise."""

    def relation_kind(self, name: Name) -> RelationKind: ...

    def object_rows(self, name: Name, source: str) -> tuple[exp.Expr, str]:
        """An object table's query reading its listed rows from ``source``, and the DuckDB query
        that lists them (what the executor streams into ``source``)."""
        ...

    def view_query(self, name: Name) -> exp.Expression | None:
        """A view's stored (translated) query, to read in place of its name; None to read the name."""
        ...

    def information_schema(self, ref: MetadataRef) -> exp.Expression:
        """An INFORMATION_SCHEMA view as the table DuckDB reads; NotFoundError for a dataset there is not."""
        ...

    def function(self, name: Name | str) -> Routine | None:
        """A user-defined function: ``dataset.f`` from the catalog (NotFoundError if none); a bare ``f``
        among the script's temporary functions, None when it is none of them (a built-in, DuckDB's)."""
        ...


@dataclass(frozen=True)
class PredictCall:
    """An ML.PREDICT taken out of a statement: DuckDB reads its rows from ``placeholder``."""

    placeholder: str
    model: Name
    input: exp.Expression
    """The input query, in BigQuery's SQL (the statement's CTEs it reads attached)."""
    where: Position
    """``line`` / ``column`` of the model's name, for errors."""


@dataclass
class Rewrite:
    """A translation under way: its settings and what the passes found."""

    resolver: Resolver
    lift: bool = False
    local_names: set[str] = field(default_factory=set)
    """Unqualified names that are not catalog tables (CTEs are found by the passes themselves)."""
    executing: bool = False
    """The statement runs now (it is not a view's stored SQL): views are read through their
    queries and object tables may become streams."""
    view_depth: int = 0
    predictions: list[PredictCall] = field(default_factory=list)
    searches: list[SearchCall] = field(default_factory=list)
    object_tables: dict[str, Name] = field(default_factory=dict)
    """Object tables read, by the alias (or name) the statement reads them as."""
    lifted: LiftPlan | None = None
    object_streams: dict[str, str] = field(default_factory=dict)
    """Placeholder -> the DuckDB query whose rows to stream into it in small batches."""
