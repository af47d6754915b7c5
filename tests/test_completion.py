"""Completion in ``%%bqml`` cells: each kind of name, through IPython's completer as front ends ask it.

Cases are cells with ``|`` at the cursor, over a real catalog holding every kind of object.
"""

from __future__ import annotations

import contextlib
import threading
import time
from pathlib import Path

import pytest
from IPython.core.completer import provisionalcompleter
from IPython.utils.capture import capture_output

from bqml_magic import Engine
from bqml_magic.catalog import database, lock
from bqml_magic.catalog.lock import WorkspaceLock
from bqml_magic.completion import snapshots
from bqml_magic.config import context
from bqml_magic.errors import Cancelled

ROOT = Path(__file__).resolve().parents[1]

SETUP = """%%bqml
CREATE SCHEMA my_dataset;
CREATE SCHEMA other_dataset;
CREATE EXTERNAL TABLE my_dataset.object_table WITH CONNECTION `us.my-connection`
  OPTIONS(object_metadata = 'SIMPLE', uris = ['gs://my_bucket/photos/*']);
CREATE TABLE my_dataset.people AS SELECT 1 AS id, 'Ada' AS name;
CREATE VIEW my_dataset.people_view AS SELECT name FROM my_dataset.people;
CREATE TABLE my_dataset.`odd-name` AS SELECT 1 AS `first value`;
CREATE MODEL my_dataset.scorer OPTIONS(model_type = 'ONNX', model_path = 'gs://my_bucket/models/scorer.onnx')
"""


@pytest.fixture
def catalog_shell(shell, photos: Path, scorer_model: Path):
    """The shell, its engine holding datasets, a table, a view, an object table and a model."""
    shell.run_line_magic("bqml", f"mount my_bucket={photos}")
    shell.run_cell(SETUP)
    return shell


def completions(shell, marked: str) -> list:
    """What a front end gets for ``marked`` (``|`` is the cursor): IPython's Completion objects."""
    cursor = marked.index("|")
    with provisionalcompleter():
        return list(shell.Completer.completions(marked.replace("|", "", 1), cursor))


def texts(shell, marked: str) -> list[str]:
    return [c.text for c in completions(shell, marked)]


