"""The README's Python quick start and notebook cells run as written and give what the README says."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bqml_magic.config import context

README = Path(__file__).resolve().parents[1] / "README.md"

pytestmark = pytest.mark.integration


def test_the_quick_start_runs(tmp_path, monkeypatch):
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), re.DOTALL)
    assert len(blocks) == 1, "the README has one Python block: the quick start"
    monkeypatch.chdir(tmp_path)  # its workspace is ./.bqml
    namespace: dict = {}
    exec(compile(blocks[0], str(README), "exec"), namespace)
    predictions = namespace["predictions"]
    assert list(predictions.columns) == ["predictions", "uri", "input_1"]  # the model's outputs first
    assert len(predictions) == 5 and predictions.uri.str.endswith(".jpg").all()
    assert (tmp_path / ".bqml" / "catalog.duckdb").is_file()
    namespace["eng"].close()


def test_the_notebook_cells_run(tmp_path, monkeypatch, shell):
    """The "In a notebook" cells, in a fresh folder, with the default workspace ``./.bqml``."""
    cells = re.findall(r"```ipython\n(.*?)```", README.read_text(), re.DOTALL)
    assert len(cells) == 3, "the README's notebook example is three cells"
    monkeypatch.chdir(tmp_path)
    context.workspace = ".bqml"  # the default, which the shell fixture replaces with memory
    for cell in cells:
        shell.run_cell(cell)
    predictions = shell.user_ns["predictions"]
    assert list(predictions.columns) == ["predictions", "uri", "input_1"]
    assert len(predictions) == 10
    assert (tmp_path / ".bqml" / "catalog.duckdb").is_file()
