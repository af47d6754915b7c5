"""Images per second for decode + resize to 224x224: bqml_magic vs TensorFlow, same run.

Ours runs on a ThreadPoolExecutor with os.cpu_count() workers (``map_images``): simplejpeg
(libjpeg-turbo), Pillow's decoders and numpy's array loops release the GIL, so threads
use every core. TensorFlow runs ``tf.io.decode_image`` + ``tf.image.resize`` eagerly, one
image after another (its kernels are themselves multi-threaded by intra-op parallelism).

    python bench/bench_images.py [--images 200] [--repeats 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path

from bqml_magic.images import decode_image, map_images, resize_image

SIZE = (224, 224)


def sample_photos() -> list[bytes]:
    """The real photos shipped in scikit-image, matplotlib and scikit-learn wheels."""
    import matplotlib
    import skimage
    import sklearn

    skimage_data = Path(skimage.__file__).parent / "data"
    paths = [
        *(skimage_data / n for n in ("chelsea.png", "coffee.png", "astronaut.png", "rocket.jpg", "retina.jpg")),
        Path(matplotlib.__file__).parent / "mpl-data" / "sample_data" / "grace_hopper.jpg",
        Path(sklearn.__file__).parent / "datasets" / "images" / "china.jpg",
        Path(sklearn.__file__).parent / "datasets" / "images" / "flower.jpg",
    ]
    return [p.read_bytes() for p in paths if p.exists()]


def ours(batch: list[bytes]) -> None:
    map_images(lambda data: resize_image(decode_image(data), *SIZE, False), batch)


def tensorflow_runner() -> Callable[[list[bytes]], None]:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import tensorflow as tf

    def run(batch: list[bytes]) -> None:
        for data in batch:
            tf.image.resize(tf.io.decode_image(data, channels=3, expand_animations=False), SIZE).numpy()

    return run


def images_per_second(fn: Callable[[list[bytes]], None], batch: list[bytes], repeats: int) -> list[float]:
    fn(batch[:4])  # warm up (thread pool, TF kernels)
    rates = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn(batch)
        rates.append(len(batch) / (time.perf_counter() - start))
    return rates


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    photos = sample_photos()
    batch = (photos * (args.images // len(photos) + 1))[: args.images]
    mean_kb = sum(map(len, batch)) / len(batch) / 1024
    print(
        f"{len(batch)} images ({len(photos)} distinct photos, {mean_kb:.0f} KB on average), "
        f"decode + resize to {SIZE[0]}x{SIZE[1]}, {args.repeats} repetitions, {os.cpu_count()} CPUs"
    )
    results = {
        f"bqml_magic ({os.cpu_count()} threads)": images_per_second(ours, batch, args.repeats),
        "tensorflow (eager)": images_per_second(tensorflow_runner(), batch, args.repeats),
    }
    for name, rates in results.items():
        print(
            f"  {name:28s} median {statistics.median(rates):7.1f} images/s   (runs: "
            + ", ".join(f"{r:.1f}" for r in rates)
            + ")"
        )
    first, second = (statistics.median(r) for r in results.values())
    print(f"  ratio bqml_magic / tensorflow: {first / second:.2f}x")


if __name__ == "__main__":
    main()
