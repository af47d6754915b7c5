"""A notebook's first seconds: %load_ext, the first query, CREATE MODEL of the sample ONNX model.

    python3 tasks.py bench startup [--repeats 5]

Each run is a fresh Python process with an IPython shell in an empty folder (so the default
workspace is new); prints the median of each step's wall time over the runs.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time

from bqml_magic import samples

STEPS = ("%load_ext bqml_magic", "first query (SELECT 1)", "CREATE MODEL (sample ONNX)")


def one_run(models: str, model_uri: str) -> None:
    """In this fresh process: each step's seconds, as JSON."""
    from IPython.core.interactiveshell import InteractiveShell

    shell = InteractiveShell.instance()
    seconds = []
    started = time.perf_counter()
    shell.run_line_magic("load_ext", "bqml_magic")
    seconds.append(time.perf_counter() - started)
    started = time.perf_counter()
    shell.run_cell_magic("bqml", "--progress_bar_type none", "SELECT 1 AS one")
    seconds.append(time.perf_counter() - started)
    shell.run_line_magic("bqml", f"mount my_models={models}")
    started = time.perf_counter()
    shell.run_cell_magic(
        "bqml",
        "--progress_bar_type none",
        f"CREATE SCHEMA d; CREATE MODEL d.m OPTIONS (model_type = 'ONNX', model_path = '{model_uri}')",
    )
    seconds.append(time.perf_counter() - started)
    print(json.dumps(seconds))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--run", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.run:
        one_run(*args.run)
        return
    built = samples.build()
    models, model_uri = str(built.root / "models"), built.model_uri("ONNX", "classifier", bucket="my_models")
    runs = []
    for _ in range(args.repeats):
        with tempfile.TemporaryDirectory(prefix="bqml_startup_") as folder:
            out = subprocess.run(
                [sys.executable, __file__, "--run", models, model_uri],
                cwd=folder,
                check=True,
                capture_output=True,
                text=True,
            )
            runs.append(json.loads(out.stdout.splitlines()[-1]))
    print(f"median of {args.repeats} fresh processes:")
    for step, values in zip(STEPS, zip(*runs)):
        print(f"  {step:30s} {statistics.median(values):6.3f} s   runs: " + ", ".join(f"{v:.3f}" for v in values))


if __name__ == "__main__":
    main()