CASES = [
    # table positions: datasets, then a dataset's tables, views and object tables
    ("SELECT * FROM |", {"my_dataset", "other_dataset", "ML.PREDICT"}, {"object_table", "__bqml", "main"}),
    ("SELECT * FROM my_dataset.|", {"object_table", "people", "people_view", "`odd-name`"}, {"scorer"}),
    ("SELECT * FROM my_dataset.pe|", {"people", "people_view"}, {"object_table"}),
    ("select * from MY_DATASET.PEO|", {"people"}, set()),
    ("SELECT * FROM `my_dataset.ob|", {"object_table"}, {"people"}),
    ("SELECT * FROM `my_dataset`.|", {"object_table", "people"}, set()),
    ("SELECT * FROM `my_dataset.od|", {"odd-name"}, {"`odd-name`"}),
    ("SELECT * FROM my_dataset.people JOIN my_dataset.|", {"object_table"}, set()),
    ("SELECT * FROM my_dataset.people p, my_dataset.|", {"object_table"}, set()),
    ("WITH small AS (SELECT 1 AS x), big AS (SELECT 2 AS y) SELECT * FROM |", {"small", "big", "my_dataset"}, set()),
    ("WITH small AS (SELECT 1 AS x) SELECT * FROM small JOIN sm|", {"small"}, {"my_dataset"}),
    ("WITH small AS (SELECT 1 AS x) SELECT * FROM my_dataset.|", {"people"}, {"small"}),
    ("DROP SCHEMA IF EXISTS |", {"my_dataset"}, {"ML.PREDICT"}),
    ("DROP TABLE my_dataset.|", {"people"}, set()),
    # models
    ("SELECT * FROM ML.PREDICT(MODEL |", {"my_dataset"}, {"ML.PREDICT"}),
    ("SELECT * FROM ML.PREDICT(MODEL my_dataset.|", {"scorer"}, {"people", "object_table"}),
    ("DROP MODEL my_dataset.sc|", {"scorer"}, set()),
    # ML.* functions, from the engine's own tables
    ("SELECT * FROM ML.|", {"PREDICT"}, {"DECODE_IMAGE"}),
    ("SELECT ML.|", {"DECODE_IMAGE", "RESIZE_IMAGE", "CONVERT_COLOR_SPACE", "DISTANCE"}, {"PREDICT"}),
    ("SELECT ML.res|", {"RESIZE_IMAGE"}, {"DECODE_IMAGE"}),
    ("SELECT ML|", {"ML.DECODE_IMAGE", "ML.DISTANCE"}, {"ML.PREDICT"}),
    # columns of the statement's tables, before or after the cursor, by alias or name
    ("SELECT | FROM my_dataset.object_table", {"uri", "content_type", "size", "data"}, {"id", "my_dataset"}),
    ("SELECT u| FROM my_dataset.object_table", {"uri", "updated"}, {"size"}),
    ("SELECT t.| FROM my_dataset.object_table AS t JOIN my_dataset.people p ON TRUE", {"uri", "data"}, {"id"}),
    ("SELECT p.| FROM my_dataset.object_table t, my_dataset.people p", {"id", "name"}, {"uri"}),
    ("SELECT object_table.| FROM my_dataset.object_table", {"uri", "data"}, {"id"}),
    ("SELECT * FROM my_dataset.people WHERE |", {"id", "name"}, {"uri"}),
    ("SELECT | FROM my_dataset.`odd-name`", {"`first value`"}, set()),
    ("SELECT 1;\nSELECT | FROM my_dataset.people", {"id"}, {"uri"}),
    ("SELECT * FROM my_dataset.people;\nSELECT |", {"ML.DECODE_IMAGE"}, {"id"}),
    # a model's features inside ML.PREDICT, its labels and features in the rest of the query
    (
        "SELECT * FROM ML.PREDICT(MODEL my_dataset.scorer, (SELECT uri, | FROM my_dataset.object_table))",
        {"image", "bias", "data", "size"},
        {"id"},
    ),
    ("SELECT * FROM ML.PREDICT(MODEL my_dataset.scorer, (SELECT 0.5 AS b|", {"bias"}, {"image"}),
    ("SELECT | FROM ML.PREDICT(MODEL my_dataset.scorer, (SELECT 1 AS bias))", {"score", "doubled", "image"}, set()),
    ("SELECT p.sc| FROM ML.PREDICT(MODEL my_dataset.scorer, (SELECT 1 AS bias)) AS p", {"score"}, {"bias"}),
    # no names inside strings and comments
    ("SELECT 'my_dataset.|' FROM my_dataset.people", set(), {"people", "id"}),
    ("SELECT 1 -- FROM my_dataset.|", set(), {"people"}),
    ("SELECT 1 /* FROM my_dataset.|", set(), {"people"}),
]


@pytest.mark.parametrize(("cell", "included", "excluded"), CASES)
def test_completion_offers_the_names_that_fit_here(catalog_shell, cell, included, excluded):
    offered = set(texts(catalog_shell, "%%bqml\n" + cell))
    assert included <= offered
    assert not excluded & offered


def test_completions_are_typed_and_replace_what_was_typed(catalog_shell):
    cell = "%%bqml\nSELECT * FROM my_dataset.peo|"
    found = {c.text: c for c in completions(catalog_shell, cell)}
    assert {name: c.type for name, c in found.items()} == {"people": "table", "people_view": "view"}
    cursor = cell.index("|")
    assert {(c.start, c.end) for c in found.values()} == {(cursor - len("peo"), cursor)}
    kinds = {c.text: c.type for c in completions(catalog_shell, "%%bqml\nSELECT * FROM my_dataset.|")}
    assert kinds["object_table"] == "object table"
    features = {
        c.text: c.type
        for c in completions(catalog_shell, "%%bqml\nSELECT | FROM ML.PREDICT(MODEL my_dataset.scorer, (SELECT 1))")
    }
    assert (features["image"], features["score"]) == ("feature", "label")


