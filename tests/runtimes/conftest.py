"""Runtime fixtures: the sample models built once per session, each loaded once."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bqml_magic import samples
from bqml_magic.runtimes.base import Runtime
from bqml_magic.runtimes.registry import load_model


@pytest.fixture(scope="session")
def loaded(sample_set):
    """(model_type, variant) -> Runtime, loaded on first use and kept for the session."""
    cache: dict[tuple[str, str], Runtime] = {}

    def get(model_type: str, variant: str) -> Runtime:
        if (model_type, variant) not in cache:
            cache[model_type, variant] = load_model(model_type, sample_set.model_path(model_type, variant))
        return cache[model_type, variant]

    return get


def preprocess(path: Path) -> np.ndarray:
    """Decode, bilinear resize to 224x224 as TensorFlow does, scale to [0, 1]: float32 [224, 224, 3]."""
    import tensorflow as tf
    from PIL import Image

    pixels = np.asarray(Image.open(path).convert("RGB"))
    return (tf.image.resize(pixels, (224, 224), method="bilinear").numpy() / 255.0).astype(np.float32)


@pytest.fixture(scope="session")
def known_photos(sample_set) -> dict[str, np.ndarray]:
    return {name: preprocess(sample_set.bucket / "photos" / name) for name in samples.KNOWN_CLASSES}
