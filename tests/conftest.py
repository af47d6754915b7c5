"""Fixtures shared by the whole suite: real photos in a bucket folder, fresh engines, and an
IPython shell with %%bqml loaded that re-raises cell errors.

IPython prints errors from cells and carries on, which would let a broken magic pass a test;
``TestingShell`` (jupysql's idea) raises them instead. Each test that uses ``shell`` gets a
fresh ``bqml_magic.context`` with an in-memory workspace, restored afterwards.
"""

from __future__ import annotations

import copy
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from IPython.core.interactiveshell import InteractiveShell
from traitlets.config import Config

from bqml_magic import Engine, errors, samples
from bqml_magic.config import context

# No test reaches a real object store or a cloud metadata server: an unmapped gs:// or s3:// URI
# goes to a loopback port where nothing listens (the discard port), credentials are explicit
# test ones, and the libraries' metadata-server probes are off. Tests of the stores start their
# own servers on loopback and point storage_options at them (tests/storage).
# Remembered bucket mounts (storage/mounts.py) go to a folder of this run, not the user's own.
os.environ["BQML_MAGIC_STATE"] = tempfile.mkdtemp(prefix="bqml_state_")
os.environ.update(
    {
        "STORAGE_EMULATOR_HOST": "http://127.0.0.1:9",
        "NO_GCE_CHECK": "true",  # google-auth compares with "true" exactly
        "GCE_METADATA_HOST": "127.0.0.1:9",
        "GCE_METADATA_ROOT": "127.0.0.1:9",
        "GCE_METADATA_IP": "127.0.0.1:9",
        "GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT": "false",  # else gcsfs 2026 probes each bucket over gRPC (60 s stall)
        "AWS_ENDPOINT_URL": "http://127.0.0.1:9",
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        "AWS_CONFIG_FILE": os.devnull,
    }
)


def package_file(package: str, *parts: str) -> Path:
    """A data file shipped inside an installed package (never downloaded)."""
    import importlib.util

    spec = importlib.util.find_spec(package)
    assert spec is not None and spec.origin, f"{package} is not installed"
    return Path(spec.origin).parent.joinpath(*parts)


@pytest.fixture
def photos(tmp_path: Path) -> Path:
    """A bucket folder: two real photos (one in a subfolder) and a text file."""
    root = tmp_path / "bucket"
    (root / "photos" / "more").mkdir(parents=True)
    shutil.copy(package_file("matplotlib", "mpl-data", "sample_data", "grace_hopper.jpg"), root / "photos")
    shutil.copy(package_file("skimage", "data", "coffee.png"), root / "photos" / "more")
    (root / "notes.txt").write_text("not an image")
    return root


@pytest.fixture
def engine(photos: Path) -> Engine:
    eng = Engine(buckets={"my_bucket": photos})
    eng.query(
        """CREATE SCHEMA my_dataset;
           CREATE EXTERNAL TABLE my_dataset.object_table WITH CONNECTION `us.my-connection`
           OPTIONS(object_metadata = 'SIMPLE', uris = ['gs://my_bucket/*'])"""
    )
    yield eng
    eng.close()


@pytest.fixture(scope="session")
def sample_set() -> samples.Samples:
    """The sample photos and MobileNet models, built once into the user cache (docs/behaviour.md#sample-data)."""
    return samples.build()


@pytest.fixture
def save_tagger():
    """Writes a SavedModel of two features, an image and a string, into a folder; returns it.

    ``image`` float32 [N, 8, 8, 3] and ``tag`` string [N] -> ``length`` INT64 = len(tag),
    ``bright`` BOOL = mean(image) > 0.5.
    """

    def save(folder: Path) -> Path:
        import tensorflow as tf

        class Tagger(tf.Module):
            @tf.function(
                input_signature=[
                    tf.TensorSpec([None, 8, 8, 3], tf.float32, name="image"),
                    tf.TensorSpec([None], tf.string, name="tag"),
                ]
            )
            def serve(self, image, tag):
                return {
                    "length": tf.cast(tf.strings.length(tag), tf.int64),
                    "bright": tf.reduce_mean(image, axis=[1, 2, 3]) > 0.5,
                }

        model = Tagger()
        tf.saved_model.save(model, str(folder), signatures={"serving_default": model.serve})
        return folder

    return save


# -- tiny ONNX models whose outputs are known exactly (ML.PREDICT's contract) --------------
def _save(model, path: Path) -> Path:
    import onnx

    onnx.checker.check_model(model)
    onnx.save(model, path)
    return path


