"""Fixtures shared by the whole suite: real photos in a bucket folder, fresh engines."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from bqml_magic import Engine, samples


def package_file(package: str, *parts: str) -> Path:
    """A data file shipped inside an installed package (never downloaded)."""
    import importlib.util

    spec = importlib.util.find_spec(package)
    assert spec is not None and spec.origin, f"{package} is not installed"
    return Path(spec.origin).parent.joinpath(*parts)


@pytest.fixture
def photos(tmp_path: Path) -> Path:
    """A bucket folder: two real photos (one in a subfolder) and a text file."""
    root = tmp_path / "bucket"
    (root / "photos" / "more").mkdir(parents=True)
    shutil.copy(package_file("matplotlib", "mpl-data", "sample_data", "grace_hopper.jpg"), root / "photos")
    shutil.copy(package_file("skimage", "data", "coffee.png"), root / "photos" / "more")
    (root / "notes.txt").write_text("not an image")
    return root


@pytest.fixture
def engine(photos: Path) -> Engine:
    eng = Engine(buckets={"my_bucket": photos})
    eng.query(
        """CREATE SCHEMA my_dataset;
           CREATE EXTERNAL TABLE my_dataset.object_table WITH CONNECTION `us.my-connection`
           OPTIONS(object_metadata = 'SIMPLE', uris = ['gs://my_bucket/*'])"""
    )
    yield eng
    eng.close()


@pytest.fixture(scope="session")
def sample_set() -> samples.Samples:
    """The sample photos and MobileNet models, built once into the user cache (SPEC section 7)."""
    return samples.build()
