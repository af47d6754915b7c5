"""ML.PREDICT through SQL vs a hand-written loop doing the same work; peak memory for N and 10xN.

    .venv/bin/python bench/bench_predict.py [--images 100] [--repeats 5] [--model_type ONNX]

Speed, side by side in one process, runs alternating: images/s of
  - the README's query, ``SELECT * FROM ML.PREDICT(MODEL m, (SELECT uri,
    ML.RESIZE_IMAGE(ML.DECODE_IMAGE(data), 224, 224, FALSE) AS input_1 FROM object_table))``,
    whose result also holds every 224x224x3 input image as FLOAT64 (1.2 MB a row);
  - the same with ``SELECT uri, predictions``: exactly what the loop produces;
  - a hand-written loop: read, decode and resize with the same kernels on a thread pool of the
    engine's size, batches of the engine's ``batch_rows``, the same runtime class's ``run``.
Memory, each case in a fresh process: peak RSS above the process's RSS after a warm-up query
(model loaded, pools started; Linux's peak counter is reset there), for N and for 10xN photos.
Streaming keeps the second figure flat where the result is small; ``SELECT *`` returns every
input image, so its result grows.
The photos are the sample bucket's 10, hard-linked N times over.
"""

from __future__ import annotations

import argparse
import functools
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from bqml_magic import Engine, samples
from bqml_magic.images import decode_image, resize_image
from bqml_magic.runtimes.registry import load_model

QUERIES = {
    "SQL  SELECT *": "SELECT *",
    "SQL  SELECT uri, predictions": "SELECT uri, predictions",
}
PREDICT = """{select} FROM ML.PREDICT(MODEL `bench.classifier`,
  (SELECT uri, ML.RESIZE_IMAGE(ML.DECODE_IMAGE(data), 224, 224, FALSE) AS input_1
   FROM `bench.{table}`))"""


def make_bucket(root: Path, built: samples.Samples, count: int) -> None:
    """``count`` photos under ``root/<count>/``, hard links to the sample photos (no copies)."""
    photos = sorted((built.bucket / "photos").iterdir())
    folder = root / str(count)
    folder.mkdir(parents=True)
    for i in range(count):
        source = photos[i % len(photos)]
        os.link(source, folder / f"{i:06d}{source.suffix}")


def open_engine(root: Path, built: samples.Samples, model_type: str, counts: list[int]) -> Engine:
    engine = Engine(buckets={"bench": root, "models": built.root / "models"})
    engine.query(
        "CREATE SCHEMA bench;"
        + "".join(
            f"CREATE EXTERNAL TABLE bench.photos_{n} WITH CONNECTION DEFAULT "
            f"OPTIONS (object_metadata = 'SIMPLE', uris = ['gs://bench/{n}/*']);"
            for n in counts
        )
    )
    engine.query(
        f"CREATE MODEL bench.classifier OPTIONS (model_type = '{model_type}', "
        f"model_path = '{built.model_uri(model_type, 'classifier', bucket='models')}')"
    )
    return engine


def hand_written(runtime, paths: list[Path], pool: ThreadPoolExecutor, batch_rows: int) -> np.ndarray:
    """What ML.PREDICT does, written by hand: the same kernels, threads, batches and runtime."""

    def prepare(path: Path) -> np.ndarray:
        return resize_image(decode_image(path.read_bytes()), 224, 224, False).as_float32()

    scores = []
    for start in range(0, len(paths), batch_rows):
        images = np.stack(list(pool.map(prepare, paths[start : start + batch_rows])))
        scores.append(runtime.run({"input_1": images})["predictions"])
    return np.concatenate(scores)


def rates(work: dict[str, Callable[[], object]], images: int, repeats: int) -> dict[str, list[float]]:
    """images/s of each piece of work, run alternately so load on the machine hits all alike."""
    measured: dict[str, list[float]] = {name: [] for name in work}
    for _ in range(repeats):
        for name, run in work.items():
            started = time.perf_counter()
            run()
            measured[name].append(images / (time.perf_counter() - started))
    return measured


