"""Runtime start-up notices are dropped from native stderr; every other line is kept."""
from __future__ import annotations

import os

from bqml_magic.runtimes.native_stderr import without_notices


def test_known_notices_are_dropped_and_other_lines_kept(capfd):
    with without_notices():
        os.write(2, b"I0000 port.cc:153] oneDNN custom operations are on. You may see...\n")
        os.write(2, b"E0000 loader.cc:1] a real problem\n")
        os.write(2, b"INFO: Created TensorFlow Lite XNNPACK delegate for CPU.\n")
    assert capfd.readouterr().err == "E0000 loader.cc:1] a real problem\n"


def test_stderr_is_restored_even_when_the_block_fails(capfd):
    try:
        with without_notices():
            raise RuntimeError("boom")
    except RuntimeError:
        pass
    os.write(2, b"after\n")
    assert capfd.readouterr().err == "after\n"
