"""A pytest ``shell`` fixture: an IPython shell with %%bqml loaded that re-raises cell errors.

IPython prints errors from cells and carries on, which would let a broken magic pass a test;
``TestingShell`` (jupysql's idea) raises them instead. Import the fixture into a test module
with ``from magic_shell import shell``. Each test gets a fresh ``bqml_magic.context`` with an
in-memory workspace, restored afterwards.
"""
from __future__ import annotations

import copy
from typing import Iterator

import pytest
from IPython.core.interactiveshell import InteractiveShell
from traitlets.config import Config

from bqml_magic.config import context


class TestingShell(InteractiveShell):
    """InteractiveShell whose ``run_cell`` raises the cell's exception."""

    def run_cell(self, *args, **kwargs):
        result = super().run_cell(*args, **kwargs)
        result.raise_error()
        return result


@pytest.fixture
def shell() -> Iterator[TestingShell]:
    config = Config()
    config.HistoryManager.hist_file = ":memory:"
    ip = TestingShell.instance(config=config)
    if "bqml_magic" not in ip.extension_manager.loaded:
        ip.run_line_magic("load_ext", "bqml_magic")
    saved = {key: copy.copy(value) for key, value in vars(context).items()}
    context.workspace = None
    context.progress_bar_type = None
    try:
        yield ip
    finally:
        context.close()
        vars(context).update(saved)
        ip.user_ns.clear()
        ip.init_user_ns()
