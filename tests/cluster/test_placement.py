"""Where image work runs, without a cluster: the choice, the blocks, the errors (docs/behaviour.md#ray)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pyarrow as pa
import pytest

from bqml_magic import Engine
from bqml_magic.cluster import connection
from bqml_magic.cluster.runner import _blocks, _user_error
from bqml_magic.errors import BQMLError, ImageError, StorageError
from bqml_magic.storage.uris import BucketMap


def test_without_a_cluster_ray_is_never_imported(photos):
    script = f"""
        import sys
        from bqml_magic import Engine
        engine = Engine(buckets={{"my_bucket": {str(photos)!r}}})
        engine.query("CREATE SCHEMA d; CREATE EXTERNAL TABLE d.t OPTIONS(object_metadata = 'SIMPLE', "
                     "uris = ['gs://my_bucket/photos/*'])")
        engine.query("SELECT uri, ML.DECODE_IMAGE(data) AS image FROM d.t")
        assert "ray" not in sys.modules, "ray was imported"
    """
    subprocess.run([sys.executable, "-c", textwrap.dedent(script)], check=True)


def test_a_dry_run_says_where_the_image_work_would_run(engine: Engine):
    sql = "SELECT uri, ML.DECODE_IMAGE(data) AS image FROM my_dataset.object_table"
    assert "Image work would run in this process, on" in engine.dry_run(sql).summary()
    report = engine.dry_run(sql, ray_address="ray://head:10001").summary()  # nothing is contacted
    assert "Image work would run on the Ray cluster at 'ray://head:10001'" in report
    assert "DuckDB in this process" in report
    assert "Image work" not in engine.dry_run("SELECT 1 AS x").summary()


def test_actors_ask_for_a_gpu_where_models_run_on_one(photos):
    on_gpu = Engine(buckets={"b": photos}, device="cuda", ray_address="auto", ray_cpus_per_actor=2)
    on_cpu = Engine(buckets={"b": photos}, ray_address="auto")
    try:
        assert on_gpu._runner("auto").gpus_per_actor == 1
        assert on_gpu._runner("auto").cpus_per_actor == 2
        assert on_cpu._runner("auto").gpus_per_actor == 0
        assert on_cpu._runner(None) is None
    finally:
        on_gpu.close()
        on_cpu.close()


def test_without_ray_installed_the_error_says_what_to_install(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray raises ImportError
    with pytest.raises(BQMLError, match=r"pip install 'bqml_magic\[ray\]'"):
        connection.ray_cluster("auto")


def test_blocks_regroup_duckdbs_batches_in_order():
    batches = [pa.record_batch({"x": list(range(start, start + size))}) for start, size in ((0, 3), (3, 5), (8, 1))]
    blocks = list(_blocks(iter(batches), 4))
    assert [b.num_rows for b in blocks] == [4, 4, 1]
    assert pa.concat_tables(blocks).column("x").to_pylist() == list(range(9))
    assert list(_blocks(iter([]), 4)) == []


def test_the_workers_own_error_comes_back_as_itself():
    original = ImageError("Invalid image data", uri="gs://b/x.jpg", function="ML.DECODE_IMAGE")

    class RayWrapper(ImageError):  # Ray's task error subclasses the error it carries
        cause = original

    try:
        raise RuntimeError("the dataset failed") from RayWrapper("traceback text")
    except RuntimeError as exc:
        assert _user_error(exc) is original
    unknown = _user_error(ValueError("a node died"))
    assert isinstance(unknown, BQMLError) and "The Ray cluster failed" in str(unknown)


def test_a_folder_a_node_lacks_is_an_error_naming_the_node(tmp_path):
    there = tmp_path / "there"
    there.mkdir()
    seen = BucketMap.seen_from("10.0.0.7", {"here": str(tmp_path / "gone"), "there": str(there)}, [], ["gs"])
    with pytest.raises(StorageError, match=r"gs://here/a\.jpg .*folder .*gone.*node 10\.0\.0\.7"):
        seen.resolve("gs://here/a.jpg")
    assert seen.resolve("gs://there/a.jpg").path == str(there / "a.jpg")
    roots = BucketMap.seen_from("10.0.0.7", {}, [str(tmp_path / "missing")], ["gs"])
    with pytest.raises(StorageError, match=r"node 10\.0\.0\.7"):
        roots.resolve(str(tmp_path / "missing" / "a.jpg"))
