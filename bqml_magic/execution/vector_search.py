"""VECTOR_SEARCH as a table DuckDB reads: the query rows searched against the base rows.

The query table is read whole (its rows are the searches asked for); the base streams past
an exact ``Nearest`` in batches, unless an index of ``TABLE d.t`` with the asked distance
type serves the search (``use_brute_force`` says not to). Results are laid out as BigQuery
returns them: ``query`` (the query row as a STRUCT), ``base`` (the base row as a STRUCT) and
``distance`` [doc: search_functions#vector_search], each query's matches nearest first.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from bqml_magic.catalog.vector_indexes import VectorIndex
from bqml_magic.errors import BQMLError, Cancelled, SQLError
from bqml_magic.execution.services import Services
from bqml_magic.progress import Progress
from bqml_magic.sql.vector_search import SearchCall
from bqml_magic.vectors.ann import search_breadth
from bqml_magic.vectors.arrays import is_vector_type, matrix
from bqml_magic.vectors.distance import DistanceType
from bqml_magic.vectors.nearest import Matches, Nearest


def usable_index(services: Services, call: SearchCall, progress: Progress) -> VectorIndex | None:
    """The index to search with, current (rebuilt first if its table changed), or None."""
    if call.use_brute_force or call.base_table is None:
        return None
    found = services.vector_indexes.usable(call.base_table, call.column, call.distance_type)
    return services.vector_indexes.current(found, progress) if found is not None else None


@dataclass(frozen=True)
class SearchPlan:
    """One VECTOR_SEARCH of a statement: its columns checked and its output laid out before any
    row is read."""

    call: SearchCall
    index: VectorIndex | None
    kind: DistanceType
    query_column: str
    column: str
    schema: pa.Schema

    @classmethod
    def of(cls, call: SearchCall, index: VectorIndex | None, query: pa.Schema, base: pa.Schema) -> SearchPlan:
        """An unknown column, or one that is not an ARRAY of numbers, is an error here."""
        kind = call.distance_type or (index.distance if index is not None else DistanceType.EUCLIDEAN)
        schema = pa.schema(
            [
                pa.field("query", pa.struct(list(query))),
                pa.field("base", pa.struct(list(base))),
                pa.field("distance", pa.float64()),
            ]
        )
        query_column = _vector_column(query, call.query_column, "query", call)
        return cls(call, index, kind, query_column, _vector_column(base, call.column, "base", call), schema)

    def results(self, services: Services, queries: pa.Table, base: Iterable[pa.RecordBatch]) -> pa.Table:
        """Every query row's matches among the base rows (``base`` is not read with an index)."""
        call = self.call
        try:
            vectors = matrix(
                queries.column(self.query_column), f"column '{self.query_column}' of the query table", 0, None
            )
        except BQMLError as exc:
            raise exc.add_context(**call.query_column_at) from None
        matches = self._indexed(services, vectors) if self.index is not None else self._exact(services, vectors, base)
        return pa.Table.from_arrays(
            [
                _structs(queries, matches.query, self.schema.field("query").type),
                _structs(matches.rows, matches.base, self.schema.field("base").type),
                pa.array(matches.distance, pa.float64()),
            ],
            schema=self.schema,
        )

    def _indexed(self, services: Services, queries: np.ndarray) -> Matches:
        index, call = self.index, self.call
        assert index is not None
        width = queries.shape[1] if len(queries) else None
        if None not in (width, index.width) and width != index.width:
            raise SQLError(
                f"VECTOR_SEARCH: the query vectors have {width} values, the vectors of "
                f"{index.table}.{index.column} {index.width}: they must have the same length",
                **call.query_column_at,
            )
        breadth = search_breadth(call.fraction_lists_to_search, index.rows, call.top_k)
        return services.vector_indexes.search(index, queries, call.top_k, breadth)

    def _exact(self, services: Services, queries: np.ndarray, base: Iterable[pa.RecordBatch]) -> Matches:
        """Brute force: every base batch ranked against every query as it streams past."""
        width = queries.shape[1] if len(queries) else None
        nearest = Nearest(queries, self.call.top_k, self.kind, pa.schema(list(self.schema.field("base").type)))
        what = f"column '{self.column}' of the base table"
        for batch in base:
            if services.cancel.is_set():
                raise Cancelled("Query cancelled")
            try:
                vectors = matrix(batch.column(self.column), what, nearest.seen, width)
            except BQMLError as exc:
                raise exc.add_context(**self.call.column_at) from None
            width = vectors.shape[1]
            nearest.add(batch, vectors)
        return nearest.matches(self.column, width or 0)


def _vector_column(schema: pa.Schema, column: str, side: str, call: SearchCall) -> str:
    """The column searched on one side, by name (case-insensitively), refused unless it holds
    arrays of numbers."""
    where = call.column_at if side == "base" else call.query_column_at
    found = next((field for field in schema if field.name.lower() == column.lower()), None)
    if found is None:
        raise SQLError(
            f"VECTOR_SEARCH: the {side} table has no column {column!r}; its columns: {', '.join(schema.names)}", **where
        )
    if not is_vector_type(found.type):
        raise SQLError(
            f"VECTOR_SEARCH: column {found.name!r} of the {side} table must be an ARRAY of numbers (FLOAT64, INT64)",
            **where,
        )
    return found.name


def _structs(table: pa.Table, rows: np.ndarray, struct: pa.StructType) -> pa.StructArray:
    """Rows of ``table`` as STRUCTs, in the order ``rows`` gives."""
    taken = table.take(pa.array(rows, pa.int64()))
    columns = [pa.concat_arrays(c.chunks) if c.num_chunks else pa.array([], c.type) for c in taken.columns]
    return pa.StructArray.from_arrays(columns, fields=list(struct))
