"""The content cache on its own: keys, generations, the size cap, what a killed writer leaves."""

from __future__ import annotations

import os
import time
from pathlib import Path

from bqml_magic.storage.cache import ContentCache


def entries(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file())


def test_an_entry_is_found_by_store_uri_and_generation_only(tmp_path: Path):
    cache = ContentCache(tmp_path)
    cache.put("store-a", "gs://b/x.jpg", 1, b"one")
    assert cache.get("store-a", "gs://b/x.jpg", 1) == b"one"
    assert cache.get("store-a", "gs://b/x.jpg", 2) is None  # another generation
    assert cache.get("store-b", "gs://b/x.jpg", 1) is None  # the same uri on another endpoint
    assert cache.get("store-a", "gs://b/y.jpg", 1) is None


def test_a_new_generation_replaces_the_old_one(tmp_path: Path):
    cache = ContentCache(tmp_path)
    cache.put("s", "gs://b/x.jpg", 1, b"old")
    cache.put("s", "gs://b/x.jpg", 2, b"new")
    assert cache.get("s", "gs://b/x.jpg", 2) == b"new" and cache.get("s", "gs://b/x.jpg", 1) is None
    assert len(entries(tmp_path)) == 1


def test_the_least_recently_used_go_first_past_the_cap(tmp_path: Path):
    cache = ContentCache(tmp_path, max_bytes=3_000)
    for i in range(3):
        cache.put("s", f"gs://b/{i}", 1, bytes(900))
        used = time.time() - 100 + i  # 0 used first, 2 last
        os.utime(cache._path("s", f"gs://b/{i}", 1), (used, used))
    assert cache.get("s", "gs://b/0", 1) is not None  # read now: the most recently used
    cache.put("s", "gs://b/3", 1, bytes(900))  # 3,600 bytes: over the cap, down to at most 2,700
    kept = {i for i in range(4) if cache.get("s", f"gs://b/{i}", 1) is not None}
    assert kept == {0, 2, 3}
    assert sum(p.stat().st_size for p in entries(tmp_path)) <= 2_700


def test_a_killed_writers_temporary_file_is_removed_when_old(tmp_path: Path):
    cache = ContentCache(tmp_path, max_bytes=10)
    cache.put("s", "gs://b/x", 1, b"12345")
    stale = cache._path("s", "gs://b/x", 1).with_name(".tmp-dead")
    stale.write_bytes(b"partial")
    os.utime(stale, (time.time() - 7200, time.time() - 7200))
    cache.put("s", "gs://b/y", 1, b"123456789")  # over the cap: the folder is scanned
    assert not stale.exists()


def test_an_unwritable_cache_only_costs_the_hit(tmp_path: Path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    cache = ContentCache(blocker / "cache")
    cache.put("s", "gs://b/x", 1, b"data")  # no error: the read itself succeeded
    assert cache.get("s", "gs://b/x", 1) is None
