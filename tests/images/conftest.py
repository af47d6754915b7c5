"""Fixtures for the image kernels: real photos from installed packages, Pillow-made files, TF."""

from __future__ import annotations

import io
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image as PILImage


def _package_dir(name: str) -> Path:
    module = pytest.importorskip(name)
    return Path(module.__file__).parent


def photo_paths() -> dict[str, Path]:
    """Real photos shipped inside installed wheels (nothing is downloaded)."""
    skimage, mpl, sklearn = (_package_dir(n) for n in ("skimage", "matplotlib", "sklearn"))
    paths = {
        "rocket.jpg": skimage / "data" / "rocket.jpg",
        "retina.jpg": skimage / "data" / "retina.jpg",
        "hubble_deep_field.jpg": skimage / "data" / "hubble_deep_field.jpg",
        "grace_hopper.jpg": mpl / "mpl-data" / "sample_data" / "grace_hopper.jpg",
        "china.jpg": sklearn / "datasets" / "images" / "china.jpg",
        "flower.jpg": sklearn / "datasets" / "images" / "flower.jpg",
        "chelsea.png": skimage / "data" / "chelsea.png",
        "coffee.png": skimage / "data" / "coffee.png",
        "astronaut.png": skimage / "data" / "astronaut.png",
    }
    return {name: path for name, path in paths.items() if path.exists()}


@pytest.fixture(scope="session")
def sample_photos() -> dict[str, bytes]:
    found = photo_paths()
    if not found:
        pytest.skip("no sample photos installed (scikit-image, matplotlib, scikit-learn)")
    return {name: path.read_bytes() for name, path in found.items()}


@pytest.fixture(scope="session")
def tf():
    """TensorFlow, imported once per session (slow to import, optional dependency)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    return pytest.importorskip("tensorflow")


@pytest.fixture(scope="session")
def tf_decode(tf) -> Callable[[bytes], np.ndarray]:
    return lambda data: tf.io.decode_image(data, channels=3, expand_animations=False).numpy()


def _encode(pixels: np.ndarray | PILImage.Image, fmt: str, mode: str | None = None, **options) -> bytes:
    """Image file bytes made by Pillow from an array (or a Pillow image)."""
    image = pixels if isinstance(pixels, PILImage.Image) else PILImage.fromarray(pixels, mode)
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


@pytest.fixture(scope="session")
def encode() -> Callable[..., bytes]:
    return _encode


@pytest.fixture(scope="session")
def rgb() -> np.ndarray:
    """A 17x33 RGB test card: smooth gradients plus noise, odd sizes on purpose."""
    rng = np.random.default_rng(7)
    y, x = np.mgrid[0:17, 0:33]
    base = np.stack([x * 7, y * 13, (x + y) * 5], axis=-1)
    return ((base + rng.integers(0, 40, base.shape)) % 256).astype(np.uint8)