def test_python_cells_and_the_magic_line_are_left_to_python(catalog_shell):
    catalog_shell.user_ns["number"] = 1
    assert "real" in texts(catalog_shell, "number.re|")
    assert "people" not in texts(catalog_shell, "x = 'SELECT * FROM my_dataset.|'")
    assert "people" not in texts(catalog_shell, "%%bqml --max_results 3 my_dataset.|\nSELECT 1")


def test_bigquery_cells_complete_only_when_the_dropin_runs_them(catalog_shell):
    def googles_bigquery(line: str, cell: str) -> None:
        """Stands in for Google's %%bigquery (registered from its own module)."""

    googles_bigquery.__module__ = "bigquery_magics.bigquery"
    cells = catalog_shell.magics_manager.magics["cell"]
    cell = "%%bigquery\nSELECT * FROM my_dataset.|"
    try:
        catalog_shell.register_magic_function(googles_bigquery, magic_kind="cell", magic_name="bigquery")
        assert "people" not in texts(catalog_shell, cell)
        with capture_output():  # its one line saying what it replaced
            catalog_shell.run_line_magic("load_ext", "bqml_magic.bigquery")
        assert "people" in texts(catalog_shell, cell)
    finally:
        if "bqml_magic.bigquery" in catalog_shell.extension_manager.loaded:
            catalog_shell.extension_manager.unload_extension("bqml_magic.bigquery")
        cells.pop("bigquery", None)


def test_a_new_table_is_offered_after_the_cell_that_created_it(catalog_shell):
    cell = "%%bqml\nSELECT * FROM my_dataset.|"
    assert "fresh" not in texts(catalog_shell, cell)
    catalog_shell.run_cell("%%bqml\nCREATE TABLE my_dataset.fresh AS SELECT 1 AS x")
    assert "fresh" in texts(catalog_shell, cell)
    catalog_shell.run_cell("%%bqml\nDROP TABLE my_dataset.fresh")
    assert "fresh" not in texts(catalog_shell, cell)


def test_tab_in_the_terminal_completes_in_place(catalog_shell):
    from IPython.terminal.ptutils import IPythonPTCompleter
    from prompt_toolkit.completion import CompleteEvent
    from prompt_toolkit.document import Document

    text = "%%bqml\nSELECT * FROM my_dataset.obj"
    terminal = IPythonPTCompleter(ipy_completer=catalog_shell.Completer)  # what Tab asks at the prompt
    found = list(terminal.get_completions(Document(text), CompleteEvent(completion_requested=True)))
    assert [(c.text, c.start_position) for c in found] == [("object_table", -3)]


def test_tab_in_a_fresh_notebook_starts_no_engine_and_makes_no_workspace(shell, tmp_path):
    context.workspace = tmp_path / "not_yet"
    assert {"DECODE_IMAGE", "DISTANCE"} <= set(texts(shell, "%%bqml\nSELECT ML.D|"))
    assert texts(shell, "%%bqml\nSELECT * FROM |") == ["ML.PREDICT"]
    assert context.started_engine() is None
    assert not context.workspace.exists()


@pytest.fixture
def shared_workspace(shell, tmp_path, monkeypatch) -> Path:
    """A workspace on disk with ``shared.before``, that engines let go of as soon as they are idle."""
    monkeypatch.setattr(lock, "WAIT_SECONDS", 60.0)
    monkeypatch.setattr(database, "LINGER_SECONDS", 0.0)
    context.workspace = tmp_path / "ws"
    shell.run_cell("%%bqml\nCREATE SCHEMA shared; CREATE TABLE shared.before AS SELECT 1 AS x")
    return context.workspace


