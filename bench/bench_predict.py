"""ML.PREDICT in SQL vs a tuned hand-written pipeline vs the CPU-work limit, per runtime; peak memory.

    python3 tasks.py bench predict [--images 160] [--repeats 5] [--runtimes ONNX,TENSORFLOW_LITE,TENSORFLOW]

For each runtime, side by side in one process, runs alternating (medians of ``--repeats``):
  - SQL: the README's query, ``SELECT * FROM ML.PREDICT(MODEL m, (SELECT uri,
    ML.RESIZE_IMAGE(ML.DECODE_IMAGE(data), 224, 224, FALSE) AS input_1 FROM photos))``, which
    also returns every 224x224x3 input as FLOAT64, and the same with ``SELECT uri, predictions``;
  - a tuned hand-written pipeline, as a skilled user writes it without this project: decode on
    a thread per core (libjpeg-turbo's fast DCT through simplejpeg for JPEG, OpenCV for the
    rest), OpenCV's resize, the runtime on batches of 32 with all its threads;
  - the CPU-work limit: cores / (decode + resize + model core-seconds per image), each stage
    measured alone on one thread. Once with the tuned pipeline's stages, once with the engine's,
    whose decode and resize are TensorFlow's to the bit (OpenCV's resize is not). The model's
    stage is the cheaper of calls of 16 rows and of the engine's smaller calls (3 photos).
Then, each in fresh processes, the peak RSS of each query above the warmed-up process (model
loaded, pools started; Linux's peak counter reset there) for N and 4N photos, beside the size
of the result: ``SELECT *`` returns 1.2 MB of FLOAT64 image a row, 1001 scores are 8 KB, and one
score 8 bytes, so only what the engine holds while it works should stay flat. (A correlated
subquery such as ``(SELECT MAX(p) FROM UNNEST(predictions) AS p)`` is DuckDB's to plan: it
gathers every row first, and its memory grows with the table, within DuckDB's share.)
The photos are the sample bucket's 10 (5 JPEG, 5 PNG, 0.15 to 0.87 MP), hard-linked N times.
"""

from __future__ import annotations

import argparse
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

import cv2
import numpy as np
import simplejpeg

from bqml_magic import Engine, samples
from bqml_magic.execution.predict import CALL_BYTES
from bqml_magic.images import decode_image, resize_image

CORES = os.cpu_count() or 2
SIZE = 224
WARM_ROWS = 4 * 16 * CORES  # enough batches in the warm-up for every model lane to have run
CALL_ROWS = CALL_BYTES // (SIZE * SIZE * 3 * 4)  # rows per model call, where the engine may cut a batch
QUERIES = {"SELECT uri, predictions": "SELECT uri, predictions", "SELECT *": "SELECT *"}
PREDICT = """{select} FROM ML.PREDICT(MODEL `bench.classifier`,
  (SELECT uri, ML.RESIZE_IMAGE(ML.DECODE_IMAGE(data), 224, 224, FALSE) AS input_1
   FROM `bench.photos_{count}`))"""
Model = Callable[[np.ndarray], np.ndarray]


def make_bucket(root: Path, built: samples.Samples, count: int) -> list[Path]:
    """``count`` photos under ``root/<count>/``: hard links to the sample photos, no copies."""
    photos = sorted((built.bucket / "photos").iterdir())
    folder = root / str(count)
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        source = photos[i % len(photos)]
        target = folder / f"{i:06d}{source.suffix}"
        if not target.exists():
            os.link(source, target)
    return sorted(folder.iterdir())


def open_engine(root: Path, built: samples.Samples, model_type: str, count: int) -> Engine:
    engine = Engine(buckets={"bench": root, "models": built.root / "models"})
    engine.query(
        "CREATE SCHEMA bench;"
        f"CREATE EXTERNAL TABLE bench.photos_{count} WITH CONNECTION DEFAULT "
        f"OPTIONS (object_metadata = 'SIMPLE', uris = ['gs://bench/{count}/*']);"
        f"CREATE MODEL bench.classifier OPTIONS (model_type = '{model_type}', "
        f"model_path = '{built.model_uri(model_type, 'classifier', bucket='models')}')"
    )
    return engine


