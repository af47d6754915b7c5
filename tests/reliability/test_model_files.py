"""CREATE MODEL's copy: the access policy, regular files only, the size limit, crash safety, full validation.

docs/behaviour.md#create-model and #access-policy. Real files and real processes: a FIFO in
the model folder, ``/proc/self/environ`` (whose ``st_size`` is 0), a subprocess killed with
SIGKILL in the middle of CREATE MODEL, and a SavedModel without its ``variables/``.
"""

from __future__ import annotations

import os
import re
import select
import shutil
import signal
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest

from bqml_magic import Engine
from bqml_magic.catalog import models
from bqml_magic.catalog.models import STAGING
from bqml_magic.errors import LimitError, ModelError, StorageError
from bqml_magic.runtimes import limits

REPO = Path(__file__).resolve().parents[2]
PREDICT = """SELECT uri, score FROM ML.PREDICT(MODEL my_dataset.{model},
    (SELECT uri, ML.RESIZE_IMAGE(ML.DECODE_IMAGE(data), 8, 8, FALSE) AS image, 0.5 AS bias
     FROM my_dataset.object_table WHERE content_type LIKE 'image/%')) ORDER BY uri"""


def create(engine: Engine, model_path: str, name: str = "m", model_type: str = "ONNX", replace: bool = False) -> None:
    verb = "CREATE OR REPLACE MODEL" if replace else "CREATE MODEL"
    engine.query(f"{verb} my_dataset.{name} OPTIONS(model_type = '{model_type}', model_path = '{model_path}')")


def model_folders(root: Path) -> list[str]:
    """Everything in a model root, relative to it (staging included)."""
    return sorted(
        p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_dir() and len(p.parts) - len(root.parts) == 2
    )


def run_in_thread(action, fifo: Path, seconds: float = 20):
    """``action()``'s outcome; a reader still blocked on ``fifo`` after ``seconds`` is released and the test fails."""
    outcome: list = []
    thread = threading.Thread(target=lambda: outcome.append(_outcome(action)), daemon=True)
    thread.start()
    thread.join(seconds)
    if thread.is_alive():
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        thread.join(5)
        pytest.fail(f"CREATE MODEL blocked on the FIFO {fifo.name}")
    return outcome[0]


def _outcome(action):
    try:
        return action()
    except BaseException as exc:
        return exc


# -- what may be copied -------------------------------------------------------------------------
@pytest.fixture
def model_folder(photos: Path, scorer_model: Path) -> Path:
    """``gs://my_bucket/models/folder/*``: one ONNX model, ready to be spoiled by each test."""
    folder = photos / "models" / "folder"
    folder.mkdir()
    shutil.copy(scorer_model, folder / "scorer.onnx")
    return folder


@pytest.mark.parametrize(
    ("spoil", "message"),
    [
        (lambda f: os.mkfifo(f / "pipe"), r"File gs://my_bucket/models/folder/pipe is a FIFO \(named pipe\)"),
        (
            lambda f: os.mkfifo(f / "scorer.onnx.data"),
            r"File gs://my_bucket/models/folder/scorer\.onnx\.data is a FIFO",
        ),
        (lambda f: os.symlink("/dev/zero", f / "zero"), r"gs://my_bucket/models/folder/zero resolves outside bucket"),
        (lambda f: os.symlink("/etc", f / "etc"), r"gs://my_bucket/models/folder/etc resolves outside bucket folder"),
        (lambda f: os.symlink("loop", f / "loop"), r"File gs://my_bucket/models/folder/loop cannot be read: .*loop"),
        (lambda f: os.symlink(".", f / "again"), r"Folder gs://my_bucket/models/folder/again leads back to a folder"),
    ],
)
def test_a_model_folder_holds_only_regular_files(engine: Engine, model_folder: Path, spoil, message):
    spoil(model_folder)
    fifo = next((p for p in model_folder.iterdir() if p.is_fifo()), model_folder / "none")
    error = run_in_thread(lambda: create(engine, "gs://my_bucket/models/folder/*"), fifo)
    assert isinstance(error, StorageError), error
    assert str(error).startswith("CREATE MODEL my_dataset.m (model_path 'gs://my_bucket/models/folder/*'): ")
    assert re.search(message, str(error)), str(error)
    assert engine.table_kind("my_dataset.m") is None


