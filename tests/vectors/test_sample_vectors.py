"""VECTOR_SEARCH over the tutorial's real feature vectors (MobileNet v1, 1,024 wide) against numpy."""

from __future__ import annotations

import numpy as np
import pytest

from bqml_magic import Engine, demo, samples

pytestmark = pytest.mark.integration

EMBED = """CREATE TABLE my_dataset.embeddings AS
SELECT uri, feature_vector FROM ML.PREDICT(MODEL my_dataset.features,
  (SELECT uri, ML.RESIZE_IMAGE(ML.DECODE_IMAGE(data), 224, 224, FALSE) AS inputs FROM my_dataset.object_table))"""
SEARCH = """SELECT query.uri AS photo, base.uri AS similar, distance
FROM VECTOR_SEARCH(TABLE my_dataset.embeddings, 'feature_vector', TABLE my_dataset.embeddings,
                   top_k => 3, distance_type => '{kind}'{options})"""


@pytest.fixture(scope="module")
def embeddings(sample_set: samples.Samples, tmp_path_factory) -> Engine:
    engine = Engine(
        workspace=tmp_path_factory.mktemp("workspace"),
        buckets={"my_bucket": sample_set.bucket, "my_models": sample_set.root / "models"},
    )
    engine.query(demo.SETUP)
    engine.query(
        "CREATE MODEL my_dataset.features OPTIONS(model_type = 'ONNX', "
        f"model_path = '{sample_set.model_uri('ONNX', 'features')}')"
    )
    engine.query(EMBED)
    yield engine
    engine.close()


def numpy_top3(engine: Engine, kind: str) -> list[tuple[str, str]]:
    table = engine.query("SELECT uri, feature_vector FROM my_dataset.embeddings")
    v, uris = np.stack(table.feature_vector.to_numpy()), table.uri.to_numpy()
    if kind == "EUCLIDEAN":
        d = np.linalg.norm(v[:, None] - v[None], axis=-1)
    elif kind == "COSINE":
        unit = v / np.linalg.norm(v, axis=1, keepdims=True)
        d = 1 - unit @ unit.T
    else:
        d = -(v @ v.T)
    order = np.argsort(d, axis=1, kind="stable")[:, :3]
    return sorted((uris[i], uris[j]) for i in range(len(v)) for j in order[i])


@pytest.mark.parametrize("kind", ["EUCLIDEAN", "COSINE", "DOT_PRODUCT"])
@pytest.mark.parametrize("brute_force", [True, False])
def test_each_photos_nearest_are_numpys(embeddings: Engine, kind, brute_force):
    embeddings.query(
        f"CREATE OR REPLACE VECTOR INDEX by_{kind} ON my_dataset.embeddings(feature_vector) "
        f"OPTIONS(index_type = 'IVF', distance_type = '{kind}')"
    )
    options = ", options => '{\"use_brute_force\": true}'" if brute_force else ""
    frame = embeddings.query(SEARCH.format(kind=kind, options=options))
    assert len(frame) == 3 * len(embeddings.query("SELECT uri FROM my_dataset.embeddings"))
    assert sorted(zip(frame.photo, frame.similar)) == numpy_top3(embeddings, kind)
    if kind != "DOT_PRODUCT":  # a photo is its own nearest: distance 0
        firsts = frame.groupby("photo").head(1)
        assert (firsts.photo == firsts.similar).all() and np.allclose(firsts.distance, 0, atol=1e-9)
