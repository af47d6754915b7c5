"""The exact search's kernels against numpy's plainest brute force (docs/behaviour.md#vector-search)."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from bqml_magic.errors import SQLError
from bqml_magic.vectors.arrays import is_vector_type, matrix
from bqml_magic.vectors.distance import DistanceType, exact, ranking
from bqml_magic.vectors.nearest import Nearest


def plain_distances(queries: np.ndarray, base: np.ndarray, kind: DistanceType) -> np.ndarray:
    """Every pair, one at a time: the definition, not the kernels."""
    out = np.empty((len(queries), len(base)))
    for i, q in enumerate(queries):
        for j, b in enumerate(base):
            if kind is DistanceType.EUCLIDEAN:
                out[i, j] = np.sqrt(np.sum((q - b) ** 2))
            elif kind is DistanceType.COSINE:
                out[i, j] = 1 - np.dot(q, b) / (np.linalg.norm(q) * np.linalg.norm(b))
            else:
                out[i, j] = -np.dot(q, b)
    return out


def searched(queries: np.ndarray, base: np.ndarray, top_k: int, kind: DistanceType, batch: int):
    table = pa.table({"id": np.arange(len(base)), "v": pa.array(list(base), pa.list_(pa.float64()))})
    nearest = Nearest(queries, top_k, kind, table.schema)
    for start in range(0, len(base), batch):
        part = table.slice(start, batch).to_batches()[0]
        nearest.add(part, matrix(part.column("v"), "v", start, queries.shape[1]))
    return nearest.matches("v", queries.shape[1])


@pytest.mark.parametrize("kind", list(DistanceType))
@pytest.mark.parametrize("batch", [1, 7, 1000])
def test_the_top_k_of_each_query_are_numpys_in_any_batching(kind, batch):
    rng = np.random.default_rng(3)
    base, queries = rng.standard_normal((300, 16)), rng.standard_normal((9, 16))
    matches = searched(queries, base, 5, kind, batch)
    truth = plain_distances(queries, base, kind)
    expected = np.argsort(truth, axis=1, kind="stable")[:, :5]
    assert matches.query.tolist() == np.repeat(np.arange(9), 5).tolist()
    ids = matches.rows.column("id").to_numpy()[matches.base]
    assert ids.reshape(9, 5).tolist() == expected.tolist()
    np.testing.assert_allclose(matches.distance, np.take_along_axis(truth, expected, 1).reshape(-1), rtol=1e-12)


def test_ties_go_to_the_earlier_row_and_fewer_rows_than_top_k_give_all():
    base = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0], [-1.0, 0.0]])
    matches = searched(np.array([[1.0, 0.0]]), base, 10, DistanceType.EUCLIDEAN, 2)
    assert matches.rows.column("id").to_numpy()[matches.base].tolist() == [0, 2, 1, 3]
    assert matches.distance.tolist() == [0.0, 0.0, np.sqrt(2), 2.0]


def test_cosine_with_a_zero_vector_is_nan_and_comes_last():
    matches = searched(np.array([[1.0, 1.0]]), np.array([[0.0, 0.0], [2.0, 1.0]]), 2, DistanceType.COSINE, 1)
    assert matches.rows.column("id").to_numpy()[matches.base].tolist() == [1, 0]
    assert np.isnan(matches.distance[1])


def test_the_pool_of_rows_stays_within_queries_times_top_k():
    rng = np.random.default_rng(0)
    table = pa.table({"v": pa.array(list(rng.standard_normal((5000, 4))), pa.list_(pa.float64()))})
    nearest = Nearest(rng.standard_normal((3, 4)), 2, DistanceType.EUCLIDEAN, table.schema)
    for part in table.to_batches(max_chunksize=100):
        nearest.add(part, matrix(part.column("v"), "v", 0, 4))
        assert nearest.pool.num_rows <= 2 * 3 * 2 + 100


def test_ranking_orders_as_the_exact_distances():
    rng = np.random.default_rng(1)
    a, b = rng.standard_normal((4, 8)), rng.standard_normal((50, 8))
    for kind in DistanceType:
        ranks = np.argsort(ranking(a, b, kind), axis=1)
        values = np.stack([exact(np.repeat(a[i : i + 1], 50, 0), b, kind) for i in range(4)])
        assert (np.argsort(values, axis=1) == ranks).all(), kind


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ([[1.0, 2.0], None], "is NULL in row 2"),
        ([[1.0, 2.0], []], "is an empty array in row 2"),
        ([[]], "is an empty array in row 1"),
        ([[1.0, 2.0], [1.0, 2.0, 3.0]], "has 3 values in row 2, where the vectors searched have 2"),
        ([[1.0, None]], "holds NULL values"),
    ],
)
def test_vectors_no_distance_can_be_computed_for_are_refused(values, message):
    with pytest.raises(SQLError, match=message):
        matrix(pa.array(values, pa.list_(pa.float64())), "column 'v' of the base table", 0, None)


def test_row_numbers_in_errors_count_from_the_batch_start():
    with pytest.raises(SQLError, match="in row 12"):
        matrix(pa.array([[1.0], [2.0, 3.0]], pa.list_(pa.float64())), "v", 10, 1)


def test_integer_and_fixed_size_arrays_are_vectors_strings_are_not():
    assert is_vector_type(pa.list_(pa.int64())) and is_vector_type(pa.list_(pa.float32(), 3))
    assert not is_vector_type(pa.list_(pa.string())) and not is_vector_type(pa.float64())
    assert matrix(pa.array([[1, 2]], pa.list_(pa.int64())), "v", 0, None).tolist() == [[1.0, 2.0]]