def test_a_fifo_as_the_model_file_is_refused_promptly(engine: Engine, photos: Path):
    (photos / "models").mkdir()
    os.mkfifo(photos / "models" / "pipe.onnx")
    error = run_in_thread(lambda: create(engine, "gs://my_bucket/models/pipe.onnx"), photos / "models" / "pipe.onnx")
    assert isinstance(error, StorageError)
    assert str(error).endswith(
        "Model file gs://my_bucket/models/pipe.onnx is a FIFO (named pipe): only regular files are read"
    )


def test_the_size_limit_is_checked_before_anything_is_copied(engine: Engine, scorer_model: Path, monkeypatch):
    copies: list[object] = []
    monkeypatch.setattr(models, "_copy_file", lambda *args: copies.append(args))
    monkeypatch.setattr(limits, "MAX_SERIALIZED_BYTES", scorer_model.stat().st_size)
    with pytest.raises(LimitError, match=rf"ONNX model files are {scorer_model.stat().st_size:,} bytes; .* under"):
        create(engine, "gs://my_bucket/models/scorer.onnx")
    assert copies == []


def test_the_copy_never_reads_more_than_the_limit(monkeypatch):
    """``/proc/self/environ`` says it is 0 bytes: only the bytes read can refuse it."""
    environ = Path("/proc/self/environ")
    if not environ.is_file() or environ.stat().st_size != 0 or len(environ.read_bytes()) < 200:
        pytest.skip("needs a Linux /proc whose environ reports size 0")
    engine = Engine(local_roots=["/proc/self"])
    engine.query("CREATE SCHEMA my_dataset")
    monkeypatch.setattr(limits, "MAX_SERIALIZED_BYTES", 100)
    with pytest.raises(LimitError, match=r"ONNX model files grew while being copied \(/proc/self/environ\)"):
        create(engine, str(environ))
    root = engine._services.models.root
    assert [p for p in root.rglob("*") if p.is_file()] == []  # the partial copy is gone
    copied = list((root / STAGING).glob("*/*")) if (root / STAGING).exists() else []
    assert copied == []
    engine.close()


def test_a_model_copy_reads_at_most_the_budget(tmp_path: Path):
    """The copy function alone: a file larger than what is left of the limit stops past the budget."""
    from bqml_magic.storage.uris import BucketMap

    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "w.bin").write_bytes(b"x" * 1000)
    location = BucketMap({"b": tmp_path / "src"}).resolve("gs://b/w.bin")
    assert models._copy_file(location, tmp_path / "copy.bin", 10) == 11  # the caller refuses it
    assert (tmp_path / "copy.bin").stat().st_size <= 10


# -- validation before replacing ------------------------------------------------------------------
@pytest.mark.integration
def test_replacing_with_a_savedmodel_that_cannot_load_keeps_the_old_model(scorer: Engine, photos: Path):
    import tensorflow as tf

    class Scaled(tf.Module):
        def __init__(self):
            self.w = tf.Variable(2.0)

        @tf.function(input_signature=[tf.TensorSpec([None], tf.float32, name="x")])
        def serve(self, x):
            return {"y": x * self.w}

    broken = photos / "models" / "broken"
    module = Scaled()
    tf.saved_model.save(module, str(broken), signatures={"serving_default": module.serve})
    shutil.rmtree(broken / "variables")  # saved_model.pb alone: its variables cannot be restored
    before = scorer.query(PREDICT.format(model="scorer"))
    root = scorer._services.models.root
    folders = model_folders(root)
    with pytest.raises(ModelError, match=r"TensorFlow cannot load the SavedModel") as raised:
        create(scorer, "gs://my_bucket/models/broken/*", "scorer", "TENSORFLOW", replace=True)
    assert "bqml_models_" not in str(raised.value)  # the user's path, never the frozen copy's
    assert scorer.describe_model("my_dataset.scorer").model_type == "ONNX"
    assert model_folders(root) == folders and not any((root / STAGING).glob("*"))
    assert scorer.query(PREDICT.format(model="scorer")).equals(before)