@pytest.fixture
def scorer_model(photos: Path) -> Path:
    """Two features: ``image`` float [N,8,8,3] and ``bias`` float [N].

    Labels: ``score`` = mean(image) + bias, ``doubled`` = image * 2 (an ARRAY output).
    """
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [
            helper.make_node("ReduceMean", ["image"], ["mean"], axes=[1, 2, 3], keepdims=0),
            helper.make_node("Add", ["mean", "bias"], ["score"]),
            helper.make_node("Add", ["image", "image"], ["doubled"]),
        ],
        "scorer",
        [
            helper.make_tensor_value_info("image", TensorProto.FLOAT, ["N", 8, 8, 3]),
            helper.make_tensor_value_info("bias", TensorProto.FLOAT, ["N"]),
        ],
        [
            helper.make_tensor_value_info("score", TensorProto.FLOAT, ["N"]),
            helper.make_tensor_value_info("doubled", TensorProto.FLOAT, ["N", 8, 8, 3]),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], ir_version=8)
    (photos / "models").mkdir(exist_ok=True)
    return _save(model, photos / "models" / "scorer.onnx")


@pytest.fixture
def scorer(engine: Engine, scorer_model: Path) -> Engine:
    """The ``engine`` with ``scorer_model`` imported as ``my_dataset.scorer``."""
    engine.query(
        "CREATE MODEL my_dataset.scorer OPTIONS(model_type = 'ONNX', model_path = 'gs://my_bucket/models/scorer.onnx')"
    )
    return engine


@pytest.fixture
def scorer_over_copies(photos: Path, scorer_model: Path) -> Iterator[Callable[[int, int], Engine]]:
    """``make(copies, batch_rows)``: an engine with ``scorer_model`` over the bucket's two photos
    plus ``copies`` copies of one, streamed ``batch_rows`` rows at a time."""
    engines: list[Engine] = []

    def make(copies: int, batch_rows: int) -> Engine:
        for i in range(copies):
            shutil.copy(photos / "photos" / "grace_hopper.jpg", photos / "photos" / f"copy{i:02d}.jpg")
        engine = Engine(buckets={"my_bucket": photos}, batch_rows=batch_rows)
        engines.append(engine)
        engine.query("""CREATE SCHEMA my_dataset;
            CREATE EXTERNAL TABLE my_dataset.object_table OPTIONS(object_metadata = 'SIMPLE', uris = ['gs://my_bucket/*']);
            CREATE MODEL my_dataset.scorer OPTIONS(model_type = 'ONNX', model_path = 'gs://my_bucket/models/scorer.onnx')""")
        return engine

    yield make
    for engine in engines:
        engine.close()


@pytest.fixture
def scorer_batches(scorer_over_copies) -> Engine:
    """11 photos in batches of 3 rows, four batches, the last one short (listed by uri: copy00 ...
    copy08, grace_hopper, coffee)."""
    return scorer_over_copies(9, 3)


@pytest.fixture
def uint8_model(photos: Path) -> Path:
    """``pixels`` uint8 [N,4,4,3] -> ``total`` int64 [N] (sum of all bytes)."""
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [
            helper.make_node("Cast", ["pixels"], ["wide"], to=TensorProto.INT64),
            helper.make_node("ReduceSum", ["wide"], ["total"], axes=[1, 2, 3], keepdims=0),
        ],
        "summer",
        [helper.make_tensor_value_info("pixels", TensorProto.UINT8, ["N", 4, 4, 3])],
        [helper.make_tensor_value_info("total", TensorProto.INT64, ["N"])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 11)], ir_version=8)
    (photos / "models").mkdir(exist_ok=True)
    return _save(model, photos / "models" / "summer.onnx")


class TestingShell(InteractiveShell):
    """InteractiveShell whose ``run_cell`` raises the cell's exception."""

    def run_cell(self, *args, **kwargs):
        result = super().run_cell(*args, **kwargs)
        result.raise_error()
        return result


@pytest.fixture(autouse=True)
def python_advice(monkeypatch: pytest.MonkeyPatch) -> None:
    """Errors suggest Python calls unless the test is a notebook's (``shell``): loading the
    extension once would otherwise switch every later test to ``%bqml`` advice."""
    monkeypatch.setattr(errors, "_notebook_magic", False)


@pytest.fixture
def shell() -> Iterator[TestingShell]:
    config = Config()
    config.HistoryManager.hist_file = ":memory:"
    ip = TestingShell.instance(config=config)
    if "bqml_magic" not in ip.extension_manager.loaded:
        ip.run_line_magic("load_ext", "bqml_magic")
    errors.speak_notebook()
    saved = {key: copy.copy(value) for key, value in vars(context).items()}
    context.workspace = None
    context.progress_bar_type = None
    try:
        yield ip
    finally:
        context.close()
        vars(context).update(saved)
        ip.user_ns.clear()
        ip.init_user_ns()
