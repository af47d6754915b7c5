"""Keeping the model runtimes' start-up notices out of notebooks.

TensorFlow and LiteRT print notices such as "oneDNN custom operations are on" from C++ straight
to file descriptor 2, where neither ``TF_CPP_MIN_LOG_LEVEL`` (ignored by TF 2.21 for them) nor
Python's warnings reach; Jupyter shows them as red error text under a ``CREATE MODEL`` cell. While
such a runtime starts, descriptor 2 is held in a temporary file; afterwards the known notices
are dropped and every other line is passed on to ``sys.stderr``, so a real message is never lost.
"""
from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from typing import Iterator

NOTICES = (
    "All log messages before absl::InitializeLog() is called",
    "oneDNN custom operations are on",
    "Created TensorFlow Lite XNNPACK delegate",
)


@contextlib.contextmanager
def without_notices(notices: tuple[str, ...] = NOTICES) -> Iterator[None]:
    """Run a block with native stderr filtered: lines holding one of ``notices`` are dropped."""
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):  # no descriptor 2 (some embedded interpreters): nothing to filter
        yield
        return
    with tempfile.TemporaryFile() as held:
        os.dup2(held.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            held.seek(0)
            lines = held.read().decode(errors="replace").splitlines(keepends=True)
            kept = "".join(line for line in lines if not any(notice in line for notice in notices))
            if kept:
                sys.stderr.write(kept)
