"""Completion in a ``%%bqml`` cell on a big catalog: 1,000 tables of 10 columns and 50 models.

    python3 tasks.py bench completion [--tables 1000] [--models 50] [--repeats 50]

Builds the workspace once in a temporary folder, then times each kind of completion end to end
through IPython's completer (what a Jupyter kernel's complete_request runs), and the catalog
snapshot behind them: taken after a cell that ran statements (the workspace still open), and by
the first Tab of a session or a stale snapshot's background refresh (the workspace reopened).
Prints the median and p95 of each, in milliseconds.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from IPython.core.completer import CompletionContext, provisionalcompleter
from IPython.core.interactiveshell import InteractiveShell
from IPython.utils.capture import capture_output

from bqml_magic.catalog import database
from bqml_magic.completion import MATCHER_ID
from bqml_magic.config import context

COLUMNS = 10
KINDS = {
    "datasets after FROM": "SELECT * FROM |",
    "tables of a 1,000-table dataset": "SELECT * FROM big.|",
    "tables by prefix": "SELECT * FROM big.t05|",
    "columns of two joined tables": "SELECT | FROM big.t0500 a JOIN big.t0501 b ON TRUE",
    "columns by alias": "SELECT a.| FROM big.t0500 a",
    "models of a dataset": "SELECT * FROM ML.PREDICT(MODEL models.|",
    "features in ML.PREDICT": "SELECT * FROM ML.PREDICT(MODEL models.m07, (SELECT | FROM big.t0001))",
    "ML.* functions": "SELECT ML.|",
}


def build(shell: InteractiveShell, folder: Path, tables: int, models: int) -> None:
    """The catalog, made through %%bqml cells; the models are one tiny ONNX file imported many times."""
    model_file = _tiny_onnx(folder / "bucket" / "m.onnx")
    shell.run_line_magic("bqml", f"mount b={model_file.parent}")
    columns = ", ".join(f"{n} AS c{n}" for n in range(COLUMNS))
    script = ["CREATE SCHEMA big", "CREATE SCHEMA models"]
    script += [f"CREATE TABLE big.t{n:04d} AS SELECT {columns}" for n in range(tables)]
    script += [
        f"CREATE MODEL models.m{n:02d} OPTIONS(model_type = 'ONNX', model_path = 'gs://b/m.onnx')"
        for n in range(models)
    ]
    run(shell, ";\n".join(script))


def _tiny_onnx(path: Path) -> Path:
    import onnx
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [helper.make_node("Identity", ["image"], ["score"])],
        "tiny",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["N", 4])],
        [helper.make_tensor_value_info("score", TensorProto.FLOAT, ["N", 4])],
    )
    path.parent.mkdir(parents=True)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], ir_version=8), path)
    return path


def run(shell: InteractiveShell, sql: str) -> None:
    """A %%bqml cell, its output not shown."""
    with capture_output():
        shell.run_cell("%%bqml\n" + sql)


def complete(shell: InteractiveShell, marked: str) -> int:
    """One completion request, as a kernel makes it; the number of names offered."""
    cell = "%%bqml\n" + marked
    cursor = cell.index("|")
    with provisionalcompleter():
        return len(list(shell.Completer.completions(cell.replace("|", ""), cursor)))


def timed(step: Callable[[], object], repeats: int, before: Callable[[], object] = lambda: None) -> list[float]:
    seconds = []
    for _ in range(repeats):
        before()
        started = time.perf_counter()
        step()
        seconds.append(time.perf_counter() - started)
    return seconds


def report(name: str, seconds: list[float], names: int | None = None) -> None:
    ms = sorted(s * 1000 for s in seconds)
    p95 = ms[min(len(ms) - 1, round(0.95 * (len(ms) - 1)))]
    offered = f"   ({names} names)" if names is not None else ""
    print(f"  {name:40s} median {statistics.median(ms):7.2f} ms   p95 {p95:7.2f} ms{offered}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tables", type=int, default=1000)
    parser.add_argument("--models", type=int, default=50)
    parser.add_argument("--repeats", type=int, default=50)
    args = parser.parse_args()
    shell = InteractiveShell.instance()
    shell.run_line_magic("load_ext", "bqml_magic")
    (matcher,) = [m for m in shell.Completer.custom_matchers if getattr(m, "matcher_identifier", "") == MATCHER_ID]
    context.progress_bar_type = None
    with tempfile.TemporaryDirectory(prefix="bqml_completion_") as folder:
        context.workspace = Path(folder) / "ws"
        started = time.perf_counter()
        build(shell, Path(folder), args.tables, args.models)
        print(
            f"catalog: {args.tables} tables of {COLUMNS} columns, {args.models} models, built in "
            f"{time.perf_counter() - started:.1f} s; {args.repeats} requests each"
        )
        complete(shell, KINDS["datasets after FROM"])  # the first one imports the tokenizer
        print("completion, snapshot cached (keys pressed between cells):")
        for name, marked in KINDS.items():
            report(name, timed(lambda m=marked: complete(shell, m), args.repeats), complete(shell, marked))
        python = CompletionContext("x.re", "import os\nx = os.pa", 10, 1, None)
        report("a Python cell (our matcher alone)", timed(lambda: matcher(python), args.repeats))
        after = timed(
            lambda: complete(shell, KINDS["tables by prefix"]), args.repeats, before=lambda: run(shell, "SELECT 1")
        )
        report("Tab after a cell that ran a statement", after)
        engine = context.engine()
        print("the snapshot behind them (Engine.catalog_snapshot):")
        report("workspace open (after such a cell)", timed(engine.catalog_snapshot, args.repeats))
        idle = database.LINGER_SECONDS + 0.3
        reopened = timed(engine.catalog_snapshot, min(args.repeats, 10), before=lambda: time.sleep(idle))
        report(f"after {idle:.1f} s idle (workspace reopened)", reopened)
        context.close()


if __name__ == "__main__":
    main()
