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


@pytest.fixture
def save_tagger():
    """Writes a SavedModel of two features, an image and a string, into a folder; returns it.

    ``image`` float32 [N, 8, 8, 3] and ``tag`` string [N] -> ``length`` INT64 = len(tag),
    ``bright`` BOOL = mean(image) > 0.5.
    """
    def save(folder: Path) -> Path:
        import tensorflow as tf

        class Tagger(tf.Module):
            @tf.function(input_signature=[tf.TensorSpec([None, 8, 8, 3], tf.float32, name="image"),
                                          tf.TensorSpec([None], tf.string, name="tag")])
            def serve(self, image, tag):
                return {"length": tf.cast(tf.strings.length(tag), tf.int64),
                        "bright": tf.reduce_mean(image, axis=[1, 2, 3]) > 0.5}

        model = Tagger()
        tf.saved_model.save(model, str(folder), signatures={"serving_default": model.serve})
        return folder

    return save
