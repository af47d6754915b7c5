"""The README's Python quick start and notebook cells run as written and give what the README says."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from bqml_magic.config import context

README = Path(__file__).resolve().parents[1] / "README.md"

pytestmark = pytest.mark.integration


def python_block(section: str) -> str:
    """The one Python block of a section of the README (the text under its ``## section`` heading)."""
    [text] = [part for part in README.read_text().split("\n## ") if part.startswith(section + "\n")]
    [block] = re.findall(r"```python\n(.*?)```", text, re.DOTALL)
    return block


def test_the_quick_start_runs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # its workspace is ./.bqml
    namespace: dict = {}
    exec(compile(python_block("Quick start (Python)"), str(README), "exec"), namespace)
    predictions = namespace["predictions"]
    assert list(predictions.columns) == ["predictions", "uri", "input_1"]  # the model's outputs first
    assert len(predictions) == 5 and predictions.uri.str.endswith(".jpg").all()
    assert (tmp_path / ".bqml" / "catalog.duckdb").is_file()
    namespace["eng"].close()


def test_the_similar_photos_example_runs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(compile(python_block("Similar photos"), str(README), "exec"), namespace)
    similar = namespace["similar"]
    assert list(similar.columns) == ["photo", "similar", "distance"] and len(similar) == 3
    assert similar.similar[0] == similar.photo[0] and similar.distance.is_monotonic_increasing  # the cat first
    indexes = namespace["eng"].query("SELECT index_name FROM my_dataset.INFORMATION_SCHEMA.VECTOR_INDEXES")
    assert indexes.index_name.tolist() == ["photo_index"]
    namespace["eng"].close()


def test_the_notebook_cells_run(tmp_path, monkeypatch, shell):
    """The "In a notebook" cells, in a fresh folder, with the default workspace ``./.bqml``; then the SQL
    function example, which must give the same predictions."""
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
    [function_example] = re.findall(r"```sql\n(CREATE OR REPLACE FUNCTION.*?)```", README.read_text(), re.DOTALL)
    shell.run_cell(f"%%bqml through_function\n{function_example}")
    through_function = shell.user_ns["through_function"].set_index("uri").predictions
    direct = predictions.set_index("uri").predictions
    assert sorted(through_function.index) == sorted(direct.index)
    # The images are equal (tests/engine/test_sql_functions.py); TensorFlow's float32 scores may move in
    # their last bits with how the rows fall into batches, which differs between the two queries.
    assert all(np.allclose(through_function[uri], scores, rtol=0, atol=1e-6) for uri, scores in direct.items())
