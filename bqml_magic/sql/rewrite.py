"""The state of one translation that the passes share: settings in, findings out."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from sqlglot import exp

from bqml_magic.sql.kinds import RelationKind
from bqml_magic.sql.lift import LiftPlan
from bqml_magic.sql.names import Name, Position


class Resolver(Protocol):
    """What a table name refers to; raises NotFoundError (with the names there are) otherwise."""

    def relation_kind(self, name: Name) -> RelationKind: ...


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
    predictions: list[PredictCall] = field(default_factory=list)
    object_tables: dict[str, Name] = field(default_factory=dict)
    """Object tables read, by the alias (or name) the statement reads them as."""
    lifted: LiftPlan | None = None
