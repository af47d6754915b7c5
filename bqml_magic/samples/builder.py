"""Builds the sample cache: models in three formats, a photo bucket, ImageNet labels.

The cache lives outside the repository (``$BQML_MAGIC_CACHE`` or ``~/.cache/bqml_magic``) in a
folder named after ``VERSION``, so a change of layout rebuilds. Everything is built in a
temporary sibling folder and renamed into place at the end: an interrupted build leaves no
half cache, and of two concurrent builds the first rename wins.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from bqml_magic.samples import mobilenet, photos
from bqml_magic.storage.cache import cache_root

VERSION = "v1"
MARKER = "samples.json"


def sample_dir() -> Path:
    return cache_root() / f"samples-{VERSION}"


@contextlib.contextmanager
def atomic_dir(final: Path, force: bool = False) -> Iterator[Path]:
    """Yields an empty temp folder that becomes ``final`` only if the block succeeds."""
    final.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{final.name}-", dir=final.parent))
    work.chmod(0o755)  # mkdtemp makes it private; the cache is shared like any ~/.cache entry
    try:
        yield work
        if force and final.exists():
            old = final.with_name(f".{final.name}-old-{os.getpid()}")
            final.rename(old)
            shutil.rmtree(old)
        with contextlib.suppress(OSError):  # another process published first: keep theirs
            work.rename(final)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def build_into(folder: Path) -> dict:
    """Builds every sample into ``folder``; returns the manifest (also written as the marker)."""
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as download:
        graph = mobilenet.fetch_graph(Path(download))
    models = folder / "models"
    saved = mobilenet.build_saved_models(graph, models / "tensorflow")
    (models / "tflite").mkdir()
    (models / "onnx").mkdir()
    for variant, path in saved.items():
        mobilenet.to_tflite(path, models / "tflite" / f"{variant}.tflite")
        mobilenet.to_onnx(path, models / "onnx" / f"{variant}.onnx", variant)
    copied = photos.copy_photos(folder / "bucket" / "photos")
    (folder / "imagenet_labels.txt").write_text("\n".join(mobilenet.imagenet_labels()) + "\n")
    manifest = {
        "version": VERSION,
        "source": mobilenet.SDIST,
        "photos": [p.name for p in copied],
        "models": sorted(str(p.relative_to(folder)) for p in models.glob("*/*")),
        "seconds": round(time.perf_counter() - started, 1),
    }
    (folder / MARKER).write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest
