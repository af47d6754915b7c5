"""The tutorials are tests: ``pytest notebooks`` runs every notebook in a fresh kernel (nbval).

Outputs are not stored in git (they hold thumbnails, timings and progress bars), so nbval runs
in lax mode: a notebook fails when a cell raises, and each tutorial ends with a cell of
``assert``s on known answers (coffee is an espresso, sizes after resizing, ...). The kernel is
this Python environment's, whatever ``python3`` kernelspec the machine has.
"""
from __future__ import annotations

import os
import tempfile

import pytest

# The tutorials' remembered bucket mounts go to a folder of this run, not the user's own.
os.environ.setdefault("BQML_MAGIC_STATE", tempfile.mkdtemp(prefix="bqml_state_"))


def pytest_configure(config: pytest.Config) -> None:
    config.option.nbval_lax = True
    config.option.current_env = True
