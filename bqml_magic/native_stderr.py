"""Keeping native libraries' log lines out of notebooks and terminals, never losing a real one.

TensorFlow and LiteRT print from C++ straight to file descriptor 2, where neither
``TF_CPP_MIN_LOG_LEVEL`` (ignored by TF 2.21 for its start-up notices) nor Python's warnings
reach; Jupyter shows such lines as red error text under a ``CREATE MODEL`` cell, and building
the sample models prints screens of them. While such code runs, descriptor 2 is held in a
temporary file; afterwards a policy decides what is passed on to ``sys.stderr``.
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from collections.abc import Iterator

NOTICES = (
    "All log messages before absl::InitializeLog() is called",
    "oneDNN custom operations are on",
    "Created TensorFlow Lite XNNPACK delegate",
)


@contextlib.contextmanager
def held_stderr(lines: list[str]) -> Iterator[None]:
    """Hold descriptor 2 (C++ and Python output alike) for the block; ``lines`` gets what was written."""
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):  # no descriptor 2 (some embedded interpreters): nothing to hold
        yield
        return
    with tempfile.TemporaryFile() as held:
        os.dup2(held.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            held.seek(0)
            lines.extend(held.read().decode(errors="replace").splitlines(keepends=True))


@contextlib.contextmanager
def without_notices(notices: tuple[str, ...] = NOTICES) -> Iterator[None]:
    """Pass on every line but the runtimes' known start-up notices."""
    lines: list[str] = []
    try:
        with held_stderr(lines):
            yield
    finally:
        sys.stderr.write("".join(line for line in lines if not any(notice in line for notice in notices)))


@contextlib.contextmanager
def shown_on_failure() -> Iterator[None]:
    """Pass on everything, but only if the block fails: a build's log is for its failures."""
    lines: list[str] = []
    try:
        with held_stderr(lines):
            yield
    except BaseException:
        sys.stderr.write("".join(lines))
        raise
