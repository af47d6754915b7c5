"""``%load_ext bqml_magic.bigquery``: ``%%bigquery`` itself runs on bqml_magic, said once; unloading goes back."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from IPython.utils.capture import capture_output

from bqml_magic.bigquery import announcement

ROOT = Path(__file__).resolve().parents[1]
TUTORIAL = ROOT / "notebooks" / "01_image_classification.ipynb"


def googles_bigquery(line: str, cell: str) -> str:
    """Stands in for Google's %%bigquery, registered under its module's name as bigquery-magics does."""
    return "Google's %%bigquery ran"


googles_bigquery.__module__ = "bigquery_magics.bigquery"


@pytest.fixture
def load_dropin(shell) -> Iterator:
    """``load()`` loads the drop-in and returns what it printed; unloaded after the test."""
    manager = shell.extension_manager

    def load() -> str:
        with capture_output() as cap:
            shell.run_line_magic("load_ext", "bqml_magic.bigquery")
        return cap.stdout

    yield load
    if "bqml_magic.bigquery" in manager.loaded:
        manager.unload_extension("bqml_magic.bigquery")
    shell.magics_manager.magics["cell"].pop("bigquery", None)


def test_the_dropin_runs_bigquery_cells_here_and_says_so_once(shell, load_dropin):
    assert load_dropin().splitlines() == [announcement(None)]
    assert "%unload_ext bqml_magic.bigquery" in announcement(None)
    assert "now runs locally" not in load_dropin()  # loaded already: IPython says so, we say nothing more
    shell.user_ns["query"] = "SELECT 6 * 7 AS answer"
    shell.run_cell("%%bigquery out --project my-project\n$query")
    assert shell.user_ns["out"]["answer"].tolist() == [42]
    assert shell.find_line_magic("bqml") is not None  # %bqml mount / workspace beside it


def test_unloading_removes_bigquery(shell, load_dropin):
    load_dropin()
    shell.run_line_magic("unload_ext", "bqml_magic.bigquery")
    assert shell.find_cell_magic("bigquery") is None
    assert shell.find_cell_magic("bqml") is not None  # %%bqml stays: it is bqml_magic's


def test_the_dropin_replaces_googles_magic_and_gives_it_back(shell, load_dropin):
    shell.register_magic_function(googles_bigquery, magic_kind="cell", magic_name="bigquery")
    said = load_dropin()
    assert said.splitlines() == [
        "%%bigquery now runs locally on bqml_magic, replacing Google's BigQuery magics in this kernel; "
        "to go back: %unload_ext bqml_magic.bigquery"
    ]
    shell.run_cell("%%bigquery out\nSELECT 1 AS x")
    assert shell.user_ns["out"]["x"].tolist() == [1]
    shell.run_line_magic("unload_ext", "bqml_magic.bigquery")
    assert shell.run_cell_magic("bigquery", "", "SELECT 1") == "Google's %%bigquery ran"


def test_loading_the_dropin_imports_nothing_heavy():
    code = (
        "import sys, IPython; ip = IPython.InteractiveShell.instance()\n"
        "ip.run_line_magic('load_ext', 'bqml_magic.bigquery')\n"
        "print(sorted(m for m in ('duckdb', 'sqlglot', 'tensorflow', 'ipywidgets', 'pandas') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.splitlines() == [announcement(None), "[]"]


def as_bigquery_notebook(notebook: dict) -> int:
    """Rename every ``%%bqml`` cell to ``%%bigquery`` and load the drop-in instead; the cells renamed."""
    renamed = 0
    for cell in notebook["cells"]:
        if cell["cell_type"] != "code":
            continue
        source = "".join(cell["source"])
        source = source.replace("%load_ext bqml_magic\n", "%load_ext bqml_magic.bigquery\n")
        source, count = re.subn(r"^%%bqml\b", "%%bigquery", source)
        cell["source"] = source
        renamed += count
    return renamed


@pytest.mark.integration
def test_tutorial_01_runs_with_its_cells_renamed_to_bigquery(tmp_path):
    """The tutorial as a BigQuery user wrote it (``%bqml mount`` lines kept): no cell fails, the predictions show."""
    import nbformat
    from ipykernel.kernelspec import write_kernel_spec
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import KernelManager
    from nbclient import NotebookClient

    notebook = json.loads(TUTORIAL.read_text())
    assert as_bigquery_notebook(notebook) == 6
    nb = nbformat.from_dict(notebook)
    # This interpreter's kernel, whatever kernels the machine has, importing this checkout's bqml_magic.
    write_kernel_spec(tmp_path / "kernels" / "this-python", overrides={"env": {"PYTHONPATH": str(ROOT)}})
    specs = KernelSpecManager(kernel_dirs=[str(tmp_path / "kernels")])
    kernel = KernelManager(kernel_name="this-python", kernel_spec_manager=specs)
    NotebookClient(nb, km=kernel, timeout=600, resources={"metadata": {"path": str(tmp_path)}}).execute()

    code = [cell for cell in nb.cells if cell.cell_type == "code"]
    stdout = ["".join(o.get("text", "") for o in cell.outputs if o.output_type == "stream") for cell in code]
    said = [line for text in stdout for line in text.splitlines() if "now runs locally" in line]
    assert said == [announcement(None)]  # once, in the whole notebook
    (predictions,) = [cell for cell in code if cell.source.startswith("%%bigquery predictions")]
    html = "".join(o.get("data", {}).get("text/html", "") for o in predictions.outputs)
    assert "predictions" in html and "data:image/webp;base64," in html
    final = code[-1].outputs[-1]["data"]["text/plain"]  # its asserts passed: espresso, military uniform...
    assert re.fullmatch(r"\(\d+, 3\)", final)
