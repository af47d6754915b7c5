"""The README's Python quick start runs as written and gives what the README says it gives."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

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
