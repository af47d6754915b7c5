"""%%bqml and %bqml in an IPython shell: options, what the cell shows, errors, interrupts."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from IPython.core.error import UsageError
from IPython.utils.capture import capture_output

from bqml_magic.config import context
from bqml_magic.errors import BQMLError, NotFoundError

OBJECT_TABLE = """%%bqml
CREATE SCHEMA my_dataset;
CREATE EXTERNAL TABLE my_dataset.object_table WITH CONNECTION DEFAULT
OPTIONS(object_metadata = 'SIMPLE', uris = ['gs://my_bucket/*'])
"""


@pytest.fixture
def tables(shell, photos: Path):
    """The shell with ``gs://my_bucket`` mounted and ``my_dataset.object_table`` over it."""
    shell.run_cell(f"%bqml mount my_bucket={photos}")
    shell.run_cell(OBJECT_TABLE)
    return shell


def html_outputs(cap) -> str:
    return "".join(o.data.get("text/html", "") for o in cap.outputs)


def test_loading_the_extension_imports_nothing_heavy():
    code = (
        "import sys, IPython; from bqml_magic import load_ipython_extension\n"
        "load_ipython_extension(IPython.InteractiveShell.instance())\n"
        "print(sorted(m for m in ('duckdb', 'sqlglot', 'tensorflow', 'ipywidgets', 'pandas') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_bqml_magic_context_is_the_settings_the_magic_reads(shell):
    """``bqml_magic.context.max_rows = 10`` in a notebook must reach the magic, before and after it loads."""
    import bqml_magic
    import bqml_magic.magic

    assert bqml_magic.context is context is bqml_magic.magic.context


def test_help_lists_every_option(shell):
    """``%%bqml?`` is where users of ``%%bigquery`` look for flags; --params is parsed apart but listed."""
    help_text = shell.find_cell_magic("bqml").__doc__
    for option in (
        "destination_var",
        "--params",
        "--dry_run",
        "--verbose",
        "--progress_bar_type",
        "--max_results",
        "--destination_table",
        "--workspace",
        "--bucket",
    ):
        assert option in help_text


def test_query_keeps_a_dataframe_and_shows_thumbnails(tables):
    with capture_output() as cap:
        tables.run_cell("%%bqml files\nSELECT uri, content_type FROM my_dataset.object_table ORDER BY uri")
    files = tables.user_ns["files"]
    assert type(files) is pd.DataFrame and len(files) == 3
    page = html_outputs(cap)
    assert page.count("data:image/webp;base64,") == 2  # the two photos, not notes.txt
    assert "not an image" in page  # notes.txt gets a marker, not a preview
    assert "gs://my_bucket/notes.txt" in page


def test_ddl_statements_say_what_they_did(shell, photos):
    shell.run_cell(f"%bqml mount my_bucket={photos}")
    with capture_output() as cap:
        shell.run_cell(OBJECT_TABLE)
    assert cap.stdout.splitlines() == [
        "CREATE SCHEMA my_dataset: OK",
        "CREATE EXTERNAL TABLE my_dataset.object_table: OK",
    ]
    assert not cap.outputs


@pytest.mark.parametrize(
    "option", ['--params {"n": 2, "s": "a"}', "--params {'n': 2, 's': 'a'}", "--params=$p", "--params $p"]
)
def test_params_from_json_a_literal_or_a_variable(shell, option):
    shell.user_ns["p"] = {"n": 2, "s": "a"}
    shell.run_cell(f"%%bqml out {option}\nSELECT @n + 1 AS x, @s AS s")
    assert shell.user_ns["out"].to_dict("records") == [{"x": 3, "s": "a"}]


@pytest.mark.parametrize(
    ("option", "message"),
    [
        ("--params $nothing", "no variable 'nothing'"),
        ("--params [1, 2]", "must be a dict"),
        ("--params {oops}", "neither JSON nor a Python dict literal"),
    ],
)
def test_bad_params_are_usage_errors(shell, option, message):
    with pytest.raises(UsageError, match=message):
        shell.run_cell(f"%%bqml {option}\nSELECT 1")


def test_max_results(shell):
    shell.run_cell("%%bqml out --max_results 3\nSELECT x FROM UNNEST(GENERATE_ARRAY(1, 10)) AS x ORDER BY x")
    assert list(shell.user_ns["out"]["x"]) == [1, 2, 3]


def test_dry_run_reports_and_runs_nothing(tables):
    with capture_output() as cap:
        tables.run_cell("%%bqml report --dry_run\nCREATE SCHEMA other;\nSELECT uri FROM my_dataset.object_table")
    assert "The script is valid." in cap.stdout
    assert tables.user_ns["report"].summary() in cap.stdout
    tables.run_cell("%%bqml\nCREATE SCHEMA other")  # the dry run did not create it


def test_destination_table_saves_the_rows(shell):
    shell.run_cell("%%bqml out --destination_table saved.numbers\nSELECT x FROM UNNEST([3, 1, 2]) AS x ORDER BY x;")
    assert list(shell.user_ns["out"]["x"]) == [1, 2, 3]
    assert list(context.engine().query("SELECT x FROM saved.numbers")["x"]) == [1, 2, 3]


@pytest.mark.parametrize(
    ("table", "sql", "message"),
    [
        ("d.t", "SELECT 1; SELECT 2", "one query"),
        ("d.t", "CREATE SCHEMA d", "one query"),
        ("t", "SELECT 1", "expected DATASET.TABLE"),
    ],
)
def test_destination_table_needs_one_query_and_a_dataset(shell, table, sql, message):
    with pytest.raises(UsageError, match=message):
        shell.run_cell(f"%%bqml --destination_table {table}\n{sql}")


def test_workspace_and_bucket_options_stick(shell, photos, tmp_path):
    shell.user_ns["folder"] = str(photos)
    shell.run_cell(f"%%bqml --workspace {tmp_path / 'ws'} --bucket my_bucket=$folder\nCREATE SCHEMA kept")
    assert context.workspace == str(tmp_path / "ws") and context.buckets == {"my_bucket": str(photos)}
    assert (tmp_path / "ws").is_dir()
    shell.run_cell("%%bqml out\nSELECT LENGTH(uri) > 0 AS ok FROM UNNEST(['gs://my_bucket/x']) AS uri")
    assert context.engine().buckets.buckets == {"my_bucket": photos.resolve()}


def test_line_magic_workspace_and_mount(shell, photos, tmp_path):
    with capture_output() as cap:
        shell.run_cell(f"%bqml workspace {tmp_path}")
        shell.run_cell("%bqml workspace")
    assert cap.stdout.splitlines() == [f"workspace: {tmp_path}"] * 2
    shell.user_ns["folder"] = photos
    shell.run_cell("%bqml mount a={folder} b=$folder")
    assert context.buckets == {"a": str(photos), "b": str(photos)}


@pytest.mark.parametrize("line", ["%bqml", "%bqml frobnicate", "%bqml mount nofolder", "%bqml model"])
def test_line_magic_usage(shell, line):
    with pytest.raises(UsageError):
        shell.run_cell(line)


def test_errors_are_one_short_message(shell):
    with capture_output() as cap, pytest.raises(NotFoundError):
        shell.run_cell("%%bqml\nSELECT * FROM nowhere.nothing")
    assert cap.stdout.strip().startswith("NotFoundError: Not found: Dataset nowhere")
    assert "Traceback" not in cap.stdout and len(cap.stdout.strip().splitlines()) == 1


def test_verbose_errors_keep_the_traceback(shell):
    with capture_output() as cap, pytest.raises(BQMLError):
        shell.run_cell("%%bqml --verbose\nSELECT * FROM nowhere.nothing")
    assert "Traceback" in cap.stdout or "engine.py" in cap.stdout


def test_line_magic_errors_are_short_too(shell):
    with capture_output() as cap, pytest.raises(NotFoundError):
        shell.run_cell("%bqml model nowhere.nothing")
    assert len(cap.stdout.strip().splitlines()) == 1


def test_notebook_bar_falls_back_to_text_outside_a_kernel(shell, monkeypatch):
    seen = []
    engine = context.engine()
    real = engine.run_script
    monkeypatch.setattr(
        engine,
        "run_script",
        lambda sql, params, progress_bar_type, **options: (
            seen.append(progress_bar_type),
            real(sql, params, progress_bar_type=progress_bar_type, **options),
        )[1],
    )
    context.progress_bar_type = "tqdm_notebook"
    shell.run_cell("%%bqml\nSELECT 1 AS x")
    shell.run_cell("%%bqml --progress_bar_type none\nSELECT 1 AS x")
    assert seen == ["tqdm", None]


@pytest.fixture
def ctrl_c_raises() -> Iterator[None]:
    """Ctrl-C raises KeyboardInterrupt, as in a kernel: a shell starts a background job (a CI
    runner's, say) with SIGINT ignored, and Python then keeps it ignored."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


def test_ctrl_c_cancels_the_statement_and_the_kernel_stays_usable(shell, ctrl_c_raises):
    slow = (
        "%%bqml\nSELECT COUNT(*) AS c FROM UNNEST(GENERATE_ARRAY(1, 100000)) AS a "
        "CROSS JOIN UNNEST(GENERATE_ARRAY(1, 100000)) AS b WHERE MOD(a * b, 7) = 3"
    )
    shell.run_cell("%%bqml\nSELECT 1 AS warm")

    def interrupt_once_the_statement_runs() -> None:
        """Ctrl-C once the cell's statement is under way, not after a fixed delay that a slow
        machine could outlast before the cell starts."""
        deadline = time.monotonic() + 30
        while not any(t.name == "bqml-cell" for t in threading.enumerate()) and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(0.3)
        os.kill(os.getpid(), signal.SIGINT)

    threading.Thread(target=interrupt_once_the_statement_runs, daemon=True).start()
    started = time.perf_counter()
    with capture_output() as cap, pytest.raises(KeyboardInterrupt):
        shell.run_cell(slow)
    assert time.perf_counter() - started < 10
    assert "Interrupted: the statement was cancelled" in cap.stdout
    shell.run_cell("%%bqml after\nSELECT 2 AS x")
    assert shell.user_ns["after"]["x"].tolist() == [2]


@pytest.mark.integration
def test_create_model_shows_the_schema_inspector(shell, tmp_path):
    import bqml_magic.samples

    samples = bqml_magic.samples.build()
    model = samples.model_path("ONNX", "classifier")
    context.local_roots = [str(model.parent)]  # a local model_path is read only inside an allowed root
    with capture_output() as cap:
        shell.run_cell(
            f"%%bqml\nCREATE SCHEMA m;\nCREATE MODEL m.classifier OPTIONS(model_type='ONNX', model_path='{model}')"
        )
    (shown,) = cap.outputs
    assert shown.data["text/plain"].startswith("Model m.classifier (ONNX)")
    assert ">Features</label></h4>" in shown.data["text/html"]
    assert "[-1, 1001]" in shown.data["text/plain"]
    shell.run_cell("inspector = %bqml model m.classifier")
    assert repr(shell.user_ns["inspector"]) == shown.data["text/plain"]


# Every flag of bigquery-magics' %%bigquery (the @magic_arguments of bigquery_magics/bigquery.py, commit 0f606d9),
# with a value where it takes one: %%bqml lists and accepts them all (docs/behaviour.md#bigquery-compatibility).
BIGQUERY_MAGICS_FLAGS = [
    "--destination_table d.t",
    "--project p",
    "--max_results 3",
    "--maximum_bytes_billed 100",
    "--dry_run",
    "--use_legacy_sql",
    "--bigquery_api_endpoint https://x",
    "--bqstorage_api_endpoint https://x",
    "--no_query_cache",
    "--use_bqstorage_api",
    "--use_rest_api",
    "--verbose",
    "--use_geodataframe geom",
    "--progress_bar_type tqdm",
    "--location US",
    "--engine pandas",
    "--graph",
    "--pyformat",
]


@pytest.mark.parametrize("given", BIGQUERY_MAGICS_FLAGS)
def test_every_bigquery_magics_flag_is_documented_and_parsed(shell, given):
    import bqml_magic.magic

    flag = given.split()[0]
    assert flag in bqml_magic.magic.__doc__  # the module docstring lists every flag, as bigquery-magics' does
    assert flag in shell.find_cell_magic("bqml").__doc__  # %%bqml? too
    options = bqml_magic.magic.BQMLMagics.bqml.parser.parse_argstring(f"out {given}")
    assert options.destination_var == "out" and getattr(options, flag.lstrip("-")) not in (None, False)
