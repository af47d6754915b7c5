"""One small interface in front of TensorFlow, LiteRT and ONNX Runtime.

The predict executor only needs a model's schema (what to feed, what comes back, in
BigQuery's terms) and a batch call. Each runtime module implements this for one
``model_type``; ``registry.py`` maps the SQL option to the module.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Protocol

import numpy as np

from bqml_magic.errors import ModelError
from bqml_magic.runtimes.devices import Device


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
    #: A row's outputs do not depend on the rows run with it, so a batch may go through in
    #: smaller calls (ONNX Runtime and LiteRT, measured; not TensorFlow's oneDNN kernels).
    batch_invariant: bool

    def run(self, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Run one batch: feature name -> array with batch first; returns label -> array."""
        ...


class RuntimeFactory(Protocol):
    """What each runtime module exposes to the registry."""

    def inspect(self, path: Path) -> ModelSchema:
        """Read and validate the schema without keeping the model loaded (CREATE MODEL)."""
        ...

    def load(self, path: Path, device: Device) -> Runtime:
        """Load the frozen copy for inference on ``device`` (first ML.PREDICT in an engine)."""
        ...


#: numpy dtype name -> BigQuery scalar type (docs/behaviour.md#type-mapping). bfloat16 is fed and returned as float32.
BQ_SCALARS = {
    **dict.fromkeys(("int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64"), "INT64"),
    **dict.fromkeys(("float16", "float32", "float64"), "FLOAT64"),
    "bool": "BOOL",
    "object": "STRING",
}


def tensor_spec(name: str, dtype: str, shape: tuple[int | None, ...] | None) -> TensorSpec:
    """The spec of a tensor whose first dimension is the batch; ``shape`` None = unknown rank
    (recorded as ``(None,)``). A row of exactly one element is a scalar column, anything else,
    unknown sizes included, an ARRAY.
    """
    scalar = BQ_SCALARS[dtype]
    if shape is None:
        return TensorSpec(name, dtype, (None,), f"ARRAY<{scalar}>")
    shape = tuple(None if d is None or d < 0 else int(d) for d in shape)
    one_element = all(d == 1 for d in shape[1:])
    return TensorSpec(name, dtype, shape, scalar if one_element else f"ARRAY<{scalar}>")


def batch_limit(features: tuple[TensorSpec, ...]) -> int | None:
    """None when every feature's batch dimension is dynamic, else the smallest fixed one."""
    fixed = [f.shape[0] for f in features if f.shape and f.shape[0] is not None]
    return min(fixed) if fixed else None


def cast_feeds(schema: ModelSchema, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Feeds by feature name (case-insensitive), cast to the tensor dtype within numpy's
    ``same_kind`` rule: float64 -> float32 and uint8 -> float32 are fine, float -> int, numbers
    -> text or text -> numbers would change meaning, so they are errors.
    """
    by_lower = {k.lower(): v for k, v in feeds.items()}
    result = {}
    for spec in schema.features:
        if spec.name.lower() not in by_lower:
            raise ModelError(f"Model input '{spec.name}' ({spec.bq_type}) was not given; got: {', '.join(feeds)}")
        array = np.asarray(by_lower[spec.name.lower()])
        target = np.dtype(spec.dtype)
        if array.dtype != target:
            text_ok = target.kind != "O" or array.dtype.kind in "OUS"
            if not (np.can_cast(array.dtype, target, "same_kind") and text_ok):
                raise ModelError(f"Model input '{spec.name}' needs {spec.dtype} values, got {array.dtype}")
            array = array.astype(target)
        result[spec.name] = array
    return result


def require(module: str, install: str) -> ModuleType:
    """Imports an optional runtime package, or says which extra installs it."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise ModelError(f"This model type needs the Python package '{module}': pip install {install}") from exc
