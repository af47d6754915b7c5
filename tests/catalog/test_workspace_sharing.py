"""Two notebooks on one workspace take turns; a busy one is named, with the two ways out.

The second notebook in a folder used to fail every cell: the first kernel kept DuckDB's file
lock while idle. Now an engine holds its workspace only while it runs a statement (and a moment
after: catalog/database.py), and the others wait for their turn (catalog/lock.py).
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from bqml_magic import Engine
from bqml_magic.catalog import database, lock
from bqml_magic.errors import Cancelled, StorageError


@pytest.fixture
def quick_turns(monkeypatch):
    """Idle engines let go at once, and a waiting one gives up after half a second."""
    monkeypatch.setattr(database, "LINGER_SECONDS", 0.0)
    monkeypatch.setattr(lock, "WAIT_SECONDS", 0.5)


def _python(code: str, **env: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code)],
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_two_engines_take_turns_on_one_workspace(tmp_path):
    first = Engine(workspace=tmp_path / "ws")
    second = Engine(workspace=tmp_path / "ws")  # waits for the first one's moment of idleness
    first.query("CREATE SCHEMA d; CREATE TABLE d.a AS SELECT 1 AS x")
    second.query("CREATE TABLE d.b AS SELECT x + 1 AS x FROM d.a")
    assert first.query("SELECT x FROM d.b")["x"].tolist() == [2]
    first.close()
    second.close()


def test_another_process_uses_the_workspace_while_this_one_is_idle(tmp_path):
    """The second notebook's kernel: a process of its own, while the first kernel lives on."""
    first = Engine(workspace=tmp_path / "ws")
    first.query("CREATE SCHEMA d; CREATE TABLE d.t AS SELECT 41 AS x")
    other = _python(
        f"""
        from bqml_magic import Engine
        eng = Engine(workspace={str(tmp_path / "ws")!r})
        eng.query("CREATE TABLE d.u AS SELECT x + 1 AS x FROM d.t")
        print(eng.query("SELECT x FROM d.u")["x"].tolist())
        """
    )
    out, err = other.communicate(timeout=120)
    assert other.returncode == 0, err
    assert out.strip() == "[42]"
    assert first.query("SELECT x FROM d.u")["x"].tolist() == [42]  # and back to the first one
    first.close()


def test_a_busy_workspace_names_the_notebook_that_holds_it_and_the_ways_out(tmp_path, quick_turns):
    holder = _python(
        f"""
        import time
        from bqml_magic import Engine
        eng = Engine(workspace={str(tmp_path / "ws")!r})
        with eng._services.database.session():  # a long statement, as far as others can tell
            print("holding", flush=True)
            time.sleep(120)  # until killed
        """,
        JPY_SESSION_NAME="/home/me/01_image_classification.ipynb",
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "holding"
        with pytest.raises(StorageError) as caught:
            Engine(workspace=tmp_path / "ws")
        message = str(caught.value)
        assert "is in use by the kernel of notebook /home/me/01_image_classification.ipynb" in message
        assert f"PID {holder.pid}" in message and "busy since" in message
        assert "wait for that statement to finish" in message
        assert f"Engine(workspace='{tmp_path / 'ws-2'}')" in message
        assert "duckdb" not in message.lower() and "python" not in message.lower()
    finally:
        holder.kill()
        holder.communicate()
    Engine(workspace=tmp_path / "ws").close()  # free again once the holder is gone


def test_a_busy_workspace_seen_from_a_notebook_suggests_the_magic(tmp_path, quick_turns, shell):
    busy = Engine(workspace=tmp_path / "ws")
    with busy._services.database.session():
        shell.run_line_magic("bqml", f"workspace {tmp_path / 'ws'}")
        with pytest.raises(StorageError, match=r"another Engine in this process.*%bqml workspace .*ws-2"):
            shell.run_cell_magic("bqml", "", "SELECT 1 AS x")
    assert shell.run_cell_magic("bqml", "x", "SELECT 1 AS x") is None and shell.user_ns["x"]["x"].tolist() == [1]
    busy.close()


def test_an_interrupt_stops_the_wait(tmp_path, monkeypatch):
    monkeypatch.setattr(lock, "WAIT_SECONDS", 60.0)
    busy = Engine(workspace=tmp_path / "ws")
    waiting = lock.WorkspaceLock(tmp_path / "ws")
    cancel = threading.Event()
    outcome: list[BaseException] = []
    with busy._services.database.session():

        def wait() -> None:
            try:
                waiting.acquire(cancel)
            except BaseException as exc:
                outcome.append(exc)

        thread = threading.Thread(target=wait)
        thread.start()
        time.sleep(0.3)
        started = time.monotonic()
        cancel.set()
        thread.join(5)
    assert isinstance(outcome[0], Cancelled) and time.monotonic() - started < 1
    busy.close()


def test_an_idle_engine_lets_the_workspace_go(tmp_path, quick_turns):
    eng = Engine(workspace=tmp_path / "ws")
    eng.query("SELECT 1")
    deadline = time.monotonic() + 5
    while eng._services.database._con is not None and time.monotonic() < deadline:
        time.sleep(0.02)
    assert eng._services.database._con is None
    assert eng.query("SELECT 2 AS x")["x"].tolist() == [2]  # and takes it back when needed
    eng.close()


def test_an_in_memory_engine_needs_no_lock(tmp_path):
    eng = Engine()
    assert eng.query("SELECT 3 AS x")["x"].tolist() == [3]
    assert not list(Path(tmp_path).iterdir())
    eng.close()
