"""The HNSW graph: it finds what brute force finds on easy data, and survives its bytes."""

from __future__ import annotations

import numpy as np
import pytest

from bqml_magic.vectors.ann import DEFAULT_BREADTH, Graph, search_breadth
from bqml_magic.vectors.distance import DistanceType, ranking


@pytest.mark.parametrize("kind", list(DistanceType))
def test_a_graph_finds_the_true_nearest_of_clustered_vectors(kind):
    rng = np.random.default_rng(5)
    centres = rng.standard_normal((20, 32)) * 4
    base = centres[rng.integers(0, 20, 2000)] + rng.standard_normal((2000, 32))
    queries = centres[rng.integers(0, 20, 25)] + rng.standard_normal((25, 32))
    graph = Graph.empty(kind, 32)
    graph.add(np.arange(2000) + 100, base)
    graph = Graph.from_bytes(graph.to_bytes(), kind)  # what the catalog stores and loads
    found = graph.search(queries, 10, 64)
    truth = np.argsort(ranking(queries, base, kind), axis=1)[:, :10] + 100
    recall = np.mean([len(set(f) & set(t)) / 10 for f, t in zip(found, truth)])
    assert len(graph) == 2000 and recall >= 0.95


def test_a_graph_of_fewer_rows_than_asked_pads_with_minus_one():
    graph = Graph.empty(DistanceType.EUCLIDEAN, 2)
    graph.add(np.array([7, 9]), np.array([[0.0, 0.0], [1.0, 1.0]]))
    assert graph.search(np.array([[0.9, 0.9]]), 3, 16).tolist() == [[9, 7, -1]]


def test_the_breadth_follows_the_fraction_of_rows_never_below_top_k():
    assert search_breadth(None, 10**6, 10) == DEFAULT_BREADTH
    assert search_breadth(0.01, 100_000, 10) == 1000
    assert search_breadth(0.0, 100_000, 25) == 25
