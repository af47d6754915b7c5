"""One access policy for every file SQL can name (docs/behaviour.md#access-policy).

Objects (``uris``, the ``data`` pseudocolumn, ``md5_hash``, previews) and ``model_path`` come
only from mapped buckets and from local roots the user allowed; by default no local root, so
SQL written elsewhere cannot read ``/etc``, ``/proc`` or ``/dev``. Each refusal is a
StorageError that names the URI and says how to allow a folder. Real files throughout.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from bqml_magic import Engine
from bqml_magic.errors import BQMLError, LimitError, StorageError
from bqml_magic.storage import reader

OUTSIDE = r"is outside the allowed local roots \(allowed: none\).*Engine\(local_roots=.*engine\.mount\('bucket'"
NOT_READ = r"URIs are not read here\. Objects and models come from object stores \(gs://, s3://"


def table(engine: Engine, uris: str) -> None:
    engine.query(f"CREATE OR REPLACE EXTERNAL TABLE my_dataset.t OPTIONS(object_metadata = 'SIMPLE', uris = [{uris}])")


@pytest.mark.parametrize(
    ("uri", "error", "message"),
    [
        ("/etc/passwd", StorageError, "/etc/passwd " + OUTSIDE),
        ("/etc/*", StorageError, r"/etc/\* " + OUTSIDE),
        ("file:///etc/hostname", StorageError, "file:///etc/hostname " + OUTSIDE),
        ("file:///etc/*", StorageError, r"file:///etc/\* " + OUTSIDE),
        ("/dev/zero", StorageError, "/dev/zero " + OUTSIDE),
        ("/proc/self/environ", StorageError, "/proc/self/environ " + OUTSIDE),
        ("../*", StorageError, r"\.\./\* " + OUTSIDE),
        ("notes.txt", StorageError, "notes.txt " + OUTSIDE),
        ("http://x/*", StorageError, r"http://x/\*: http:// " + NOT_READ),
        ("https://example.com/a.jpg", StorageError, "https://example.com/a.jpg: https:// " + NOT_READ),
        ("memory://bucket/a.jpg", StorageError, "memory:// " + NOT_READ),
        ("az://container/*", StorageError, r"az://container/\*: az:// " + NOT_READ),
        ("gs://my_bucket/" + "a" * 300, StorageError, r"gs://my_bucket/a{300} cannot be a local file: .* 300 bytes"),
        ("gs://my_bucket/x/" + "b" * 256 + "/*", StorageError, r"256 bytes long, and file systems allow at most 255"),
        ("gs://my_bucket/a\x00b.jpg", StorageError, r"'gs://my_bucket/a\\x00b.jpg' contains a NUL byte"),
    ],
)
def test_uris_outside_the_policy_are_refused(engine: Engine, uri, error, message):
    with pytest.raises(error, match=message):
        table(engine, repr(uri))
    assert engine.table_kind("my_dataset.t") is None


@pytest.mark.parametrize(
    ("model_path", "message"),
    [
        ("/dev/zero", "/dev/zero " + OUTSIDE),
        ("/proc/self/environ", "/proc/self/environ " + OUTSIDE),
        ("file:///etc/hostname", "file:///etc/hostname " + OUTSIDE),
        ("/etc/*", "/etc " + OUTSIDE),
        ("http://x/model.onnx", "http://x/model.onnx: http:// " + NOT_READ),
        ("gs://my_bucket/" + "m" * 300 + ".onnx", "cannot be a local file"),
        ("gs://my_bucket/m\x00.onnx", "contains a NUL byte"),
    ],
)
def test_model_paths_outside_the_policy_are_refused(engine: Engine, model_path, message):
    with pytest.raises(StorageError, match=message) as raised:
        engine.query(f"CREATE MODEL my_dataset.m OPTIONS(model_type = 'ONNX', model_path = {model_path!r})")
    assert str(raised.value).startswith("CREATE MODEL my_dataset.m (model_path '")
    assert engine.table_kind("my_dataset.m") is None


@pytest.mark.parametrize(
    ("uri", "message"),
    [
        ("/etc/passwd", OUTSIDE),
        ("/proc/self/environ", OUTSIDE),
        ("/dev/zero", OUTSIDE),
        ("file:///etc/hostname", OUTSIDE),
        ("http://x/a.jpg", NOT_READ),
        ("gs://my_bucket/" + "a" * 300, "255 bytes"),
        ("gs://my_bucket/a\x00b", "NUL byte"),
        ("gs://my_bucket/photos", r"Object gs://my_bucket/photos is a folder"),
        ("gs://my_bucket/none.jpg", r"Object gs://my_bucket/none.jpg does not exist"),
    ],
)
def test_previews_follow_the_same_policy(engine: Engine, uri, message):
    with pytest.raises(StorageError, match=message):
        engine.read_uri(uri)


def test_in_a_notebook_the_way_out_is_the_magic(shell):
    """The same refusal, in the notebook's own terms: a %bqml line, not an Engine argument."""
    shell.run_cell("%%bqml\nCREATE SCHEMA d")
    with pytest.raises(
        StorageError, match=r"outside the allowed local roots.*%bqml mount bucket=/folder.*context\.local_roots"
    ):
        shell.run_cell("%%bqml\nCREATE EXTERNAL TABLE d.t OPTIONS(object_metadata = 'SIMPLE', uris = ['/etc/*'])")


