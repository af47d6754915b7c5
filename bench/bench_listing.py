"""Object-table listing speed: CREATE EXTERNAL TABLE + a query over N files.

    .venv/bin/python bench/bench_listing.py [N]     (default 100,000 empty files)

Prints the median of 5 runs, in seconds per 10,000 files, for: creating the table (first
listing), re-listing on a query (no max_staleness: BigQuery re-reads metadata each query),
and a query against a cached listing (max_staleness with MANUAL mode). Reads no file content.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

from bqml_magic import Engine


def make_files(root: Path, count: int) -> None:
    for i in range(count):
        folder = root / f"part{i // 1000:04d}"
        if i % 1000 == 0:
            folder.mkdir()
        (folder / f"img{i:07d}.jpg").touch()


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main(count: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        make_files(Path(tmp), count)
        eng = Engine(buckets={"b": tmp})
        eng.query("CREATE SCHEMA d")
        create = "CREATE OR REPLACE EXTERNAL TABLE d.{} OPTIONS(object_metadata='SIMPLE', uris=['gs://b/*']{})"
        cached = ", max_staleness=INTERVAL 1 DAY, metadata_cache_mode='MANUAL'"
        count_sql = "SELECT COUNT(*) AS n, SUM(size) AS s FROM d.{} WHERE content_type = 'image/jpeg'"
        runs: dict[str, list[float]] = {
            "create (first listing)": [],
            "query, re-listed": [],
            "query, cached listing": [],
        }
        for _ in range(5):
            runs["create (first listing)"].append(timed(lambda: eng.query(create.format("live", ""))))
            eng.query(create.format("cached", cached))
            runs["query, re-listed"].append(timed(lambda: eng.query(count_sql.format("live"))))
            runs["query, cached listing"].append(timed(lambda: eng.query(count_sql.format("cached"))))
        assert eng.query("SELECT COUNT(*) AS n FROM d.live").n[0] == count
        print(f"{count:,} files, median of 5 runs")
        for label, seconds in runs.items():
            median = statistics.median(seconds)
            print(f"  {label:24s} {median:7.3f} s total   {median / count * 10_000:6.3f} s per 10,000 files")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 100_000)
