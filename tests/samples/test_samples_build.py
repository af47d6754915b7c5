"""The sample cache: layout, photos, labels, idempotence, atomic publishing, fetch errors."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from bqml_magic import samples
from bqml_magic.errors import BQMLError
from bqml_magic.samples import builder, mobilenet, photos

MAGIC = {".png": b"\x89PNG\r\n\x1a\n", ".jpg": b"\xff\xd8\xff"}


def test_every_model_is_there(sample_set):
    for model_type in samples.MODEL_FILES:
        for variant in samples.VARIANTS:
            path = sample_set.model_path(model_type, variant)
            assert (path / "saved_model.pb").is_file() if model_type == "TENSORFLOW" else path.is_file()
    assert (sample_set.model_path("tensorflow", "features") / "variables" / "variables.index").is_file()
    with pytest.raises(ValueError, match="variant in"):
        sample_set.model_path("ONNX", "detector")


def test_bucket_holds_the_photos_in_their_own_formats(sample_set):
    files = sorted(p for p in sample_set.bucket.rglob("*") if p.is_file())
    assert [p.name for p in files] == sorted(photos.PHOTOS)
    for path in files:
        assert path.read_bytes().startswith(MAGIC[path.suffix]), path.name


def test_labels(sample_set):
    labels = sample_set.labels
    assert len(labels) == 1001
    assert (labels[0], labels[1], labels[653], labels[968], labels[282]) == (
        "background",
        "tench",
        "military uniform",
        "espresso",
        "tabby",
    )


def test_second_build_is_cached_and_fast(sample_set):
    started = time.perf_counter()
    again = samples.build()
    assert again == sample_set and time.perf_counter() - started < 0.5


def test_atomic_dir_publishes_only_complete_builds(tmp_path):
    final = tmp_path / "samples-v1"
    with pytest.raises(RuntimeError), builder.atomic_dir(final) as work:
        (work / "half.txt").write_text("x")
        raise RuntimeError("interrupted")
    assert list(tmp_path.iterdir()) == []
    with builder.atomic_dir(final) as work:
        (work / "done.txt").write_text("1")
    with builder.atomic_dir(final, force=True) as work:
        (work / "done.txt").write_text("2")
    assert [p.name for p in tmp_path.iterdir()] == ["samples-v1"]
    assert (final / "done.txt").read_text() == "2"


def test_cache_location_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("BQML_MAGIC_CACHE", str(tmp_path))
    assert builder.sample_dir() == tmp_path / f"samples-{builder.VERSION}"


def test_unreachable_index_says_what_and_where(tmp_path, monkeypatch):
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("PIP_INDEX_URL", "http://127.0.0.1:9/simple")
    monkeypatch.setenv("PIP_RETRIES", "0")
    monkeypatch.setenv("PIP_NO_CACHE_DIR", "1")
    with pytest.raises(
        BQMLError, match=r"Could not fetch the sample model: `pip download nudity==0\.2\.3`.*PIP_INDEX_URL"
    ):
        mobilenet.fetch_graph(Path(tmp_path))
