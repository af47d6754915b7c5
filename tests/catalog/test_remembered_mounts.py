"""A workspace remembers where its buckets live on this machine: a kernel restart loses nothing.

The mappings are kept per user, outside the workspace (storage/mounts.py): a workspace copied
from elsewhere brings its tables but never a mapping onto this machine's folders.
"""

from __future__ import annotations

import shutil

import pytest
from IPython.utils.capture import capture_output

from bqml_magic import Engine, errors
from bqml_magic.config import context
from bqml_magic.errors import NotFoundError
from bqml_magic.storage.remote import RemoteStores

TABLE = """CREATE SCHEMA d;
CREATE EXTERNAL TABLE d.photos OPTIONS(object_metadata = 'SIMPLE', uris = ['gs://team_photos/photos/*'])"""
COUNT = "SELECT COUNT(*) AS n FROM d.photos WHERE ML.DECODE_IMAGE(data) IS NOT NULL"


def test_a_new_engine_on_the_workspace_mounts_its_buckets_again(tmp_path, photos):
    first = Engine(workspace=tmp_path / "ws", buckets={"team_photos": photos})
    first.query(TABLE)
    first.close()
    again = Engine(workspace=tmp_path / "ws")  # a restarted kernel: no mapping given
    assert again.buckets.buckets == {"team_photos": photos.resolve()}
    assert again.query(COUNT)["n"].tolist() == [2]
    again.close()


def test_a_later_mount_replaces_the_remembered_folder(tmp_path, photos):
    elsewhere = tmp_path / "elsewhere"
    shutil.copytree(photos, elsewhere)
    Engine(workspace=tmp_path / "ws", buckets={"team_photos": photos}).close()
    eng = Engine(workspace=tmp_path / "ws")
    eng.mount("team_photos", elsewhere)
    eng.close()
    assert Engine(workspace=tmp_path / "ws").buckets.buckets == {"team_photos": elsewhere.resolve()}


def test_a_copied_workspace_brings_no_mapping(tmp_path, photos):
    eng = Engine(workspace=tmp_path / "ws", buckets={"team_photos": photos})
    eng.query(TABLE)
    eng.close()
    shutil.copytree(tmp_path / "ws", tmp_path / "copy")
    copy = Engine(workspace=tmp_path / "copy")
    assert copy.buckets.buckets == {}
    assert copy.table_kind("d.photos") is not None  # its tables came along
    copy.close()


def test_a_remembered_folder_that_is_gone_is_left_out(tmp_path, photos):
    folder = tmp_path / "gone"
    shutil.copytree(photos, folder)
    Engine(workspace=tmp_path / "ws", buckets={"team_photos": folder, "kept": photos}).close()
    shutil.rmtree(folder)
    eng = Engine(workspace=tmp_path / "ws")
    assert eng.buckets.buckets == {"kept": photos.resolve()}
    eng.close()


def test_an_in_memory_engine_remembers_nothing(tmp_path, photos):
    Engine(buckets={"team_photos": photos}).close()
    assert Engine(workspace=tmp_path / "ws").buckets.buckets == {}


def test_after_a_kernel_restart_the_notebook_still_reads_its_bucket(shell, tmp_path, photos):
    shell.run_cell(f"%bqml workspace {tmp_path / 'ws'}")
    shell.run_cell(f"%bqml mount team_photos={photos}")
    shell.run_cell(f"%%bqml\n{TABLE}")
    context.close()  # the kernel restarts: a new engine, no mapping in the session
    context.buckets.clear()
    shell.run_cell(f"%%bqml n\n{COUNT}")
    assert shell.user_ns["n"]["n"].tolist() == [2]
    with capture_output() as cap:
        shell.run_cell("%bqml mount")
    assert cap.stdout.strip() == f"gs://team_photos -> {photos.resolve()}"


@pytest.mark.parametrize("notebook", [False, True])
def test_an_unmounted_bucket_suggests_mounting_it(notebook, monkeypatch):
    """A never-mounted gs:// bucket is read from Cloud Storage; when that fails, the way to a local copy."""
    monkeypatch.setattr(errors, "_notebook_magic", notebook)
    failure = RemoteStores().failure("gs://team_photos/a.jpg", FileNotFoundError("a.jpg"), "gs")
    assert str(failure).startswith("Object gs://team_photos/a.jpg does not exist")
    way = "%bqml mount team_photos=/local/folder" if notebook else "engine.mount('team_photos', '/local/folder')"
    assert str(failure).endswith(f"If gs://team_photos is a folder on this machine, mount it: {way}")


def test_the_first_query_on_an_empty_workspace_points_at_the_tutorial():
    with pytest.raises(NotFoundError) as caught:
        Engine().query("SELECT * FROM my_dataset.object_table")
    assert str(caught.value).startswith("Not found: Dataset my_dataset; this workspace has no datasets yet")
    assert "CREATE SCHEMA my_dataset" in str(caught.value)
    assert "notebooks/01_image_classification.ipynb" in str(caught.value)
