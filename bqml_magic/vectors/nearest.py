"""The exact ``top_k`` nearest base rows of each query, over base batches that stream past.

Each batch is ranked against all queries with one matrix product (``distance.ranking``); the
best ``top_k`` of each query so far are kept, with the base rows they point at (a pool of at
most queries x top_k rows, compacted as it grows): memory follows the batch and the answer,
never the base table. Ties go to the earlier base row, so the answer is deterministic.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from bqml_magic.vectors.arrays import matrix
from bqml_magic.vectors.distance import DistanceType, exact, ranking

RANKING_BYTES = 2**26
"""Bytes of one block of the (queries x batch) ranking matrix: queries are ranked in blocks."""


@dataclass(frozen=True)
class Matches:
    """Each query's matches, nearest first: ``query`` (its row), ``base`` (rows of ``rows``)
    and ``distance`` are aligned; queries come in order."""

    query: np.ndarray
    base: np.ndarray
    distance: np.ndarray
    rows: pa.Table


def ordered(query: np.ndarray, base: np.ndarray, distance: np.ndarray, rows: pa.Table) -> Matches:
    """Matches sorted by query, then distance (NaN last), then base row (``rows`` are in base order)."""
    order = np.lexsort((base, distance, query))
    return Matches(query[order], base[order], distance[order], rows)


class Nearest:
    """Brute force, exact: feed base batches with ``add``, read the answer with ``matches``."""

    def __init__(self, queries: np.ndarray, top_k: int, kind: DistanceType, schema: pa.Schema):
        self.queries, self.top_k, self.kind = queries, top_k, kind
        self.scores = np.empty((len(queries), 0))
        self.rows = np.empty((len(queries), 0), dtype=np.int64)
        """Global base row numbers of the best so far, per query."""
        self.pool = schema.empty_table()
        self.pool_rows = np.empty(0, dtype=np.int64)
        """The base rows the answer may point at, and their global numbers (ascending)."""
        self.seen = 0

    def add(self, batch: pa.RecordBatch, vectors: np.ndarray) -> None:
        """One batch of base rows and their vectors (a matrix, as ``arrays.matrix`` gives it)."""
        numbers = np.arange(self.seen, self.seen + len(vectors))
        self.seen += len(vectors)
        if not len(vectors) or not len(self.queries):
            return
        step = max(1, RANKING_BYTES // (8 * len(vectors)))
        scores = np.vstack(
            [ranking(self.queries[i : i + step], vectors, self.kind) for i in range(0, len(self.queries), step)]
        )
        scores = np.hstack([self.scores, scores])
        rows = np.hstack([self.rows, np.broadcast_to(numbers, (len(self.queries), len(numbers)))])
        best = np.lexsort((rows, scores), axis=-1)[:, : self.top_k]
        self.scores = np.take_along_axis(scores, best, axis=1)
        self.rows = np.take_along_axis(rows, best, axis=1)
        new = np.unique(self.rows[self.rows >= numbers[0]])
        if len(new):
            self.pool = pa.concat_tables([self.pool, pa.Table.from_batches([batch.take(new - numbers[0])])])
            self.pool_rows = np.concatenate([self.pool_rows, new])
        if len(self.pool_rows) > 2 * self.rows.size:
            self._compact()

    def matches(self, vector_column: str, width: int) -> Matches:
        """The answer, each distance computed exactly from its pair (not from the ranking)."""
        self._compact()
        query = np.repeat(np.arange(len(self.queries)), self.rows.shape[1])
        base = np.searchsorted(self.pool_rows, self.rows.reshape(-1))
        if not len(base):
            return ordered(query, base, np.empty(0), self.pool)
        vectors = matrix(self.pool.column(vector_column), "the base", 0, width)
        return ordered(query, base, exact(self.queries[query], vectors[base], self.kind), self.pool)

    def _compact(self) -> None:
        kept = np.unique(self.rows)
        self.pool = self.pool.take(np.searchsorted(self.pool_rows, kept))
        self.pool_rows = kept
