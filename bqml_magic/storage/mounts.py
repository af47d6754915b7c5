"""Where a workspace's buckets live on this machine, remembered across kernel restarts.

A workspace keeps its object tables, and their ``gs://bucket/...`` URIs mean nothing until the
bucket is mapped to a folder again: after a restart every query would fail. So each mapping is
remembered, per workspace, in the user's own state folder (``$BQML_MAGIC_STATE``, else
platformdirs' user state folder), never inside the workspace: a workspace copied from someone
else (a repository, a shared drive) must not bring mappings that open this machine's folders to
its SQL. One small JSON file per workspace, replaced atomically under a file lock.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path

from filelock import FileLock


def state_root() -> Path:
    """``$BQML_MAGIC_STATE``, or the platform's per-user state folder for bqml_magic."""
    if os.environ.get("BQML_MAGIC_STATE"):
        return Path(os.environ["BQML_MAGIC_STATE"])
    import platformdirs

    return platformdirs.user_state_path("bqml_magic")


class RememberedMounts:
    """The bucket folders remembered for one workspace (an absolute path)."""

    def __init__(self, workspace: Path, root: Path | None = None):
        self.workspace = workspace
        key = hashlib.sha256(str(workspace).encode()).hexdigest()[:24]
        self.path = (root or state_root()) / "mounts" / f"{key}.json"

    def load(self) -> dict[str, str]:
        """``{bucket: folder}`` as last remembered; empty when none (or the file is unreadable)."""
        try:
            data = json.loads(self.path.read_text())
        except (OSError, ValueError):
            return {}
        if not isinstance(data, dict) or data.get("workspace") != str(self.workspace):
            return {}
        buckets = data.get("buckets")
        return {str(b): str(f) for b, f in buckets.items()} if isinstance(buckets, dict) else {}

    def remember(self, buckets: dict[str, Path]) -> None:
        """Record these mappings (added to, or replacing, those remembered before)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with FileLock(f"{self.path}.lock"):
            before = self.load()
            merged = {**before, **{b: str(f) for b, f in buckets.items()}}
            if merged == before:
                return
            text = json.dumps({"workspace": str(self.workspace), "buckets": merged}, indent=1)
            handle, temporary = tempfile.mkstemp(dir=self.path.parent, prefix=".mounts-")
            with os.fdopen(handle, "w") as out:
                out.write(text)
            os.replace(temporary, self.path)
