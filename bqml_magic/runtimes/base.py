"""One small interface in front of TensorFlow, LiteRT and ONNX Runtime.

The predict executor only needs a model's schema (what to feed, what comes back, in
BigQuery's terms) and a batch call. Each runtime module implements this for one
``model_type``; ``registry.py`` maps the SQL option to the module.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Protocol

import numpy as np


@dataclass(frozen=True)
class TensorSpec:
    """A model input (feature) or output (label), as BigQuery's Schema tab describes it.

    ``shape`` uses None for dynamic dimensions, e.g. ``(None, 224, 224, 3)``; ``dtype`` is the
    numpy name of the tensor type (``"float32"``, ``"uint8"``, ``"int64"``, ``"object"`` for
    strings); ``bq_type`` the SQL type a column gets (``"FLOAT64"``, ``"ARRAY<FLOAT64>"``...).
    """

    name: str
    dtype: str
    shape: tuple[int | None, ...]
    bq_type: str


@dataclass(frozen=True)
class ModelSchema:
    """Features and labels of an imported model, plus the runtime's own detailed view."""

    model_type: str
    features: tuple[TensorSpec, ...]
    labels: tuple[TensorSpec, ...]
    signature_text: str = ""
    extra: Mapping[str, str] = field(default_factory=dict)

    def feature(self, name: str) -> TensorSpec | None:
        """Features are matched case-insensitively, as BigQuery matches input columns."""
        lowered = name.lower()
        return next((f for f in self.features if f.name.lower() == lowered), None)


class Runtime(Protocol):
    """A loaded model, ready for batches. Implementations are not thread-safe per call."""

    schema: ModelSchema
    #: Largest batch one call accepts: None for a dynamic batch dimension, else usually 1.
    max_batch: int | None

    def run(self, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Run one batch: feature name -> array with batch first; returns label -> array."""
        ...


class RuntimeFactory(Protocol):
    """What each runtime module exposes to the registry."""

    def inspect(self, path: Path) -> ModelSchema:
        """Read and validate the schema without keeping the model loaded (CREATE MODEL)."""
        ...

    def load(self, path: Path) -> Runtime:
        """Load the frozen copy for inference (first ML.PREDICT in an engine)."""
        ...
