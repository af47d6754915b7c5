"""ML.PREDICT's images/s in-process and on a local Ray cluster of 1 and of 2 worker nodes.

    python3 tasks.py bench ray [--images 3000] [--repeats 3] [--model_type ONNX]

The query is the README's, ``SELECT uri, predictions FROM ML.PREDICT(MODEL m, (SELECT uri,
ML.RESIZE_IMAGE(ML.DECODE_IMAGE(data), 224, 224, FALSE) AS input_1 FROM photos))``, over the
sample bucket's 10 photos hard-linked to ``--images``. Configurations, each run in a fresh
driver process, alternating, medians of ``--repeats``:

  - in-process on 1 and on 2 CPUs (the process pinned to them);
  - a local cluster (a head node with no CPUs on loopback, ``tests/cluster/ray_cluster.py``)
    with 1 and with 2 worker nodes of 1 CPU each: one actor per node.

Each driver runs the query on 10 photos twice, then the timed query. The first pays what a
session pays once (joining the cluster); the second is a query's fixed cost (on a cluster, the
start of its actors: processes, imports, model load); the timed query's time includes
everything a user waits for. Steady images/s leaves the fixed cost out: (N - 10) photos over
(timed - second) seconds.
Scaling efficiency = (2 nodes' images/s) / (2 x 1 node's); overhead = 1 - (1 node's images/s)
/ (in-process on 1 CPU's). This machine has 2 cores, shared by the driver, Ray's own processes
and the actors: 2 worker nodes use all of it.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bqml_magic import Engine, samples

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "cluster"))
from ray_cluster import LOOPBACK_ENV, LocalCluster  # noqa: E402

QUERY = """SELECT uri, predictions FROM ML.PREDICT(MODEL my_dataset.classifier,
  (SELECT uri, ML.RESIZE_IMAGE(ML.DECODE_IMAGE(data), 224, 224, FALSE) AS input_1 FROM my_dataset.photos))"""
MODEL_PATHS = {"ONNX": "onnx/classifier.onnx", "TENSORFLOW_LITE": "tflite/classifier.tflite"}


def photo_bucket(root: Path, built: samples.Samples, images: int) -> Path:
    """``images`` photos: the sample's 10, hard-linked over and over."""
    bucket = root / f"bucket{images}"
    if not bucket.is_dir():
        (bucket / "photos").mkdir(parents=True)
        originals = sorted((built.bucket / "photos").iterdir())
        for i in range(images):
            original = originals[i % len(originals)]
            os.link(original, bucket / "photos" / f"{i:05d}{original.suffix}")
    return bucket


def measure(args: argparse.Namespace) -> None:
    """One configuration in this fresh process: prints the seconds of the two 10-photo queries
    and of the timed one, as JSON."""
    if args.cpus:
        os.sched_setaffinity(0, set(range(args.cpus)))
    built = samples.build()
    seconds = []
    for images in (10, 10, args.images):
        bucket = photo_bucket(args.root, built, images)
        engine = Engine(buckets={"my_bucket": bucket, "my_models": built.root / "models"})
        engine.query(f"""CREATE SCHEMA my_dataset;
            CREATE EXTERNAL TABLE my_dataset.photos OPTIONS(object_metadata = 'SIMPLE', uris = ['gs://my_bucket/photos/*']);
            CREATE MODEL my_dataset.classifier OPTIONS(model_type = '{args.model_type}',
              model_path = 'gs://my_models/{MODEL_PATHS[args.model_type]}')""")
        started = time.perf_counter()
        rows = len(engine.query(QUERY, ray_address=args.address))
        seconds.append(time.perf_counter() - started)
        assert rows == images, (rows, images)
        engine.close()
    print(json.dumps({"fixed": seconds[1], "seconds": seconds[2]}))


def run(args: argparse.Namespace, *, cpus: int = 0, address: str | None = None) -> tuple[float, float]:
    """Seconds of one configuration's second 10-photo query and timed query, in a fresh driver process."""
    command = [sys.executable, __file__, "--measure", "--root", str(args.root), "--images", str(args.images)]
    command += ["--model_type", args.model_type, "--cpus", str(cpus)]
    command += ["--address", address] if address else []
    done = subprocess.run(command, check=True, capture_output=True, text=True, env={**os.environ, **LOOPBACK_ENV})
    result = json.loads(done.stdout.strip().splitlines()[-1])
    return result["fixed"], result["seconds"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=3000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--model_type", choices=sorted(MODEL_PATHS), default="ONNX")
    parser.add_argument("--measure", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--root", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--cpus", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--address", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        measure(args)
        return
    os.environ.update(LOOPBACK_ENV)
    with tempfile.TemporaryDirectory(prefix="bqml_bench_ray_") as folder:
        args.root = Path(folder)
        clusters = {nodes: LocalCluster(nodes, args.root / f"ray{nodes}") for nodes in (1, 2)}
        try:
            configs = {
                "in-process, 1 CPU": lambda: run(args, cpus=1),
                "in-process, 2 CPUs": lambda: run(args, cpus=2),
                "cluster, 1 worker node": lambda: run(args, address=clusters[1].address),
                "cluster, 2 worker nodes": lambda: run(args, address=clusters[2].address),
            }
            seconds: dict[str, list[float]] = {name: [] for name in configs}
            startup: dict[str, list[float]] = {name: [] for name in configs}
            for repeat in range(args.repeats):
                for name, config in configs.items():
                    fixed, timed = config()
                    startup[name].append(fixed)
                    seconds[name].append(timed)
                    print(f"  repeat {repeat + 1}: {name}: {timed:.1f} s (10 photos: {fixed:.1f} s)", flush=True)
        finally:
            for cluster in clusters.values():
                cluster.stop()
    rate = {name: args.images / statistics.median(times) for name, times in seconds.items()}
    steady = {
        name: (args.images - 10) / statistics.median([t - f for t, f in zip(seconds[name], startup[name])])
        for name in configs
    }
    print(f"\nML.PREDICT ({args.model_type} MobileNet v1), {args.images} photos, medians of {args.repeats}:")
    print(f"{'configuration':26} {'images/s':>9} {'query s':>8} {'10 photos s':>12} {'steady images/s':>16}")
    for name in configs:
        median, fixed = statistics.median(seconds[name]), statistics.median(startup[name])
        print(f"{name:26} {rate[name]:9.1f} {median:8.1f} {fixed:12.2f} {steady[name]:16.1f}")
    for label, figures in (("whole queries", rate), ("steady", steady)):
        one, two = figures["cluster, 1 worker node"], figures["cluster, 2 worker nodes"]
        alone = figures["in-process, 1 CPU"]
        print(
            f"{label}: scaling efficiency (2 nodes vs 1) {two / (2 * one):.2f} (goal >= 0.85); "
            f"overhead (1 node vs in-process on 1 CPU) {1 - one / alone:.1%} (goal <= 15%)"
        )


if __name__ == "__main__":
    main()