def test_a_workspace_that_another_engine_holds_is_not_waited_for(shell, shared_workspace, monkeypatch):
    """The last snapshot is offered at once, however long another engine keeps the workspace."""
    cell = "%%bqml\nSELECT * FROM shared.|"
    assert texts(shell, cell) == ["before"]
    monkeypatch.setattr(snapshots, "STALE_SECONDS", 0.0)  # every Tab wants a new snapshot
    other = WorkspaceLock(shared_workspace)
    other.acquire(threading.Event())  # once our engine has let go of it
    try:
        started = time.monotonic()
        assert texts(shell, cell) == ["before"]  # the last one
        context.close()  # as after a kernel restart: an engine would have to wait to start
        assert texts(shell, cell) == []
        assert context.started_engine() is None
        assert time.monotonic() - started < lock.WAIT_SECONDS / 2
    finally:
        other.release()
    assert texts(shell, cell) == ["before"]  # free again: the engine starts on this Tab


def test_tables_another_kernel_creates_are_offered_once_the_snapshot_is_stale(shell, shared_workspace, monkeypatch):
    cell = "%%bqml\nSELECT * FROM shared.|"
    assert texts(shell, cell) == ["before"]
    other = Engine(workspace=shared_workspace)
    other.query("CREATE TABLE shared.later AS SELECT 2 AS x")
    other.close()
    assert texts(shell, cell) == ["before"]  # not stale yet
    monkeypatch.setattr(snapshots, "STALE_SECONDS", 0.0)
    offered = texts(shell, cell)  # the last snapshot at once, a new one taken in the background
    for _ in range(200):
        if offered == ["before", "later"]:
            break
        time.sleep(0.05)
        offered = texts(shell, cell)
    assert offered == ["before", "later"]


def test_a_snapshot_is_not_waited_for_while_a_statement_runs(engine):
    """From another thread (a widget's callback, say) while a long statement holds the engine."""

    def long_statement() -> None:
        with contextlib.suppress(Cancelled):
            engine.query("SELECT COUNT(*) FROM UNNEST(GENERATE_ARRAY(1, 99999)) a, UNNEST(GENERATE_ARRAY(1, 99999)) b")

    runner = threading.Thread(target=long_statement)
    runner.start()
    busy = False
    while runner.is_alive() and not busy:
        busy = engine.catalog_snapshot(wait=False) is None
    while runner.is_alive():  # an interrupt that comes before the statement starts is not its
        engine.interrupt()
        runner.join(0.1)
    assert busy
    assert [r.name for r in engine.catalog_snapshot(wait=False).contents("my_dataset")] == ["object_table"]


@pytest.mark.integration
def test_a_jupyter_kernel_answers_complete_requests_with_our_names(tmp_path):
    """What JupyterLab sends on Tab after ``FROM my_dataset.``: ipykernel's complete_request."""
    from ipykernel.kernelspec import write_kernel_spec
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import KernelManager

    # This interpreter's kernel, whatever kernels the machine has, importing this checkout's bqml_magic.
    write_kernel_spec(tmp_path / "kernels" / "this-python", overrides={"env": {"PYTHONPATH": str(ROOT)}})
    specs = KernelSpecManager(kernel_dirs=[str(tmp_path / "kernels")])
    kernel = KernelManager(kernel_name="this-python", kernel_spec_manager=specs)
    kernel.start_kernel(cwd=str(tmp_path))
    client = kernel.client()
    client.start_channels()
    try:
        client.wait_for_ready(timeout=120)
        for code in (
            "%load_ext bqml_magic",
            "%%bqml\nCREATE SCHEMA my_dataset; CREATE TABLE my_dataset.object_table AS SELECT 'gs://b/x.jpg' AS uri",
        ):
            assert client.execute_interactive(code, timeout=120)["content"]["status"] == "ok"
        for marked, typed, matches in [
            ("%%bqml\nSELECT * FROM my_dataset.|", "", ["object_table"]),
            ("%%bqml\nSELECT * FROM my_dataset.obj|", "obj", ["object_table"]),
            ("%%bqml\nSELECT u| FROM my_dataset.object_table", "u", ["uri"]),
        ]:
            cursor = marked.index("|")
            reply = client.complete(marked.replace("|", ""), cursor, reply=True, timeout=120)["content"]
            assert reply["matches"] == matches
            assert (reply["cursor_start"], reply["cursor_end"]) == (cursor - len(typed), cursor)
    finally:
        client.stop_channels()
        kernel.shutdown_kernel(now=True)
