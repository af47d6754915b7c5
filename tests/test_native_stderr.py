"""Native stderr: runtime notices dropped, other lines kept; a build's log shown only when it fails."""

from __future__ import annotations

import os

import pytest

from bqml_magic.native_stderr import shown_on_failure, without_notices


def test_known_notices_are_dropped_and_other_lines_kept(capfd):
    with without_notices():
        os.write(2, b"I0000 port.cc:153] oneDNN custom operations are on. You may see...\n")
        os.write(2, b"E0000 loader.cc:1] a real problem\n")
        os.write(2, b"INFO: Created TensorFlow Lite XNNPACK delegate for CPU.\n")
    assert capfd.readouterr().err == "E0000 loader.cc:1] a real problem\n"


def test_stderr_is_restored_even_when_the_block_fails(capfd):
    with pytest.raises(RuntimeError), without_notices():
        raise RuntimeError("boom")
    os.write(2, b"after\n")
    assert capfd.readouterr().err == "after\n"


def test_a_log_is_shown_only_when_the_block_fails(capfd):
    with shown_on_failure():
        os.write(2, b"converter chatter\n")
    assert capfd.readouterr().err == ""
    with pytest.raises(RuntimeError), shown_on_failure():
        os.write(2, b"what went wrong\n")
        raise RuntimeError("build failed")
    assert capfd.readouterr().err == "what went wrong\n"
