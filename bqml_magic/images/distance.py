"""ML.DISTANCE(v1, v2 [, 'EUCLIDEAN' | 'MANHATTAN' | 'COSINE']) in float64.

A vector is a numeric array, or an array of (key, value) pairs matched by key (the order
does not matter; a duplicate key is an error). For keyed vectors a key missing on one
side counts as 0 there, as in a sparse vector [ours: the docs do not say]. Metric names
are matched case-insensitively [ours]. COSINE is ``1 - cos(angle)``; with a zero vector
it is NaN [ours]. NULL vectors are the caller's business (NULL in, NULL out).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from bqml_magic.errors import SQLError

Vector = Any  # a numeric sequence / ndarray, or a sequence of (key, value) pairs or 2-field dicts


def _euclidean(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.sqrt(np.sum((a - b) ** 2, axis=-1))


def _manhattan(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.sum(np.abs(a - b), axis=-1)


def _cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return 1.0 - np.sum(a * b, axis=-1) / (np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1))


METRICS: dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
    "EUCLIDEAN": _euclidean,
    "MANHATTAN": _manhattan,
    "COSINE": _cosine,
}


def distance(a: Vector, b: Vector, metric: str = "EUCLIDEAN") -> float:
    """The distance between two vectors of the same kind."""
    kernel = _metric(metric)
    return float(kernel(*_aligned(a, b)))


def distance_batch(list_a: Sequence[Vector], list_b: Sequence[Vector], metric: str = "EUCLIDEAN") -> np.ndarray:
    """Row-wise distances of two equally long lists, in one numpy pass when rows allow it."""
    kernel = _metric(metric)
    if len(list_a) != len(list_b):
        raise SQLError(f"ML.DISTANCE: {len(list_a)} first vectors but {len(list_b)} second vectors")
    if list_a and all(_is_numeric(v) for v in (*list_a, *list_b)):
        lengths = {len(v) for v in (*list_a, *list_b)}
        if len(lengths) == 1:
            return kernel(np.asarray(list_a, dtype=np.float64), np.asarray(list_b, dtype=np.float64))
    return np.array([kernel(*_aligned(a, b)) for a, b in zip(list_a, list_b)], dtype=np.float64)


def _metric(metric: str) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    kernel = METRICS.get(metric.upper())
    if kernel is None:
        raise SQLError(f"ML.DISTANCE: unknown distance type {metric!r}; expected one of {', '.join(METRICS)}")
    return kernel


def _is_numeric(vector: Vector) -> bool:
    if isinstance(vector, np.ndarray):
        return vector.dtype.kind in "biuf"
    return not any(isinstance(item, (dict, tuple, list)) for item in vector)


def _aligned(a: Vector, b: Vector) -> tuple[np.ndarray, np.ndarray]:
    """Two float64 arrays with matching positions: numeric as given, keyed ones by key."""
    numeric_a, numeric_b = _is_numeric(a), _is_numeric(b)
    if numeric_a != numeric_b:
        raise SQLError(
            "ML.DISTANCE: both vectors must have the same type (numeric array or array of key/value structs)"
        )
    if numeric_a:
        x, y = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
        if x.shape != y.shape:
            raise SQLError(f"ML.DISTANCE: arrays have different lengths {len(x)} and {len(y)}")
        return x, y
    da, db = _keyed(a), _keyed(b)
    keys = list(da) + [k for k in db if k not in da]
    return (
        np.array([da.get(k, 0.0) for k in keys], dtype=np.float64),
        np.array([db.get(k, 0.0) for k in keys], dtype=np.float64),
    )


def _keyed(vector: Vector) -> dict[Any, float]:
    pairs = [tuple(item.values()) if isinstance(item, dict) else tuple(item) for item in vector]
    if any(len(pair) != 2 for pair in pairs):
        raise SQLError("ML.DISTANCE: a keyed vector must hold STRUCT<key, value> pairs")
    out = {key: float(value) for key, value in pairs}
    if len(out) != len(pairs):
        duplicate = next(key for key in out if sum(1 for k, _ in pairs if k == key) > 1)
        raise SQLError(f"ML.DISTANCE: duplicate identifier {duplicate!r} in a vector")
    return out
