"""Real photos for the sample bucket, copied from packages already installed (never downloaded).

Formats are kept as shipped (JPEG stays JPEG, PNG stays PNG); one greyscale photo (camera) and
one with a dark sky (hubble) widen what the image functions see.
"""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

from bqml_magic.errors import BQMLError

#: file name in the bucket -> (package, path inside the package)
PHOTOS: dict[str, tuple[str, str]] = {
    "grace_hopper.jpg": ("matplotlib", "mpl-data/sample_data/grace_hopper.jpg"),
    "chelsea.png": ("skimage", "data/chelsea.png"),
    "coffee.png": ("skimage", "data/coffee.png"),
    "astronaut.png": ("skimage", "data/astronaut.png"),
    "rocket.jpg": ("skimage", "data/rocket.jpg"),
    "motorcycle_left.png": ("skimage", "data/motorcycle_left.png"),
    "camera.png": ("skimage", "data/camera.png"),
    "hubble_deep_field.jpg": ("skimage", "data/hubble_deep_field.jpg"),
    "china.jpg": ("sklearn", "datasets/images/china.jpg"),
    "flower.jpg": ("sklearn", "datasets/images/flower.jpg"),
}


def copy_photos(folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    copied = []
    for name, (package, inner) in PHOTOS.items():
        spec = importlib.util.find_spec(package)
        source = Path(spec.origin).parent / inner if spec and spec.origin else None
        if source is None or not source.is_file():
            raise BQMLError(
                f"Sample photo {name}: {package} is not installed or lacks {inner}; pip install 'bqml_magic[samples]'"
            )
        copied.append(Path(shutil.copyfile(source, folder / name)))
    return copied