def test_a_created_model_is_loaded_once(scorer: Engine, monkeypatch):
    from bqml_magic.runtimes import registry

    def no_second_load(*args):
        raise AssertionError("ML.PREDICT loaded the model again")

    monkeypatch.setattr(registry, "load_model", no_second_load)
    assert len(scorer.query(PREDICT.format(model="scorer"))) == 2


# -- crash safety ---------------------------------------------------------------------------------------
def test_leftovers_are_removed_when_a_workspace_opens(photos: Path, scorer_model: Path, tmp_path: Path):
    workspace = tmp_path / "ws"
    engine = Engine(workspace=workspace, buckets={"my_bucket": photos})
    engine.query("CREATE SCHEMA my_dataset")
    create(engine, "gs://my_bucket/models/scorer.onnx", "kept")
    engine.close()
    root = workspace / "models"
    kept = model_folders(root)
    (root / STAGING / "0123abcd" / "variables").mkdir(parents=True)
    (root / "my_dataset" / "orphan-0123456789ab").mkdir()
    (root / "gone_dataset" / "m-0123456789ab").mkdir(parents=True)
    reopened = Engine(workspace=workspace, buckets={"my_bucket": photos})
    assert model_folders(root) == kept and list((root / STAGING).iterdir()) == []
    assert reopened.describe_model("my_dataset.kept").model_type == "ONNX"
    reopened.close()


KILLED_SCRIPT = textwrap.dedent("""
    import sys, time
    from bqml_magic import Engine
    from bqml_magic.catalog import models
    from bqml_magic.runtimes import registry

    workspace, bucket, phase = sys.argv[1:4]
    engine = Engine(workspace=workspace, buckets={"my_bucket": bucket})
    engine.query('''CREATE SCHEMA my_dataset;
        CREATE EXTERNAL TABLE my_dataset.object_table OPTIONS(object_metadata = 'SIMPLE', uris = ['gs://my_bucket/*']);
        CREATE MODEL my_dataset.kept OPTIONS(model_type = 'ONNX', model_path = 'gs://my_bucket/models/scorer.onnx')''')

    def stall():
        print("stalled", flush=True)
        time.sleep(600)

    if phase == "copy":  # killed with one file copied and the rest to go
        copy_file = models._copy_file
        models._copy_file = lambda *args: (copy_file(*args), stall())[0]
    else:  # killed with the copy complete and renamed into place, not yet recorded
        registry.load_model = lambda *args: stall()
    engine.query("CREATE MODEL my_dataset.slow OPTIONS(model_type = 'ONNX', model_path = 'gs://my_bucket/models/*')")
""")


@pytest.mark.parametrize("phase", ["copy", "load"])
def test_kill_9_during_create_model_leaves_nothing_behind(photos: Path, scorer_model: Path, tmp_path: Path, phase):
    for n in range(3):
        (photos / "models" / f"extra_{n}.bin").write_bytes(b"w" * 1000)
    workspace = tmp_path / "ws"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    child = subprocess.Popen(
        [sys.executable, "-c", KILLED_SCRIPT, str(workspace), str(photos), phase],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        ready, _, _ = select.select([child.stdout], [], [], 60)
        line = child.stdout.readline() if ready else ""
        assert line.strip() == "stalled", (
            f"the child did not reach the {phase} step: {child.stderr.read() if child.poll() is not None else ''}"
        )
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.kill()
        child.communicate()
    root = workspace / "models"
    left = [p.name for p in (root / STAGING).iterdir()] if phase == "copy" else model_folders(root)
    assert len(left) == (1 if phase == "copy" else 2), f"nothing was left to clean up: {left}"  # the test's premise
    engine = Engine(workspace=workspace, buckets={"my_bucket": photos})
    assert model_folders(root) == [p for p in model_folders(root) if p.startswith("my_dataset/kept-")]
    assert len(model_folders(root)) == 1 and list((root / STAGING).iterdir()) == []
    assert engine.table_kind("my_dataset.slow") is None
    assert len(engine.query(PREDICT.format(model="kept"))) == 2
    engine.close()
