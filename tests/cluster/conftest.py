"""A real two-node Ray cluster on loopback for the cluster tests (``ray_cluster.py``), started once."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from ray_cluster import LOOPBACK_ENV, LocalCluster

from bqml_magic import Engine, demo, samples

# Ray reads these when it is imported: set before any test imports it, for this driver's whole session.
os.environ.update(LOOPBACK_ENV)


@pytest.fixture(scope="session")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    """A head node without CPUs and two worker nodes of one CPU; this process is its driver."""
    ray = pytest.importorskip("ray", reason="the cluster tests need bqml_magic[ray]")
    started = LocalCluster(nodes=2, temp_dir=tmp_path_factory.mktemp("ray"))
    try:
        yield started
    finally:
        ray.shutdown()
        started.stop()


@pytest.fixture(scope="module")
def photo_bucket(sample_set: samples.Samples, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sample photos, each twenty times over (200 photos): work enough for two nodes."""
    bucket = tmp_path_factory.mktemp("bucket")
    (bucket / "photos").mkdir()
    for photo in sorted((sample_set.bucket / "photos").iterdir()):
        for copy in range(20):
            os.link(photo, bucket / "photos" / f"{photo.stem}-{copy}{photo.suffix}")
    return bucket


@pytest.fixture(scope="module")
def tutorial_engine(photo_bucket: Path, sample_set: samples.Samples, tmp_path_factory) -> Iterator[Engine]:
    """The tutorials' tables and models: tutorial 01's TensorFlow classifier, tutorial 02's ONNX features."""
    engine = Engine(
        workspace=tmp_path_factory.mktemp("workspace"),
        buckets={"my_bucket": photo_bucket, "my_models": sample_set.root / "models"},
        batch_rows=8,
    )
    engine.query(demo.SETUP)
    engine.query(
        "CREATE MODEL my_dataset.classifier OPTIONS (model_type = 'TENSORFLOW', "
        "model_path = 'gs://my_models/tensorflow/classifier/*');"
        "CREATE MODEL my_dataset.features OPTIONS (model_type = 'ONNX', "
        "model_path = 'gs://my_models/onnx/features.onnx')"
    )
    yield engine
    engine.close()
