"""No query takes the machine down: image work in DuckDB runs on small chunks, every kernel call
reserves its peak from one budget, and image sizes are bounded before pixels are allocated."""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
import sys
import textwrap
import threading
import zlib
from pathlib import Path

import pytest

from bqml_magic import Engine
from bqml_magic.errors import Cancelled, ImageError, LimitError
from bqml_magic.memory import MemoryBudget, PixelPool, parse_size

CREATE = """CREATE SCHEMA d;
CREATE EXTERNAL TABLE d.t OPTIONS(object_metadata = 'SIMPLE', uris = ['gs://b/*'])"""
WHERE_DECODE = "SELECT uri FROM d.t WHERE ARRAY_LENGTH(ML.DECODE_IMAGE(data).dimensions) = 3"


def png_bomb(path: Path, side: int) -> Path:
    """A valid grey-free RGB PNG of side x side black pixels, compressed to almost nothing,
    written without ever holding its pixels (the rows are zlib-streamed)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    compressor, row = zlib.compressobj(9), b"\0" * (1 + 3 * side)
    idat = b"".join(compressor.compress(row) for _ in range(side)) + compressor.flush()
    header = struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b""))
    return path


def linked_photos(folder: Path, photo: Path, count: int) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        os.link(photo, folder / f"{i:05d}{photo.suffix}")
    return folder


@pytest.fixture
def hopper(photos: Path) -> Path:
    return photos / "photos" / "grace_hopper.jpg"  # 512 x 600: 7.4 MB of FLOAT64 values


def test_where_decodes_a_few_rows_at_a_time(tmp_path, hopper):
    """30 photos in one 2048-row DuckDB chunk would hold 220 MB; the budget's per-call share is 112 MB."""
    engine = Engine(buckets={"b": linked_photos(tmp_path / "b", hopper, 30)}, memory_budget="300MB")
    engine.query(CREATE)
    assert len(engine.query(WHERE_DECODE)) == 30
    assert len(engine.query(f"SELECT COUNT(*) AS n FROM ({WHERE_DECODE})")) == 1


def test_streamed_object_tables_compute_md5_only_when_asked(engine, monkeypatch):
    """Only the listing streams; ``md5_hash`` (which reads every file) stays lazy."""
    from bqml_magic.storage.objects import ObjectStore

    def refuse(*_: object) -> str:
        raise AssertionError("md5 computed")

    monkeypatch.setattr(ObjectStore, "md5", refuse)
    where = "ARRAY_LENGTH(ML.DECODE_IMAGE(data).dimensions) = 3 AND uri LIKE '%.jpg'"
    assert len(engine.query(f"SELECT uri, size, ref.uri AS r FROM my_dataset.object_table WHERE {where}")) == 1
    with pytest.raises(AssertionError, match="md5 computed"):
        engine.query(f"SELECT md5_hash FROM my_dataset.object_table WHERE {where}")


def test_a_chunk_too_big_for_the_budget_is_an_error_not_an_out_of_memory_kill(tmp_path, hopper):
    engine = Engine(buckets={"b": linked_photos(tmp_path / "b", hopper, 8)}, memory_budget="64MiB")
    engine.query(CREATE)
    with pytest.raises(LimitError, match=r"rows of ML.DECODE_IMAGE evaluated together in SQL hold over 22 MB"):
        engine.query(WHERE_DECODE)


@pytest.mark.parametrize("where", [False, True])
@pytest.mark.parametrize(
    ("size", "error", "message"),
    [
        ("4294967296, 2", ImageError, "between 1 and 2147483647"),
        ("0, 2", ImageError, "between 1 and 2147483647"),
        ("5000, 5000", LimitError, r"600,000,000 bytes of FLOAT64 values; an image may hold at most 62,914,560"),
    ],
)
def test_resize_targets_are_bounded_before_any_pixel_is_allocated(engine, where, size, error, message):
    call = f"ML.RESIZE_IMAGE(ML.DECODE_IMAGE(data), {size}, FALSE)"
    sql = f"SELECT uri FROM my_dataset.object_table WHERE uri LIKE '%.jpg' AND ARRAY_LENGTH({call}.dimensions) = 3"
    with pytest.raises(error, match=message) as caught:
        engine.query(sql if where else f"SELECT {call} AS image FROM my_dataset.object_table WHERE uri LIKE '%.jpg'")
    assert caught.value.function == "ML.RESIZE_IMAGE"


