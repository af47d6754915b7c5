"""Peak memory of image work that DuckDB itself evaluates, and of decompression bombs.

    .venv/bin/python bench/bench_memory.py [--images 2000] [--against /path/to/other/checkout]

Each case runs in a fresh process and prints its peak RSS (Linux VmHWM) above the RSS after
the engine opened and listed the bucket:
  - ``where``: ``SELECT uri FROM t WHERE ARRAY_LENGTH(ML.DECODE_IMAGE(data).dimensions) = 3``
    over N photos (the sample bucket's 10, hard-linked over and over);
  - ``bombs``: ``SELECT ML.DECODE_IMAGE(data)`` projection over four 13000 x 13000 PNGs of
    0.5 MB each (507 MB of pixels each once decoded), with the default memory budget or
    ``--budget``.
``--against`` runs the same cases with another checkout of the package on ``sys.path`` (say, a
``git worktree`` of the last release), side by side. A process that dies shows its exit code.
"""

from __future__ import annotations

import argparse
import io
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

QUERIES = {
    "where": "SELECT uri FROM d.t WHERE ARRAY_LENGTH(ML.DECODE_IMAGE(data).dimensions) = 3",
    "bombs": "SELECT uri, ML.DECODE_IMAGE(data).dimensions AS dims FROM d.t",
}


def make_photos(root: Path, count: int) -> None:
    from bqml_magic import samples

    photos = sorted((samples.build().bucket / "photos").iterdir())
    root.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        source = photos[i % len(photos)]
        os.link(source, root / f"{i:05d}{source.suffix}")


def make_bombs(root: Path, count: int) -> None:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (13000, 13000), (40, 80, 120)).save(buffer, "PNG")
    root.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        (root / f"bomb{i}.png").write_bytes(buffer.getvalue())


def probe(case: str, bucket: str, budget: str) -> None:
    """In this fresh process: open, list, reset the peak counter, run, print MB and seconds."""
    from bqml_magic import BQMLError, Engine

    engine = Engine(buckets={"b": bucket}, **({"memory_budget": budget} if budget else {}))
    engine.query("CREATE SCHEMA d; CREATE EXTERNAL TABLE d.t OPTIONS(object_metadata = 'SIMPLE', uris = ['gs://b/*'])")
    engine.query("SELECT COUNT(*) FROM d.t")
    baseline = _status_kb("VmRSS")
    Path("/proc/self/clear_refs").write_text("5")  # Linux: the peak restarts from the current RSS
    start = time.perf_counter()
    try:
        rows = len(engine.query(QUERIES[case]))
        outcome = f"{rows} rows"
    except BQMLError as exc:
        outcome = f"{type(exc).__name__}: {str(exc)[:80]}"
    seconds = time.perf_counter() - start
    print(f"{(_status_kb('VmHWM') - baseline) / 1024:.0f}\t{seconds:.1f}\t{outcome}")


def _status_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def run(code: Path, case: str, bucket: Path, budget: str) -> str:
    env = {**os.environ, "PYTHONPATH": str(code)}
    done = subprocess.run(
        [sys.executable, __file__, "--probe", case, str(bucket), budget], env=env, capture_output=True, text=True
    )
    if done.returncode != 0:
        return f"died (exit {done.returncode}): {done.stderr.strip().splitlines()[-1] if done.stderr.strip() else ''}"
    peak, seconds, outcome = done.stdout.strip().splitlines()[-1].split("\t")
    return f"peak +{peak} MB in {seconds} s, {outcome}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=2000)
    parser.add_argument("--against", type=Path, help="another checkout to measure side by side")
    parser.add_argument("--budget", default="", help="Engine(memory_budget=...) for this checkout, e.g. 1GB")
    parser.add_argument("--probe", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.probe:
        probe(*args.probe)
        return
    here = Path(__file__).resolve().parents[1]
    with tempfile.TemporaryDirectory(prefix="bqml_bench_memory_") as tmp:
        buckets = {"where": Path(tmp, "photos"), "bombs": Path(tmp, "bombs")}
        make_photos(buckets["where"], args.images)
        make_bombs(buckets["bombs"], 4)
        for case, bucket in buckets.items():
            print(f"{case:6} {'this checkout':14} {run(here, case, bucket, args.budget)}", flush=True)
            if args.against:
                print(f"{case:6} {'against':14} {run(args.against, case, bucket, '')}", flush=True)


if __name__ == "__main__":
    main()
