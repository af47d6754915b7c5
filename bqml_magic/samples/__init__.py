"""Sample data for notebooks and tests: a real ImageNet classifier and real photos.

``build()`` makes them once into a cache outside the repository (see ``builder.py``) and is
fast afterwards. Nothing is built or imported at import time.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

__all__ = ["KNOWN_CLASSES", "MODEL_FILES", "VARIANTS", "Samples", "build"]

#: model_type -> how a variant's model is laid out under ``models/``
MODEL_FILES = {
    "TENSORFLOW": "tensorflow/{variant}",
    "TENSORFLOW_LITE": "tflite/{variant}.tflite",
    "ONNX": "onnx/{variant}.onnx",
}
VARIANTS = ("classifier", "features")
#: photo -> the ImageNet classes the sample classifier is known to answer for it (docs/behaviour.md#sample-data)
KNOWN_CLASSES = {
    "grace_hopper.jpg": {"military uniform"},
    "coffee.png": {"espresso"},
    "chelsea.png": {"tabby", "tiger cat", "Egyptian cat"},
}


@dataclass(frozen=True)
class Samples:
    """Where the built samples are. ``bucket`` maps to a gs:// bucket in examples."""

    root: Path

    @property
    def bucket(self) -> Path:
        return self.root / "bucket"

    @property
    def labels_path(self) -> Path:
        return self.root / "imagenet_labels.txt"

    @property
    def labels(self) -> list[str]:
        """1001 ImageNet names; index 0 is ``background``, as in the classifier's output."""
        return self.labels_path.read_text().splitlines()

    def model_path(self, model_type: str, variant: str) -> Path:
        """The SavedModel folder (TENSORFLOW) or the model file; variant: classifier | features."""
        layout = MODEL_FILES.get(model_type.upper())
        if layout is None or variant not in VARIANTS:
            raise ValueError(
                f"sample models: model_type in {sorted(MODEL_FILES)}, variant in {VARIANTS}; "
                f"got {model_type!r}, {variant!r}"
            )
        return self.root / "models" / layout.format(variant=variant)

    def model_uri(self, model_type: str, variant: str, bucket: str = "my_models") -> str:
        """The ``model_path`` to write in CREATE MODEL when ``bucket`` is mounted on ``root / "models"``."""
        path = self.model_path(model_type, variant).relative_to(self.root / "models").as_posix()
        return f"gs://{bucket}/{path}" + ("/*" if model_type.upper() == "TENSORFLOW" else "")


def build(force: bool = False) -> Samples:
    """The samples, building them first if the cache lacks them (or ``force``)."""
    from bqml_magic.native_stderr import shown_on_failure
    from bqml_magic.samples.builder import MARKER, atomic_dir, build_into, sample_dir

    folder = sample_dir()
    if force or not (folder / MARKER).is_file():
        print(f"Building the sample photos and models into {folder} (once; about a minute)...", flush=True)
        with atomic_dir(folder, force=force) as work, shown_on_failure():  # TensorFlow's converter logs a lot
            build_into(work)
    return Samples(folder)