# -- the tuned pipeline ----------------------------------------------------------------------
def tuned_decode(data: bytes) -> np.ndarray:
    if data[:2] == b"\xff\xd8":
        return simplejpeg.decode_jpeg(data, colorspace="RGB", fastdct=True)
    return cv2.cvtColor(cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


def tuned_resize(pixels: np.ndarray) -> np.ndarray:
    return cv2.resize(pixels, (SIZE, SIZE), interpolation=cv2.INTER_LINEAR).astype(np.float32) * np.float32(1 / 255)


def tuned_model(model_type: str, path: Path, threads: int) -> Model:
    """The runtime as its own documentation shows it, on ``threads`` threads."""
    if model_type == "ONNX":
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        name = session.get_inputs()[0].name
        return lambda x: session.run(None, {name: x})[0]
    if model_type == "TENSORFLOW_LITE":
        from ai_edge_litert.interpreter import Interpreter

        runner = Interpreter(model_path=str(path), num_threads=threads).get_signature_runner()
        name, output = next(iter(runner.get_input_details())), next(iter(runner.get_output_details()))
        return lambda x: runner(**{name: x})[output]
    import tensorflow as tf  # its thread pools are the process's: all cores

    function = tf.saved_model.load(str(path)).signatures["serving_default"]
    name, output = next(iter(function.structured_input_signature[1])), next(iter(function.structured_outputs))
    return lambda x: function(**{name: tf.constant(x)})[output].numpy()


def tuned_pipeline(model: Model, paths: list[Path], pool: ThreadPoolExecutor) -> np.ndarray:
    def prepare(path: Path) -> np.ndarray:
        return tuned_resize(tuned_decode(path.read_bytes()))

    scores = [model(np.stack(list(pool.map(prepare, paths[i : i + 32])))) for i in range(0, len(paths), 32)]
    return np.concatenate(scores)


# -- stage costs -----------------------------------------------------------------------------
def core_ms(work: Callable[[], object], per: int, repeats: int) -> float:
    """Median core-milliseconds (this process's CPU time) of ``work``, per item."""
    times = []
    for _ in range(repeats):
        started = time.process_time()
        work()
        times.append(time.process_time() - started)
    return 1000 * statistics.median(times) / per


def stage_costs(model_type: str, path: Path, photos: list[Path], repeats: int) -> dict[str, float]:
    data = [p.read_bytes() for p in photos]
    tuned = [tuned_decode(d) for d in data]
    exact = [decode_image(d) for d in data]
    random = np.random.default_rng(0)
    model = tuned_model(model_type, path, threads=1)
    small, large = (random.random((rows, SIZE, SIZE, 3), dtype=np.float32) for rows in (CALL_ROWS, 16))
    model(small), model(large)  # warm-up: first runs allocate and plan
    return {
        "decode": core_ms(lambda: [tuned_decode(d) for d in data], len(data), repeats),
        "resize": core_ms(lambda: [tuned_resize(p) for p in tuned], len(data), repeats),
        "exact decode": core_ms(lambda: [decode_image(d) for d in data], len(data), repeats),
        "exact resize": core_ms(lambda: [resize_image(i, SIZE, SIZE, False) for i in exact], len(data), repeats),
        "model": core_ms(lambda: model(large), len(large), repeats),
        "model, small calls": core_ms(lambda: model(small), len(small), 5 * repeats),
    }


def rates(work: dict[str, Callable[[], object]], images: int, repeats: int) -> dict[str, float]:
    """Median images/s of each piece of work, run alternately so the machine's load hits all alike."""
    measured: dict[str, list[float]] = {name: [] for name in work}
    for _ in range(repeats):
        for name, run in work.items():
            started = time.perf_counter()
            run()
            measured[name].append(images / (time.perf_counter() - started))
    return {name: statistics.median(values) for name, values in measured.items()}


def speed(args: argparse.Namespace, built: samples.Samples, model_type: str) -> None:
    paths = make_bucket(args.root, built, args.images)
    engine = open_engine(args.root, built, model_type, args.images)
    model_path = built.model_path(model_type, "classifier")
    stages = stage_costs(model_type, model_path, paths[:10], args.repeats)
    tuned = tuned_model(model_type, model_path, threads=CORES)
    pool = ThreadPoolExecutor(max_workers=CORES)
    work: dict[str, Callable[[], object]] = {
        f"SQL  {name}": lambda select=select: engine.query(PREDICT.format(select=select, count=args.images))
        for name, select in QUERIES.items()
    }
    work["tuned hand-written pipeline"] = lambda: tuned_pipeline(tuned, paths, pool)
    for run in work.values():
        run()  # warm-up: models loaded, pools started
    measured = rates(work, args.images, args.repeats)
    engine.close()

    model = min(stages["model"], stages["model, small calls"])  # the cheapest way to run it, whoever can
    limit = CORES * 1000 / (stages["decode"] + stages["resize"] + model)
    exact_limit = CORES * 1000 / (stages["exact decode"] + stages["exact resize"] + model)
    baseline = measured["tuned hand-written pipeline"]
    print(f"\n{model_type}: {args.images} photos, {CORES} cores, medians of {args.repeats} runs")
    print(
        f"  stage costs, core-ms per image: decode {stages['decode']:.2f} (engine, TensorFlow's: "
        f"{stages['exact decode']:.2f}), resize {stages['resize']:.2f} (engine, TensorFlow's: "
        f"{stages['exact resize']:.2f}), model {stages['model']:.2f} on batches of 16, "
        f"{stages['model, small calls']:.2f} on {CALL_ROWS} (one thread)"
    )
    print(
        f"  CPU-work limit {limit:.1f} images/s with the tuned stages; {exact_limit:.1f} with the engine's "
        f"({exact_limit / limit:.2f}x)"
    )
    for name, rate in measured.items():
        print(
            f"  {name:32s} {rate:6.1f} images/s  {rate / baseline:4.2f}x tuned  {rate / limit:4.0%} of the limit"
            f"  ({rate / exact_limit:4.0%} of the engine's)"
        )


# -- memory ----------------------------------------------------------------------------------
MEMORY_QUERIES = {
    **QUERIES,
    "SELECT uri, one score": "SELECT uri, predictions[OFFSET(1)] AS tench",
}


def memory(args: argparse.Namespace, model_type: str) -> None:
    """Each (query, size) in fresh processes: medians of the peak RSS, of the part above the
    warmed-up process, and of the result's own size, which grows with the rows by nature."""
    sizes = (args.images, 4 * args.images)
    print(
        f"  peak RSS in MB, median of {args.memory_repeats} fresh processes each: "
        "whole process (above the warmed-up process; the result's own size)"
    )
    for name in MEMORY_QUERIES:
        figures = []
        for count in sizes:
            probe = [sys.executable, __file__, "--probe", name, "--images", str(count), "--runtimes", model_type]
            runs = [
                subprocess.run([*probe, "--root", str(args.root)], check=True, capture_output=True, text=True)
                for _ in range(args.memory_repeats)
            ]
            values = [tuple(map(float, run.stdout.split()[-3:])) for run in runs]
            figures.append([statistics.median(column) for column in zip(*values)])
        shown = "   ".join(
            f"{count:,} photos {peak:5.0f} ({above:+4.0f}; {result:4.0f})"
            for count, (peak, above, result) in zip(sizes, figures)
        )
        print(f"    {name:26s} {shown}   peak {figures[1][0] / figures[0][0] - 1:+.0%}")


def probe(args: argparse.Namespace, built: samples.Samples) -> None:
    """One query over ``args.images`` photos in this fresh process: MB of peak RSS, of it above
    the warmed-up process, and MB of the result's values."""
    make_bucket(args.root, built, args.images)
    engine = open_engine(args.root, built, args.runtimes, args.images)
    sql = MEMORY_QUERIES[args.probe] + PREDICT.format(select="", count=args.images)
    engine.query(f"{sql} LIMIT {WARM_ROWS}")  # model loaded on every lane, pools and DuckDB warmed up
    Path("/proc/self/clear_refs").write_text("5")  # Linux: the peak (VmHWM) restarts from the current RSS
    baseline = _status_kb("VmRSS")
    result = engine.query(sql)
    peak = _status_kb("VmHWM")
    held = sum(_nbytes(value) for column in result.columns for value in result[column])
    print(f"{peak / 1024:.1f} {(peak - baseline) / 1024:.1f} {held / 2**20:.1f}")


def _nbytes(value: object) -> int:
    """Bytes of a result cell: its arrays' data (images are dicts of arrays), text, or 8."""
    if isinstance(value, np.ndarray):
        return value.nbytes if value.dtype != object else sum(_nbytes(v) for v in value)
    if isinstance(value, dict):
        return sum(_nbytes(v) for v in value.values())
    return len(value) if isinstance(value, (str, bytes)) else 8


def _status_kb(field: str) -> int:
    found = re.search(rf"{field}:\s+(\d+) kB", Path("/proc/self/status").read_text())
    if found is None:
        raise RuntimeError(f"/proc/self/status has no {field} line (this benchmark needs Linux)")
    return int(found[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=160, help="N: photos in the speed runs; memory also at 4N")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--runtimes", default=",".join(samples.MODEL_FILES), help="comma-separated model types")
    parser.add_argument("--memory_repeats", type=int, default=3, help="fresh processes per memory figure")
    parser.add_argument("--probe", choices=list(MEMORY_QUERIES), help=argparse.SUPPRESS)
    parser.add_argument("--root", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    cv2.setNumThreads(1)  # the pipeline's own threads decode and resize; OpenCV's would only compete
    built = samples.build()
    if args.probe:
        probe(args, built)
        return
    with tempfile.TemporaryDirectory(prefix="bqml_bench_") as folder:
        args.root = Path(folder)
        for model_type in args.runtimes.split(","):
            speed(args, built, model_type)
            memory(args, model_type)


if __name__ == "__main__":
    main()
