"""A workspace written by bqml_magic 0.1.0 opens and works with this version.

The old workspace is made by the released code itself, taken from this repository's history
(``git archive``), in a process of its own: the real layout, not a copy of it in a test.
"""

from __future__ import annotations

import io
import shutil
import subprocess
import sys
import tarfile
import textwrap
from pathlib import Path

import duckdb
import pytest

from bqml_magic import Engine
from bqml_magic.catalog import schema
from bqml_magic.errors import CatalogError

RELEASE_0_1_0 = "4f6fc415da92642cfa2e69567af5bfbaf20b03dd"
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def released_code(tmp_path_factory) -> Path:
    """The ``bqml_magic`` package as released in 0.1.0, unpacked into a folder of its own."""
    archive = subprocess.run(["git", "-C", str(REPO), "archive", RELEASE_0_1_0, "bqml_magic"], capture_output=True)
    if archive.returncode != 0:
        pytest.skip(f"this checkout has no history of release 0.1.0: {archive.stderr.decode().strip()}")
    root = tmp_path_factory.mktemp("release-0.1.0")
    with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
        tar.extractall(root, filter="data")
    return root


@pytest.fixture
def old_workspace(released_code: Path, photos: Path, scorer_model: Path, tmp_path: Path) -> Path:
    workspace = tmp_path / "ws"
    script = textwrap.dedent(f"""
        from bqml_magic import Engine
        eng = Engine(workspace={str(workspace)!r}, buckets={{"my_bucket": {str(photos)!r}}})
        eng.query('''CREATE SCHEMA my_dataset;
            CREATE EXTERNAL TABLE my_dataset.object_table WITH CONNECTION `us.my-connection`
                OPTIONS(object_metadata = 'SIMPLE', uris = ['gs://my_bucket/photos/*']);
            CREATE TABLE my_dataset.sizes AS (SELECT uri, size FROM my_dataset.object_table);
            CREATE VIEW my_dataset.jpegs AS SELECT uri FROM my_dataset.object_table WHERE uri LIKE '%.jpg';
            CREATE MODEL my_dataset.scorer OPTIONS(model_type = 'ONNX', model_path = 'gs://my_bucket/models/scorer.onnx')''')
        eng.close()
    """)
    env = {"PYTHONPATH": str(released_code), "PATH": "/usr/bin:/bin"}
    made = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    return workspace


PREDICT = """SELECT uri, score FROM ML.PREDICT(MODEL my_dataset.scorer,
    (SELECT uri, ML.RESIZE_IMAGE(ML.DECODE_IMAGE(data), 8, 8, FALSE) AS image, 0.5 AS bias
     FROM my_dataset.object_table)) ORDER BY uri"""


def stored_layout(workspace: Path) -> tuple[int | None, list[str]]:
    with duckdb.connect(str(workspace / "catalog.duckdb")) as con:
        folders = [f for (f,) in con.execute("SELECT folder FROM __bqml.models").fetchall()]
        return schema.stored_version(con), folders


def test_the_released_layout_is_version_1_with_absolute_model_folders(old_workspace: Path):
    version, [folder] = stored_layout(old_workspace)
    assert version == 1 and Path(folder).is_absolute()


def test_an_old_workspace_opens_and_every_object_works(old_workspace: Path, photos: Path):
    engine = Engine(workspace=old_workspace, buckets={"my_bucket": photos})
    assert engine.query("SELECT COUNT(*) AS n FROM my_dataset.object_table").n[0] == 2
    assert engine.query("SELECT COUNT(*) AS n FROM my_dataset.sizes").n[0] == 2
    assert engine.query("SELECT uri FROM my_dataset.jpegs").uri.tolist() == ["gs://my_bucket/photos/grace_hopper.jpg"]
    scores = engine.query(PREDICT)
    assert len(scores) == 2 and scores.score.between(0.5, 1.5).all()
    engine.query("CREATE TABLE my_dataset.more AS (SELECT 1 AS x)")  # and it can still be written
    engine.close()
    version, [folder] = stored_layout(old_workspace)
    assert version == schema.VERSION and not Path(folder).is_absolute()


def test_an_upgraded_workspace_can_be_moved(old_workspace: Path, photos: Path, tmp_path: Path):
    Engine(workspace=old_workspace, buckets={"my_bucket": photos}).close()  # upgrades it
    moved = tmp_path / "moved"
    shutil.move(old_workspace, moved)
    engine = Engine(workspace=moved, buckets={"my_bucket": photos})
    assert len(engine.query(PREDICT)) == 2
    engine.close()


def test_a_workspace_from_a_newer_release_is_refused_untouched(tmp_path: Path):
    Engine(workspace=tmp_path / "ws").close()
    with duckdb.connect(str(tmp_path / "ws" / "catalog.duckdb")) as con:
        con.execute("UPDATE __bqml.catalog_meta SET value = '99' WHERE key = 'version'")
    with pytest.raises(CatalogError, match="layout version 99, written by a newer bqml_magic"):
        Engine(workspace=tmp_path / "ws")
    assert stored_layout(tmp_path / "ws")[0] == 99
