"""The approximate nearest-neighbour index: an HNSW graph built and searched by faiss.

Chosen by measurement (100,000 random 1,024-wide vectors, 100 queries, one core): faiss's
HNSW (32 edges a node) built in 171 s and found 94.4% of the true 10 nearest at 112
queries/s (ef 1,024) and 97.9% at 69 (ef 2,048); usearch (16 edges) took 194 s and found
85.4% at 79 and 92.1% at 47; hnswlib was behind faiss on 5,000 vectors. Random vectors are
the hardest case for any graph: real embeddings cluster, and need far fewer candidates.

BigQuery's IVF and TREE_AH indexes search a fraction of their lists
(``fraction_lists_to_search``); a graph visits ``ef`` candidates instead, which
``search_breadth`` derives from that fraction of the rows (docs/behaviour.md#vector-search).
Distances found here are float32 and approximate: the caller recomputes them exactly.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from bqml_magic.vectors.distance import DistanceType

CONNECTIVITY = 32
"""Graph edges per node (HNSW's M)."""
BUILD_BREADTH = 128
"""Candidates kept while inserting (HNSW's efConstruction)."""
DEFAULT_BREADTH = 2048
"""Candidates visited when the query names no fraction (README#benchmarks has its recall)."""


def search_breadth(fraction: float | None, rows: int, top_k: int) -> int:
    """Candidates to visit: ``fraction`` of the rows (BigQuery's fraction of lists), else the
    default; never fewer than ``top_k``."""
    wanted = DEFAULT_BREADTH if fraction is None else math.ceil(fraction * rows)
    return max(top_k, wanted)


class Graph:
    """An HNSW graph over float32 copies of the vectors, keyed by int64 row keys. COSINE is
    the inner product of unit vectors (a zero vector stays zero)."""

    def __init__(self, index: Any, kind: DistanceType):
        self._index = index
        self.kind = kind

    @classmethod
    def empty(cls, kind: DistanceType, width: int) -> Graph:
        import faiss

        metric = faiss.METRIC_L2 if kind is DistanceType.EUCLIDEAN else faiss.METRIC_INNER_PRODUCT
        graph = faiss.IndexHNSWFlat(width, CONNECTIVITY, metric)
        graph.hnsw.efConstruction = BUILD_BREADTH
        return cls(faiss.IndexIDMap2(graph), kind)

    @classmethod
    def from_bytes(cls, data: bytes, kind: DistanceType) -> Graph:
        import faiss

        return cls(faiss.deserialize_index(np.frombuffer(data, dtype=np.uint8)), kind)

    def to_bytes(self) -> bytes:
        import faiss

        return faiss.serialize_index(self._index).tobytes()

    def __len__(self) -> int:
        return int(self._index.ntotal)

    def add(self, keys: np.ndarray, vectors: np.ndarray) -> None:
        self._index.add_with_ids(self._prepared(vectors), keys.astype(np.int64))

    def search(self, queries: np.ndarray, count: int, breadth: int) -> np.ndarray:
        """Each query's keys of its ``count`` nearest, -1 where the graph has fewer rows."""
        import faiss

        params = faiss.SearchParametersHNSW(efSearch=breadth)  # type: ignore[attr-defined]  # SWIG-made
        _, keys = self._index.search(self._prepared(queries), count, params=params)
        return keys

    def _prepared(self, vectors: np.ndarray) -> np.ndarray:
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if self.kind is DistanceType.COSINE:
            norms = np.linalg.norm(vectors, axis=1, keepdims=True)
            vectors = np.divide(vectors, norms, out=np.zeros_like(vectors), where=norms > 0)
        return vectors
