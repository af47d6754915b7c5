"""Only regular files are objects; OS errors name the uri; metadata is not inference; cache names are distinct.

docs/behaviour.md#access-policy. Real FIFOs, symlinks and sparse files in the ``photos`` bucket
folder; every query that could block on a FIFO runs in a thread joined with a timeout, and a
hung reader is released by opening the FIFO's write end, so a regression fails instead of
hanging the suite.
"""

from __future__ import annotations

import base64
import hashlib
import os
import threading
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from bqml_magic import Engine
from bqml_magic.catalog.object_tables import ListingWarning
from bqml_magic.errors import LimitError, StorageError

PROMPT_SECONDS = 20


def promptly(action: Callable[[], Any], fifo: Path | None = None) -> Any:
    """``action()``'s result, or the BQMLError it raised; fails if it has not finished within PROMPT_SECONDS."""
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["value"] = action()
        except BaseException as exc:
            outcome["value"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(PROMPT_SECONDS)
    hung = thread.is_alive()
    if hung and fifo is not None:  # let the blocked open()/read() return, so the process can exit
        fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
        os.close(fd)
        thread.join(5)
    assert not hung, f"still running after {PROMPT_SECONDS} s (blocked on a FIFO?)"
    return outcome["value"]


def table(engine: Engine, name: str, *uris: str, options: str = "") -> None:
    engine.query(
        f"CREATE OR REPLACE EXTERNAL TABLE {name} OPTIONS(object_metadata = 'SIMPLE', uris = {list(uris)!r}{options})"
    )


def listed(engine: Engine, name: str = "my_dataset.object_table") -> list[str]:
    return engine.query(f"SELECT uri FROM {name} ORDER BY uri").uri.tolist()


CACHED = ", max_staleness = INTERVAL 1 DAY, metadata_cache_mode = 'MANUAL'"
PHOTOS = ["gs://my_bucket/notes.txt", "gs://my_bucket/photos/grace_hopper.jpg", "gs://my_bucket/photos/more/coffee.png"]


# -- FIFOs, devices, sockets -----------------------------------------------------------------
def test_a_fifo_is_not_an_object_of_a_wildcard_listing(engine: Engine, photos: Path):
    os.mkfifo(photos / "photos" / "pipe.jpg")
    assert promptly(lambda: listed(engine), photos / "photos" / "pipe.jpg") == PHOTOS


def test_a_fifo_named_explicitly_is_an_error(engine: Engine, photos: Path):
    fifo = photos / "pipe.jpg"
    os.mkfifo(fifo)
    error = promptly(lambda: table(engine, "my_dataset.one", "gs://my_bucket/pipe.jpg"), fifo)
    assert isinstance(error, StorageError)
    assert str(error).endswith("Object gs://my_bucket/pipe.jpg is a FIFO (named pipe): only regular files are read")
    assert engine.table_kind("my_dataset.one") is None


@pytest.mark.parametrize(
    "query",
    [
        "SELECT ML.DECODE_IMAGE(data) AS image FROM my_dataset.cached",
        "SELECT uri, data FROM my_dataset.cached",
        "SELECT md5_hash FROM my_dataset.cached",
    ],
)
def test_a_file_replaced_by_a_fifo_fails_promptly_when_read(engine: Engine, photos: Path, query):
    """A cached listing still names the file; reading it must not wait for a writer that never comes."""
    table(engine, "my_dataset.cached", "gs://my_bucket/photos/*.jpg", options=CACHED)
    jpeg = photos / "photos" / "grace_hopper.jpg"
    jpeg.unlink()
    os.mkfifo(jpeg)
    error = promptly(lambda: engine.query(query), jpeg)
    assert isinstance(error, StorageError), error
    assert "Object gs://my_bucket/photos/grace_hopper.jpg is a FIFO (named pipe)" in str(error)
    error = promptly(lambda: engine.read_uri("gs://my_bucket/photos/grace_hopper.jpg"), jpeg)
    assert isinstance(error, StorageError) and "is a FIFO" in str(error)


def test_a_unix_socket_is_not_an_object(engine: Engine, photos: Path, monkeypatch):
    import socket

    monkeypatch.chdir(photos / "photos")  # AF_UNIX paths are limited to ~107 bytes: bind a relative one
    server = socket.socket(socket.AF_UNIX)
    try:
        server.bind("s.sock")
        assert listed(engine) == PHOTOS
        with pytest.raises(StorageError, match=r"Object gs://my_bucket/photos/s\.sock is a socket"):
            table(engine, "my_dataset.one", "gs://my_bucket/photos/s.sock")
    finally:
        server.close()


# -- symlinks ---------------------------------------------------------------------------------
def test_symlink_loops_are_named_and_do_not_stop_the_listing(engine: Engine, photos: Path):
    os.symlink("loop.jpg", photos / "photos" / "loop.jpg")
    with pytest.warns(ListingWarning, match=r"gs://my_bucket/photos/loop\.jpg cannot be read: it is a symlink loop"):
        assert listed(engine) == PHOTOS
    with pytest.raises(StorageError, match=r"Object gs://my_bucket/photos/loop\.jpg cannot be read: .*symlink loop"):
        table(engine, "my_dataset.one", "gs://my_bucket/photos/loop.jpg")
    with pytest.raises(StorageError, match=r"gs://my_bucket/photos/loop\.jpg cannot be read: .*symlink loop"):
        engine.read_uri("gs://my_bucket/photos/loop.jpg")


def test_a_symlink_back_up_the_tree_lists_each_file_once(engine: Engine, photos: Path):
    os.symlink("..", photos / "photos" / "more" / "up")
    os.symlink(".", photos / "here")
    assert promptly(lambda: listed(engine)) == PHOTOS


def test_a_symlink_to_a_folder_inside_the_bucket_is_followed(engine: Engine, photos: Path):
    os.symlink("photos/more", photos / "alias")
    table(engine, "my_dataset.alias", "gs://my_bucket/alias/*")
    assert listed(engine, "my_dataset.alias") == ["gs://my_bucket/alias/coffee.png"]


def test_symlinks_escaping_the_bucket_are_left_out_and_named(engine: Engine, photos: Path, tmp_path: Path):
    (tmp_path / "secret").mkdir()
    (tmp_path / "secret" / "key.jpg").write_text("secret")
    os.symlink(tmp_path / "secret", photos / "photos" / "out")
    os.symlink(tmp_path / "secret" / "key.jpg", photos / "photos" / "key.jpg")
    with pytest.warns(ListingWarning, match=r"2 entries left out: gs://my_bucket/photos/key\.jpg is a symlink"):
        assert listed(engine) == PHOTOS
    for uri in ["gs://my_bucket/photos/key.jpg", "gs://my_bucket/photos/out/key.jpg"]:
        with pytest.raises(StorageError, match=f"{uri} resolves outside bucket folder"):
            engine.read_uri(uri)
        with pytest.raises(StorageError, match=f"{uri} resolves outside bucket folder"):
            table(engine, "my_dataset.one", uri)


def test_entries_outside_the_pattern_are_not_reported(engine: Engine, photos: Path):
    os.symlink("loop", photos / "loop")
    table(engine, "my_dataset.jpegs", "gs://my_bucket/photos/*.jpg")  # no warning: loop is not under photos/
    assert listed(engine, "my_dataset.jpegs") == ["gs://my_bucket/photos/grace_hopper.jpg"]


# -- names the file system cannot hold, unreadable entries ----------------------------------------
def test_a_too_deep_folder_is_left_out_and_named(engine: Engine, photos: Path):
    """A path over PATH_MAX (ENAMETOOLONG): the rest of the bucket is still listed."""
    fd = os.open(photos, os.O_RDONLY)
    try:
        for _ in range(18):  # 18 x 241 bytes > 4096
            os.mkdir("d" * 240, dir_fd=fd)
            inner = os.open("d" * 240, os.O_RDONLY, dir_fd=fd)
            os.close(fd)
            fd = inner
        os.close(os.open("deep.jpg", os.O_WRONLY | os.O_CREAT, dir_fd=fd))
    finally:
        os.close(fd)
    with pytest.warns(ListingWarning, match=r"1 entry left out: gs://my_bucket/d{240}/.* name is too long"):
        assert listed(engine) == PHOTOS


def test_a_name_that_is_not_utf8_is_left_out_and_named(engine: Engine, photos: Path):
    os.close(os.open(os.fsencode(photos / "photos") + b"/caf\xe9.jpg", os.O_WRONLY | os.O_CREAT))
    with pytest.warns(ListingWarning, match=r"gs://my_bucket/photos/caf\\udce9\.jpg is skipped: its name is not UTF-8"):
        assert listed(engine) == PHOTOS


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root reads any folder")
def test_an_unreadable_subfolder_is_left_out_and_named(engine: Engine, photos: Path):
    locked = photos / "photos" / "locked"
    locked.mkdir()
    (locked / "x.jpg").write_bytes(b"x")
    locked.chmod(0)
    try:
        with pytest.warns(ListingWarning, match=r"gs://my_bucket/photos/locked/ cannot be read: permission denied"):
            assert listed(engine) == PHOTOS
        with pytest.raises(StorageError, match=r"gs://my_bucket/photos/locked/x\.jpg cannot be read: permission"):
            engine.read_uri("gs://my_bucket/photos/locked/x.jpg")
    finally:
        locked.chmod(0o755)


@pytest.mark.parametrize(
    ("uri", "message"),
    [
        ("gs://my_bucket/" + "a" * 300, r"gs://my_bucket/a{300} cannot be a local file: .*255 bytes"),
        ("gs://my_bucket/photos/" + "x/" * 2100 + "a.jpg", r"is too long for a local path"),
        ("gs://my_bucket/a\x00b", r"'gs://my_bucket/a\\x00b' contains a NUL byte"),
        ("gs://my_bucket/notes.txt/x.jpg", r"gs://my_bucket/notes\.txt/x\.jpg does not exist"),
        ("gs://my_bucket/photos", r"gs://my_bucket/photos is a folder"),
    ],
)
def test_os_errors_name_the_uri_when_read(engine: Engine, uri, message):
    with pytest.raises(StorageError, match=message) as raised:
        engine.read_uri(uri)
    assert "Errno" not in str(raised.value)


def test_a_symlink_loop_as_the_listed_folder_is_an_error(engine: Engine, photos: Path):
    os.symlink("loop", photos / "loop")
    with pytest.raises(
        StorageError, match=r"Folder gs://my_bucket/loop/ \(uris entry 'gs://my_bucket/loop/\*'\) cannot"
    ):
        table(engine, "my_dataset.one", "gs://my_bucket/loop/*")


# -- metadata is not inference ------------------------------------------------------------------
def test_a_file_over_20_mb_has_metadata_but_no_inference(engine: Engine, photos: Path):
    big = photos / "photos" / "huge.jpg"
    with open(big, "wb") as fh:
        fh.truncate(21_000_000)  # sparse: 21 MB of zeros, none on disk
    expected = hashlib.md5()
    for _ in range(21):
        expected.update(bytes(1_000_000))
    tracemalloc.start()  # md5 digests are cached per object version: this query computes it first
    try:
        rows = engine.query("SELECT uri, size, md5_hash FROM my_dataset.object_table WHERE uri LIKE '%huge%'")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert rows.to_dict("records") == [
        {
            "uri": "gs://my_bucket/photos/huge.jpg",
            "size": 21_000_000,
            "md5_hash": base64.b64encode(expected.digest()).decode(),
        }
    ]
    assert peak < 8_000_000, f"md5_hash held {peak:,} bytes of Python memory: the file was read whole"
    assert len(engine.query("SELECT * FROM my_dataset.object_table")) == 4
    with pytest.raises(LimitError, match=r"gs://my_bucket/photos/huge\.jpg is 21,000,000 bytes; .* under 20,000,000"):
        engine.query("SELECT ML.DECODE_IMAGE(data) AS image FROM my_dataset.object_table WHERE uri LIKE '%huge%'")


# -- listing caches of distinct tables are distinct --------------------------------------------------
@pytest.mark.parametrize(
    ("first", "second"),
    [("a.b__c", "a__b.c"), ("d.`x-y`", "d.x_y"), ("a.`b c`", "a.`b-c`")],
)
def test_listing_caches_of_distinct_tables_do_not_collide(engine: Engine, first, second):
    """Cached listings (MANUAL) are read as stored: a shared cache table would show the other table's rows."""
    engine.query("CREATE SCHEMA IF NOT EXISTS a; CREATE SCHEMA IF NOT EXISTS a__b; CREATE SCHEMA IF NOT EXISTS d")
    table(engine, first, "gs://my_bucket/photos/*", options=CACHED)
    table(engine, second, "gs://my_bucket/notes.txt", options=CACHED)
    assert listed(engine, first) == PHOTOS[1:]
    assert listed(engine, second) == PHOTOS[:1]
    engine.query(f"DROP TABLE {second}")
    assert listed(engine, first) == PHOTOS[1:]