def test_a_decompression_bomb_waits_for_the_budget_or_says_how_to_raise_it(tmp_path):
    png_bomb(tmp_path / "bomb.png", 13000)  # 507 MB of pixels from a 0.5 MB file
    engine = Engine(buckets={"b": tmp_path}, memory_budget="1GB")
    engine.query(CREATE)
    with pytest.raises(LimitError, match=r"needs about 2,1\d\d MB at once; image work may hold 656 MB.*memory_budget"):
        engine.query("SELECT ML.DECODE_IMAGE(data) AS image FROM d.t")


def test_pixel_pool_serialises_what_does_not_fit_together():
    pool = PixelPool(100)
    entered = threading.Event()

    def second() -> None:
        with pool.reserve(60):
            entered.set()

    with pool.reserve(60):
        waiting = threading.Thread(target=second)
        waiting.start()
        assert not entered.wait(0.3)  # 60 + 60 > 100: it waits for the first
    assert entered.wait(10)
    waiting.join()


def test_pixel_pool_refuses_what_could_never_fit_and_stops_waiting_on_cancel():
    cancel = threading.Event()
    pool = PixelPool(100, cancel)
    with pytest.raises(LimitError, match="needs about"), pool.reserve(101):
        pass
    with pool.reserve(80):
        cancel.set()
        with pytest.raises(Cancelled), pool.reserve(30):
            pass


@pytest.mark.parametrize(
    ("given", "size"), [(2**30, 2**30), ("4GB", 4 * 10**9), ("512 MiB", 512 * 2**20), ("1.5gib", 3 * 2**29)]
)
def test_budget_sizes(given, size):
    assert parse_size(given) == size
    budget = MemoryBudget.of(given)
    assert budget.duckdb + budget.reads + budget.pixels.capacity == size


@pytest.mark.parametrize("given", ["lots", "-1GB", "10MB", True])
def test_bad_budget_sizes(given):
    with pytest.raises(LimitError):
        parse_size(given)


def test_duckdb_gets_its_share_of_the_budget():
    engine = Engine(memory_budget="2GiB")  # user SQL cannot call current_setting: ask the connection
    assert engine._services.con.execute("SELECT current_setting('memory_limit')").fetchone() == ("512.0 MiB",)


@pytest.mark.slow
def test_under_a_hard_memory_limit(tmp_path, sample_set):
    """2,000 photos decoded in a WHERE and four decompression bombs, in a process whose data
    segment may not pass 4 GB (DuckDB and the allocators reserve about 2 GB of it up front;
    the resident set stays far below): before the memory budget, the WHERE alone needed 35 GB."""
    photos = sorted((sample_set.bucket / "photos").iterdir())
    bucket = tmp_path / "b"
    bucket.mkdir()
    for i in range(2000):
        os.link(photos[i % len(photos)], bucket / f"{i:05d}{photos[i % len(photos)].suffix}")
    bombs = tmp_path / "bombs"
    bombs.mkdir()
    for i in range(4):
        png_bomb(bombs / f"bomb{i}.png", 13000) if i == 0 else shutil.copy(bombs / "bomb0.png", bombs / f"bomb{i}.png")
    script = textwrap.dedent(
        f"""
        import resource
        resource.setrlimit(resource.RLIMIT_DATA, ({4 * 2**30}, {4 * 2**30}))
        from bqml_magic import Engine, errors
        engine = Engine(buckets={{"b": {str(bucket)!r}, "bombs": {str(bombs)!r}}}, memory_budget="512MB")
        engine.query({CREATE!r})
        print(len(engine.query({WHERE_DECODE!r})))
        engine.query("CREATE EXTERNAL TABLE d.bombs OPTIONS(object_metadata = 'SIMPLE', uris = ['gs://bombs/*'])")
        try:
            engine.query("SELECT uri, ML.DECODE_IMAGE(data).dimensions AS dims FROM d.bombs")
        except errors.LimitError as exc:
            print("refused:", exc)
        """
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    rows, refused = done.stdout.strip().splitlines()
    assert rows == "2000"
    assert refused.startswith("refused: This image needs about") and "bombs/bomb" in refused
