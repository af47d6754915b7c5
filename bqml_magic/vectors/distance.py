"""VECTOR_SEARCH's distance types, for ranking many pairs at once and for exact values.

BigQuery's types [doc: search_functions#vector_search]: EUCLIDEAN (the default), COSINE
(``1 - cos(angle)``, NaN with a zero vector, as ML.DISTANCE gives it here) and DOT_PRODUCT.
For DOT_PRODUCT the distance is the negated dot product [ours: the docs give no formula], so
that, as with the others, the smallest distance is the nearest.
"""

from __future__ import annotations

from enum import Enum

import numpy as np

from bqml_magic.images.distance import METRICS


class DistanceType(Enum):
    EUCLIDEAN = "EUCLIDEAN"
    COSINE = "COSINE"
    DOT_PRODUCT = "DOT_PRODUCT"

    @classmethod
    def named(cls, text: str) -> DistanceType | None:
        """The type a string names (case-insensitively), None for none of them."""
        return cls.__members__.get(text.strip().upper())


def ranking(queries: np.ndarray, base: np.ndarray, kind: DistanceType) -> np.ndarray:
    """A (queries x base) matrix ordered as the distances are, from one matrix product: the
    squared distance for EUCLIDEAN (it ranks as the distance does)."""
    products = queries @ base.T
    if kind is DistanceType.DOT_PRODUCT:
        return -products
    if kind is DistanceType.COSINE:
        with np.errstate(divide="ignore", invalid="ignore"):
            return 1.0 - products / np.outer(np.linalg.norm(queries, axis=1), np.linalg.norm(base, axis=1))
    squared = np.einsum("ij,ij->i", queries, queries)[:, None] - 2.0 * products + np.einsum("ij,ij->i", base, base)
    return np.maximum(squared, 0.0)


def exact(a: np.ndarray, b: np.ndarray, kind: DistanceType) -> np.ndarray:
    """Row-wise distances of two equally shaped matrices, computed pair by pair in float64
    (no cancellation): the values a search returns."""
    if kind is DistanceType.DOT_PRODUCT:
        return -np.einsum("ij,ij->i", a, b)
    return METRICS[kind.value](a, b)