def test_allowed_local_roots_are_read_and_confined(photos: Path, tmp_path: Path):
    outside = tmp_path / "outside.txt"
    outside.write_text("secret")
    os.symlink(outside, photos / "photos" / "link.txt")
    engine = Engine(local_roots=[photos / "photos"])
    engine.query(
        f"""CREATE SCHEMA d;
        CREATE EXTERNAL TABLE d.local OPTIONS(object_metadata = 'SIMPLE', uris = ['{photos}/photos/*.jpg']);
        CREATE EXTERNAL TABLE d.uri OPTIONS(object_metadata = 'SIMPLE', uris = ['file://{photos}/photos/more/*'])"""
    )
    assert engine.query("SELECT uri FROM d.local").uri.tolist() == [f"{photos}/photos/grace_hopper.jpg"]
    assert engine.query("SELECT LENGTH(data) AS n FROM d.uri").n[0] > 0
    refusals = {
        f"{photos}/photos/link.txt": r"resolves \(through a symlink\) outside the allowed local roots",
        f"{photos}/photos/../notes.txt": r"is outside the allowed local roots \(allowed: .*/photos\)",
        f"{photos}/notes.txt": "is outside the allowed local roots",
    }
    for uri, message in refusals.items():
        with pytest.raises(StorageError, match=re.escape(uri) + " " + message):
            engine.read_uri(uri)
    engine.close()


def test_a_path_inside_a_mounted_bucket_says_its_gs_name(photos: Path):
    engine = Engine(buckets={"my_bucket": photos})
    with pytest.raises(StorageError, match=r"it is in bucket 'my_bucket': name it gs://my_bucket/notes\.txt"):
        engine.read_uri(str(photos / "notes.txt"))
    engine.close()


def test_local_roots_must_exist(tmp_path: Path):
    with pytest.raises(StorageError, match=r"Cannot allow local root: folder .*nowhere.* does not exist"):
        Engine(local_roots=[tmp_path / "nowhere"])


def test_context_local_roots_reach_the_engine(shell, photos: Path):
    from bqml_magic.config import context

    context.local_roots = [str(photos)]
    shell.run_cell(
        f"""%%bqml n
        CREATE SCHEMA d;
        CREATE EXTERNAL TABLE d.notes OPTIONS(object_metadata = 'SIMPLE', uris = ['{photos}/notes.txt']);
        SELECT LENGTH(data) AS n FROM d.notes"""
    )
    assert shell.user_ns["n"].n.tolist() == [len("not an image")]


def test_reads_stop_at_the_limit_whatever_st_size_says(monkeypatch):
    """``/proc`` files report size 0: the bytes read decide, not ``st_size``, and no more than the limit is read."""
    environ = "/proc/self/environ"
    if not os.path.isfile(environ) or os.stat(environ).st_size != 0 or len(Path(environ).read_bytes()) < 200:
        pytest.skip("needs a Linux /proc whose environ reports size 0")
    engine = Engine(local_roots=["/proc/self"])
    engine.query(
        f"CREATE SCHEMA d; CREATE EXTERNAL TABLE d.p OPTIONS(object_metadata = 'SIMPLE', uris = ['{environ}'])"
    )
    assert engine.query("SELECT size FROM d.p")["size"].tolist() == [0]
    monkeypatch.setattr(reader, "MAX_INFERENCE_FILE_BYTES", 100)
    with pytest.raises(LimitError, match=r"/proc/self/environ holds 100 bytes or more .* must be under 100"):
        engine.query("SELECT ML.DECODE_IMAGE(data) AS image FROM d.p")
    monkeypatch.setattr(reader, "MAX_PREVIEW_BYTES", 100)
    read: list[int] = []
    os_read = os.read

    def counted(fd: int, n: int) -> bytes:
        chunk = os_read(fd, n)
        if os.readlink(f"/proc/self/fd/{fd}").endswith("/environ"):  # only this file's reads count
            read.append(len(chunk))
        return chunk

    monkeypatch.setattr(os, "read", counted)
    with pytest.raises(LimitError, match=r"/proc/self/environ holds 100 bytes or more .* previews must be under 100"):
        engine.read_uri(environ)
    assert sum(read) == 100
    engine.close()


def test_every_refusal_is_a_bqml_error_without_python_names(engine: Engine):
    for uri in ["/etc/passwd", "http://x/*", "gs://my_bucket/" + "a" * 300, "gs://my_bucket/a\x00b"]:
        with pytest.raises(BQMLError) as raised:
            table(engine, repr(uri))
        assert not re.search(r"Errno|OSError|ValueError|ImportError", str(raised.value))
