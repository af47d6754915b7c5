"""ML.DISTANCE: the documented value, keyed vectors, the batched form, errors."""

from __future__ import annotations

import math

import numpy as np
import pytest

from bqml_magic.errors import SQLError
from bqml_magic.images import distance, distance_batch

A, B = [4.1, 0.5, 1.0], [3.0, 0.0, 2.5]


@pytest.mark.parametrize(
    "metric, expected",
    [
        ("EUCLIDEAN", 1.926136028425822),  # BigQuery's documented example
        ("MANHATTAN", 1.1 + 0.5 + 1.5),
        ("COSINE", 1 - (4.1 * 3.0 + 1.0 * 2.5) / (math.hypot(4.1, 0.5, 1.0) * math.hypot(3.0, 0.0, 2.5))),
        ("euclidean", 1.926136028425822),
    ],
)
def test_numeric_arrays(metric, expected):
    assert distance(A, B, metric) == pytest.approx(expected, rel=1e-15)


def test_default_metric_is_euclidean():
    assert distance(np.array(A), np.array(B)) == 1.926136028425822


@pytest.mark.parametrize(
    "left, right",
    [
        ([("a", 4.1), ("b", 0.5), ("c", 1.0)], [("c", 2.5), ("a", 3.0), ("b", 0.0)]),
        ([{"k": 1, "v": 4.1}, {"k": 2, "v": 0.5}, {"k": 3, "v": 1.0}], [{"k": 3, "v": 2.5}, {"k": 1, "v": 3.0}]),
    ],
)
def test_keyed_vectors_match_by_key(left, right):
    assert distance(left, right) == pytest.approx(1.926136028425822, rel=1e-15)


def test_batch_equals_row_by_row():
    rng = np.random.default_rng(0)
    rows_a, rows_b = rng.random((50, 8)).tolist(), rng.random((50, 8)).tolist()
    for metric in ["EUCLIDEAN", "MANHATTAN", "COSINE"]:
        expected = [distance(a, b, metric) for a, b in zip(rows_a, rows_b)]
        np.testing.assert_array_equal(distance_batch(rows_a, rows_b, metric), expected)


def test_batch_with_uneven_rows_and_keys():
    out = distance_batch([A, [1.0], [("x", 1.0)]], [B, [4.0], [("y", 1.0)]])
    np.testing.assert_allclose(out, [1.926136028425822, 3.0, math.sqrt(2)], rtol=1e-15)


def test_cosine_of_zero_vector_is_nan():
    assert math.isnan(distance([0.0, 0.0], [1.0, 2.0], "COSINE"))


@pytest.mark.parametrize(
    "left, right, metric, message",
    [
        ([1.0, 2.0, 3.0], [1.0, 2.0], "EUCLIDEAN", "arrays have different lengths 3 and 2"),
        ([1.0], [1.0], "CHEBYSHEV", "unknown distance type"),
        ([("a", 1.0), ("a", 2.0)], [("a", 1.0)], "EUCLIDEAN", "duplicate identifier 'a'"),
        ([1.0], [("a", 1.0)], "EUCLIDEAN", "same type"),
    ],
)
def test_errors(left, right, metric, message):
    with pytest.raises(SQLError, match=message):
        distance(left, right, metric)
