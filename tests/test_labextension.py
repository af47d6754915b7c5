"""The prebuilt JupyterLab extension (labextension/ -> bqml_magic/labextension/): current, and installed.

Users get the built files with the package and need no node, so two things can go wrong unseen: a
change to the extension's sources without a rebuild (``python3 tasks.py labextension`` records a
digest of the sources it built from), and an environment where JupyterLab does not find the
extension (a data-files mistake, a stale copy). What it does in the page is checked by the browser
test (tests/browser/test_jupyterlab.py::test_bqml_cells_are_highlighted_as_sql).
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[1]
BUILT = ROOT / "bqml_magic" / "labextension"
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def tasks() -> ModuleType:
    """tasks.py, which both builds the extension and knows what it is built from."""
    spec = importlib.util.spec_from_file_location("tasks", ROOT / "tasks.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def built_metadata(folder: Path = BUILT) -> dict:
    return json.loads((folder / "package.json").read_text())


def test_the_built_extension_is_built_from_the_sources_as_they_are():
    metadata = built_metadata()
    assert metadata.get("sourceSha256") == tasks().labextension_source_hash(), (
        "labextension/ changed since bqml_magic/labextension/ was built: run python3 tasks.py labextension"
    )
    assert (BUILT / metadata["jupyterlab"]["_build"]["load"]).is_file()


def test_jupyterlab_lists_the_extension_enabled_with_no_node_on_path():
    bin_dir = Path(sys.executable).parent  # the environment's own commands, and nothing else: no node
    listing = subprocess.run(
        [sys.executable, "-m", "jupyterlab.labextensions", "list"],
        env={"PATH": str(bin_dir), "HOME": os.environ.get("HOME", "/"), "JUPYTER_PLATFORM_DIRS": "1"},
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    text = ANSI.sub("", listing.stdout + listing.stderr)
    name, version = built_metadata()["name"], built_metadata()["version"]
    assert re.search(rf"^\s+{re.escape(name)} v{re.escape(version)} enabled OK \(python, bqml_magic\)$", text, re.M), (
        text
    )
    folders = [Path(line) for line in text.splitlines() if line.startswith(os.sep) and Path(line, name).is_dir()]
    assert folders, text
    installed = folders[0] / name
    assert built_metadata(installed).get("sourceSha256") == built_metadata().get("sourceSha256"), (
        f"{installed} is a stale copy of bqml_magic/labextension/: reinstall the package"
    )