def speed(args: argparse.Namespace, root: Path, built: samples.Samples) -> None:
    engine = open_engine(root, built, args.model_type, [args.images])
    paths = sorted((root / str(args.images)).iterdir())
    runtime = load_model(args.model_type, built.model_path(args.model_type, "classifier"))
    pool = ThreadPoolExecutor(max_workers=os.cpu_count() or 2)
    table = f"photos_{args.images}"
    work: dict[str, Callable[[], object]] = {
        name: functools.partial(engine.query, PREDICT.format(select=select, table=table))
        for name, select in QUERIES.items()
    }
    work["hand-written loop"] = lambda: hand_written(runtime, paths, pool, engine.batch_rows)

    sql = engine.query(PREDICT.format(select="SELECT uri, predictions", table=table) + " ORDER BY uri")
    same = np.abs(np.stack(sql.predictions.to_list()) - hand_written(runtime, paths, pool, engine.batch_rows)).max()
    print(
        f"{args.images} photos, {args.model_type} classifier, batches of {engine.batch_rows}, "
        f"{os.cpu_count()} threads, {args.repeats} runs each; SQL and loop differ by at most {same:.1e}"
    )
    measured = rates(work, args.images, args.repeats)
    loop = statistics.median(measured["hand-written loop"])
    for name, values in measured.items():
        median = statistics.median(values)
        print(
            f"  {name:30s} median {median:6.1f} images/s  ({median / loop:4.2f}x the loop)   runs: "
            + ", ".join(f"{v:.1f}" for v in values)
        )


def memory(args: argparse.Namespace) -> None:
    """Run each (query, size) in a fresh process and print its peak RSS above the warm baseline."""
    print(f"\nPeak memory above the warmed-up process (MB), {args.model_type}:")
    print(f"  {'query':30s} {args.images:>8,} photos {10 * args.images:>8,} photos")
    for name in QUERIES:
        figures = []
        for count in (args.images, 10 * args.images):
            probe = [
                sys.executable,
                __file__,
                "--probe",
                name,
                "--images",
                str(count),
                "--model_type",
                args.model_type,
                "--root",
                str(args.root),
            ]
            figures.append(float(subprocess.run(probe, check=True, capture_output=True, text=True).stdout.split()[-1]))
        print(f"  {name:30s} {figures[0]:15.0f} {figures[1]:15.0f}")


def probe(args: argparse.Namespace, built: samples.Samples) -> None:
    """One query over ``args.images`` photos in this fresh process; prints MB of peak RSS above baseline."""
    engine = open_engine(args.root, built, args.model_type, [args.images])
    sql = PREDICT.format(select=QUERIES[args.probe], table=f"photos_{args.images}")
    engine.query(sql + " LIMIT 1")  # model loaded, thread pools and DuckDB warmed up
    Path("/proc/self/clear_refs").write_text("5")  # Linux: the peak (VmHWM) restarts from the current RSS
    baseline = _status_kb("VmRSS")
    engine.query(sql)
    print(f"{(_status_kb('VmHWM') - baseline) / 1024:.1f}")


def _status_kb(field: str) -> int:
    found = re.search(rf"{field}:\s+(\d+) kB", Path("/proc/self/status").read_text())
    if found is None:
        raise RuntimeError(f"/proc/self/status has no {field} line (this benchmark needs Linux)")
    return int(found[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=100, help="N: photos in the speed run; memory also at 10xN")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--model_type", default="ONNX", choices=list(samples.MODEL_FILES))
    parser.add_argument("--probe", choices=list(QUERIES), help=argparse.SUPPRESS)
    parser.add_argument("--root", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    built = samples.build()
    if args.probe:
        probe(args, built)
        return
    with tempfile.TemporaryDirectory(prefix="bqml_bench_") as folder:
        args.root = Path(folder)
        for count in (args.images, 10 * args.images):
            make_bucket(args.root, built, count)
        speed(args, args.root, built)
        memory(args)


if __name__ == "__main__":
    main()
