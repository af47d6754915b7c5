"""The names that fit where the cursor is: one function per kind of place, over a catalog snapshot.

Names are matched by prefix, case-insensitively as this engine resolves them
(docs/behaviour.md#names), and offered in the order they are listed (the catalog's, a table's
columns in schema order); one that is not a plain identifier comes quoted in backticks unless
the user already opened one.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from typing import NamedTuple

from bqml_magic.catalog.snapshot import CatalogSnapshot, Relation
from bqml_magic.completion.position import NameAtCursor, Place, Reference, name_at_cursor
from bqml_magic.functions import REGISTRY
from bqml_magic.sql.kinds import RelationKind
from bqml_magic.sql.ml import TABLE_FUNCTIONS

_PLAIN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_ML = "ML"


class Suggestion(NamedTuple):
    """A name to insert in place of what is typed, and what it is (shown beside it)."""

    text: str
    kind: str
    function: bool = False
    """An ``ML.*`` name: never quoted."""


def complete_sql(
    sql: str, cursor: int, snapshot: Callable[[], CatalogSnapshot | None], limit: int | None = None
) -> tuple[str, list[Suggestion]]:
    """What the cursor is completing (the text completion replaces) and the names that fit, at most ``limit``.

    ``snapshot`` is only called where a name can go, so a key press in a string costs no catalog.
    """
    at = name_at_cursor(sql, cursor)
    if at is None:
        return "", []
    catalog = snapshot() or CatalogSnapshot((), ())
    wanted = at.partial.lower()
    seen: set[str] = set()
    names = []
    for suggestion in _PLACES[at.place](at, catalog):
        key = suggestion.text.lower()
        if key.startswith(wanted) and key not in seen:
            seen.add(key)
            names.append(suggestion if suggestion.function or at.quoted else _quoted(suggestion))
            if len(names) == limit:
                break
    return at.partial, names


def _datasets(at: NameAtCursor, catalog: CatalogSnapshot) -> Iterator[Suggestion]:
    if not at.qualifier:
        yield from (Suggestion(dataset, "dataset") for dataset in catalog.datasets)


def _relations(at: NameAtCursor, catalog: CatalogSnapshot) -> Iterator[Suggestion]:
    """FROM: the statement's CTEs, datasets and ML.PREDICT; ``dataset.``: its tables, views and object tables."""
    if _is_ml(at.qualifier):
        yield from _functions(TABLE_FUNCTIONS, short=True)
    if not at.qualifier:
        yield from (Suggestion(name, "CTE") for name in at.ctes)
        yield from _datasets(at, catalog)
        yield from _functions(TABLE_FUNCTIONS, short=False)
        return
    yield from _contents(catalog, at.qualifier[-1], lambda r: r.kind is not RelationKind.MODEL)


def _models(at: NameAtCursor, catalog: CatalogSnapshot) -> Iterator[Suggestion]:
    """MODEL: datasets; ``dataset.``: its models."""
    yield from _datasets(at, catalog)
    if at.qualifier:
        yield from _contents(catalog, at.qualifier[-1], lambda r: r.kind is RelationKind.MODEL)


def _expression(at: NameAtCursor, catalog: CatalogSnapshot) -> Iterator[Suggestion]:
    """``ML.``: the scalar functions; ``t.``: t's columns; a bare word: the columns of every table of
    the statement, the features and labels of its models, and the ML.* functions."""
    if _is_ml(at.qualifier):
        yield from _functions(REGISTRY, short=True)
        return
    for reference in at.references:
        if not at.qualifier or _goes_by(reference, at.qualifier):
            yield from _readable(_resolve(reference, catalog))
    if not at.qualifier:
        yield from _functions(REGISTRY, short=False)


_PLACES: dict[Place, Callable[[NameAtCursor, CatalogSnapshot], Iterable[Suggestion]]] = {
    Place.DATASET: _datasets,
    Place.RELATION: _relations,
    Place.MODEL: _models,
    Place.EXPRESSION: _expression,
}


def _contents(catalog: CatalogSnapshot, dataset: str, keep: Callable[[Relation], bool]) -> Iterator[Suggestion]:
    return (Suggestion(r.name, r.kind.value) for r in catalog.contents(dataset) if keep(r))


def _readable(relation: Relation | None) -> Iterator[Suggestion]:
    """What a query can name of a relation: columns; of a model: its features (ML.PREDICT's input
    columns) and labels (its output columns)."""
    if relation is None:
        return
    yield from (Suggestion(name, "feature") for name in relation.features)
    yield from (Suggestion(name, "column") for name in relation.columns)
    yield from (Suggestion(name, "label") for name in relation.labels)


def _resolve(reference: Reference, catalog: CatalogSnapshot) -> Relation | None:
    if len(reference.parts) < 2:
        return None
    relation = catalog.find(reference.parts[-2], reference.parts[-1])
    if relation is None or (relation.kind is RelationKind.MODEL) != reference.model:
        return None
    return relation


def _goes_by(reference: Reference, qualifier: tuple[str, ...]) -> bool:
    """``t.`` names a reference by its alias, or (without one) by its table name or its full name."""
    written = [part.lower() for part in qualifier]
    if reference.alias is not None:
        return written == [reference.alias.lower()]
    parts = [part.lower() for part in reference.parts]
    return written in (parts[-1:], parts[-2:], parts)


def _functions(names: Iterable[str], short: bool) -> Iterator[Suggestion]:
    return (Suggestion(name.removeprefix(_ML + ".") if short else name, "function", function=True) for name in names)


def _is_ml(qualifier: tuple[str, ...]) -> bool:
    return len(qualifier) == 1 and qualifier[0].upper() == _ML


def _quoted(suggestion: Suggestion) -> Suggestion:
    if _PLAIN.fullmatch(suggestion.text):
        return suggestion
    return Suggestion(f"`{suggestion.text}`", suggestion.kind)
