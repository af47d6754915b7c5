"""The same SQL with its image work on a real two-node Ray cluster (docs/behaviour.md#ray).

Each query on the cluster starts its actors (a few seconds): these tests are few and marked slow.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from ray_cluster import LocalCluster

from bqml_magic import Engine, demo
from bqml_magic.cluster import runner
from bqml_magic.errors import Cancelled, ImageError

pytestmark = [pytest.mark.slow, pytest.mark.integration]

ACTOR = "ray::MapWorker(MapBatches(ImageActor))"
TUTORIAL_01_BEST = demo.TOP_CLASS.format(model="classifier")
TUTORIAL_02_EMBEDDINGS = """
CREATE OR REPLACE TABLE my_dataset.embeddings AS
SELECT uri, feature_vector
FROM ML.PREDICT(MODEL `my_dataset.features`,
  (SELECT uri, ML.RESIZE_IMAGE(ML.DECODE_IMAGE(data), 224, 224, FALSE) AS inputs
   FROM `my_dataset.object_table`));
SELECT * FROM my_dataset.embeddings ORDER BY uri"""
TUTORIAL_03_COLOURS = """
SELECT uri,
  ML.CONVERT_COLOR_SPACE(ML.RESIZE_IMAGE(ML.DECODE_IMAGE(data), 128, 128, TRUE), 'HSV') AS hsv,
  ML.CONVERT_IMAGE_TYPE(ML.RESIZE_IMAGE(ML.DECODE_IMAGE(data), 64, 64, FALSE)) AS image
FROM my_dataset.object_table
WHERE uri LIKE '%coffee%' OR uri LIKE '%chelsea%'
ORDER BY uri"""
FEATURES = """SELECT uri, feature_vector FROM ML.PREDICT(MODEL `my_dataset.features`,
  (SELECT uri, ML.RESIZE_IMAGE(ML.DECODE_IMAGE(data), 224, 224, FALSE) AS inputs FROM `my_dataset.object_table`))
ORDER BY uri"""


@pytest.mark.parametrize(
    "sql",
    [TUTORIAL_01_BEST, TUTORIAL_02_EMBEDDINGS, TUTORIAL_03_COLOURS],
    ids=["01-best", "02-embeddings", "03-colours"],
)
def test_the_tutorials_sql_gives_identical_results(cluster: LocalCluster, tutorial_engine: Engine, sample_set, sql):
    params = {"labels": sample_set.labels} if "@labels" in sql else None
    here = tutorial_engine.query(sql, params)
    there = tutorial_engine.query(sql, params, ray_address=cluster.address)
    assert len(there) >= 10
    assert_identical(there, here)


def test_the_image_work_runs_on_the_workers(cluster: LocalCluster, tutorial_engine: Engine):
    """The driver's own CPU time (all its threads, Ray's among them) is a small part of the work."""
    tutorial_engine.query(FEATURES, ray_address=cluster.address)  # the model reaches the object store once
    started = time.process_time()
    tutorial_engine.query(FEATURES)
    in_process = time.process_time() - started
    started = time.process_time()
    tutorial_engine.query(FEATURES, ray_address=cluster.address)
    driver = time.process_time() - started
    assert driver < 0.35 * in_process, (driver, in_process)


def assert_identical(got: pd.DataFrame, expected: pd.DataFrame) -> None:
    """Same columns, same rows in the same order, every value bit for bit (images and arrays too)."""
    assert got.columns.tolist() == expected.columns.tolist()
    assert len(got) == len(expected)
    for column in got.columns:
        for row, (a, b) in enumerate(zip(got[column], expected[column])):
            assert _same(a, b), (column, row)


def _same(a: object, b: object) -> bool:
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return np.array_equal(np.asarray(a), np.asarray(b))
    return a == b


@pytest.fixture
def on_first_batch(monkeypatch: pytest.MonkeyPatch) -> Iterator[list]:
    """Actions the test registers, run by the driver when the first results of the cluster arrive:
    the query is then under way, with more to do."""
    actions: list = []
    streamed = runner._streamed

    def watched(*args, **kwargs):
        for number, batch in enumerate(streamed(*args, **kwargs)):
            if number == 0:
                for action in actions:
                    action()
            yield batch

    monkeypatch.setattr(runner, "_streamed", watched)
    yield actions


def test_a_worker_killed_mid_query_changes_nothing(cluster: LocalCluster, tutorial_engine: Engine, on_first_batch):
    expected = tutorial_engine.query(FEATURES)
    killed: list[int] = []

    def kill_an_actor() -> None:
        pid = cluster.processes(ACTOR)[0]
        os.kill(pid, signal.SIGKILL)
        killed.append(pid)

    on_first_batch.append(kill_an_actor)
    there = tutorial_engine.query(FEATURES, ray_address=cluster.address)
    assert killed
    assert_identical(there, expected)


def test_a_corrupt_image_fails_as_it_does_in_process(cluster: LocalCluster, tutorial_engine: Engine, photo_bucket):
    corrupt = photo_bucket / "photos" / "zz-corrupt.jpg"
    corrupt.write_bytes(b"\xff\xd8\xff\xe0 not a JPEG at all")
    try:
        with pytest.raises(ImageError) as here:
            tutorial_engine.query(FEATURES)
        with pytest.raises(ImageError) as there:
            tutorial_engine.query(FEATURES, ray_address=cluster.address)
    finally:
        corrupt.unlink()
    assert str(there.value) == str(here.value)
    assert "gs://my_bucket/photos/zz-corrupt.jpg" in str(there.value)


def test_an_interrupt_stops_the_cluster_work(cluster: LocalCluster, tutorial_engine: Engine, on_first_batch):
    on_first_batch.append(tutorial_engine.interrupt)
    started = time.perf_counter()
    with pytest.raises(Cancelled):
        tutorial_engine.query(FEATURES, ray_address=cluster.address)
    deadline = time.monotonic() + 30
    while cluster.processes(ACTOR) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not cluster.processes(ACTOR), "the job's actors outlived the interrupt"
    assert time.perf_counter() - started < 60
    assert len(tutorial_engine.query("SELECT uri FROM my_dataset.object_table")) == 200  # ready for the next


def test_the_readme_example_runs_on_the_cluster(cluster: LocalCluster, photo_bucket, sample_set, tmp_path):
    """As written, in a fresh process whose ``RAY_ADDRESS`` names the cluster (what ``"auto"`` reads)."""
    readme = Path(__file__).resolve().parents[2] / "README.md"
    [section] = [part for part in readme.read_text().split("\n## ") if part.startswith("When one machine")]
    [example] = re.findall(r"```python\n(.*?)```", section, re.DOTALL)
    setup = Engine(
        workspace=tmp_path / ".bqml", buckets={"my_bucket": photo_bucket, "my_models": sample_set.root / "models"}
    )
    setup.query("""CREATE SCHEMA my_dataset;
        CREATE EXTERNAL TABLE my_dataset.photos OPTIONS(object_metadata = 'SIMPLE', uris = ['gs://my_bucket/photos/*']);
        CREATE MODEL my_dataset.classifier OPTIONS(model_type = 'ONNX', model_path = 'gs://my_models/onnx/classifier.onnx')""")
    setup.close()
    script = example.replace("engine.query(", "frame = engine.query(") + "\nprint(len(frame), list(frame.columns))\n"
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=tmp_path,
        env={**os.environ, "RAY_ADDRESS": cluster.address},
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stdout.strip().splitlines()[-1] == "200 ['uri', 'predictions']"
