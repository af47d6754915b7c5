"""Object tables on an S3 server against the same objects in a local folder, side by side in one run.

    .venv/bin/python bench/bench_storage.py [--objects 100000] [--images 200] [--repeats 3]

(``--objects 0`` or ``--images 0`` leaves that part out.)

- ``listing``: ``CREATE EXTERNAL TABLE`` over ``--objects`` objects (moto's S3 server, filled
  in its own process before it serves, so filling costs no requests) against as many empty
  files in a local folder: objects/s of each.
- ``predict``: the README's ``ML.PREDICT`` (ONNX MobileNet) over ``--images`` photos (the
  sample bucket's 10, repeated): a mapped local folder; the S3 server with the content cache
  off (every object fetched); the S3 server with a warm cache. Runs alternate, medians and
  ratios to local are printed.
The server runs on this machine's cores too: its own CPU seconds are printed beside each
figure, so a limit that is the co-located server's shows as such.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "storage"))
import storage_servers  # the tests' loopback servers

BUCKET = "bench"
PREDICT = """SELECT uri, predictions FROM ML.PREDICT(MODEL d.m,
  (SELECT uri, ML.RESIZE_IMAGE(ML.DECODE_IMAGE(data), 224, 224, FALSE) AS input_1 FROM d.photos))"""


def serve_prefilled(objects: int, port: int) -> None:
    """In a process of its own: moto's S3 backend filled with tiny objects, then its server on loopback."""
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.s3.models import s3_backends
    from moto.server import main

    backend = s3_backends[DEFAULT_ACCOUNT_ID]["aws"]
    backend.create_bucket(BUCKET, "us-east-1")
    for i in range(objects):
        backend.put_object(BUCKET, f"objects/{i // 1000:03d}/{i:07d}.jpg", b"x")
    main(["-H", "127.0.0.1", "-p", str(port)])


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def s3_options(endpoint: str) -> dict:
    return {"s3": {"endpoint_url": endpoint, "key": "testing", "secret": "testing"}}


def bench_listing(objects: int) -> None:
    from bqml_magic import Engine

    server = storage_servers.spawn(  # the tests' launcher: a process group of its own, on loopback
        "s3", lambda port: [sys.executable, __file__, "--serve-prefilled", str(objects), str(port)], "/", timeout=900
    )
    try:
        with tempfile.TemporaryDirectory() as folder:
            for i in range(objects):
                sub = Path(folder, f"{i // 1000:03d}")
                sub.mkdir(exist_ok=True)
                (sub / f"{i:07d}.jpg").touch()
            cases = {
                "local folder": (Engine(buckets={"b": folder}), "gs://b/*"),
                "S3 server": (Engine(storage_options=s3_options(server.endpoint)), f"s3://{BUCKET}/objects/*"),
            }
            print(f"listing {objects:,} objects (CREATE EXTERNAL TABLE), medians of 3")
            for name, (engine, uri) in cases.items():
                engine.query("CREATE SCHEMA d")
                seconds, cpu = [], []
                for _ in range(3):
                    before, start = cpu_seconds(server.pid), time.perf_counter()
                    engine.query(
                        f"CREATE OR REPLACE EXTERNAL TABLE d.t OPTIONS(object_metadata = 'SIMPLE', uris = ['{uri}'])"
                    )
                    seconds.append(time.perf_counter() - start)
                    cpu.append(cpu_seconds(server.pid) - before)
                assert engine.query("SELECT COUNT(*) AS n FROM d.t").n[0] == objects
                server_cpu = f", server CPU {statistics.median(cpu):.1f} s" if name != "local folder" else ""
                print(
                    f"  {name:13} {statistics.median(seconds):6.2f} s  "
                    f"{objects / statistics.median(seconds):10,.0f} objects/s{server_cpu}"
                )
                engine.close()
    finally:
        server.stop()


def bench_predict(images: int, repeats: int) -> None:
    from bqml_magic import Engine, samples

    sample = samples.build()
    photos = sorted((sample.bucket / "photos").iterdir())
    server = storage_servers.start_s3_server()
    try:
        with tempfile.TemporaryDirectory() as root:
            folder = Path(root, "photos")
            folder.mkdir()
            blobs = {}
            for i in range(images):
                source = photos[i % len(photos)]
                os.link(source, folder / f"{i:05d}{source.suffix}")
                blobs[f"{BUCKET}/photos/{i:05d}{source.suffix}"] = source.read_bytes()
            storage_servers.create_s3_bucket(server.endpoint, BUCKET)
            storage_servers.s3_filesystem(server.endpoint).pipe(blobs)
            model, s3 = sample.root / "models" / "onnx", s3_options(server.endpoint)
            engines = {
                "local folder": (Engine(buckets={"b": root, "m": model}), "gs://b/photos/*"),
                "S3, no cache": (
                    Engine(buckets={"m": model}, storage_options=s3, cache_size=0),
                    f"s3://{BUCKET}/photos/*",
                ),
                "S3, warm cache": (
                    Engine(buckets={"m": model}, storage_options=s3, cache_dir=Path(root, "c")),
                    f"s3://{BUCKET}/photos/*",
                ),
            }
            for engine, uri in engines.values():
                engine.query(
                    f"""CREATE SCHEMA d;
                        CREATE EXTERNAL TABLE d.photos OPTIONS(object_metadata = 'SIMPLE', uris = ['{uri}']);
                        CREATE MODEL d.m OPTIONS(model_type = 'ONNX', model_path = 'gs://m/classifier.onnx')"""
                )
                engine.query(PREDICT)  # warm-up: model loaded, the warm cache filled
            seconds: dict[str, list[float]] = {name: [] for name in engines}
            cpu: dict[str, list[float]] = {name: [] for name in engines}
            ours: dict[str, list[float]] = {name: [] for name in engines}
            for _ in range(repeats):
                for name, (engine, _) in engines.items():
                    before, mine, start = cpu_seconds(server.pid), cpu_seconds(os.getpid()), time.perf_counter()
                    assert len(engine.query(PREDICT)) == images
                    seconds[name].append(time.perf_counter() - start)
                    cpu[name].append(cpu_seconds(server.pid) - before)
                    ours[name].append(cpu_seconds(os.getpid()) - mine)
            local = statistics.median(seconds["local folder"])
            print(f"ML.PREDICT over {images} photos (ONNX MobileNet v1), medians of {repeats}, runs alternating")
            for name, runs in seconds.items():
                median = statistics.median(runs)
                ours_cpu, server_cpu = statistics.median(ours[name]), statistics.median(cpu[name])
                print(
                    f"  {name:15} {images / median:6.1f} images/s  {local / median:4.2f}x local  "
                    f"CPU: ours {ours_cpu:5.2f} s, the server's {server_cpu:5.2f} s"
                )
            for engine, _ in engines.values():
                engine.close()
    finally:
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--objects", type=int, default=100_000)
    parser.add_argument("--images", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--serve-prefilled", nargs=2, type=int, metavar=("OBJECTS", "PORT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_prefilled:
        serve_prefilled(*args.serve_prefilled)
        return
    storage_servers.apply_client_env()
    if args.images:
        bench_predict(args.images, args.repeats)
    if args.objects:
        bench_listing(args.objects)


if __name__ == "__main__":
    main()
