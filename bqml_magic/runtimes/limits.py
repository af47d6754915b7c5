"""BigQuery's limits on imported models (docs/behaviour.md#limits): serialized < 450 MB, in memory < 1000 MB.

Module constants, so tests can lower them instead of writing huge files. The memory figure
is an estimate made before loading, from the weights each format declares (see each runtime's
``_weight_bytes``): ONNX initializers, TensorFlow checkpoint variables plus the graph file
(which carries any constants), TFLite every tensor at batch 1 (weights and activation
buffers, without arena reuse, so an upper bound). Runtime overhead is not counted.
"""

from __future__ import annotations

from pathlib import Path

from bqml_magic.errors import LimitError

MAX_SERIALIZED_BYTES = 450 * 2**20
MAX_MEMORY_BYTES = 1000 * 2**20


def check_serialized(files: list[Path], model_type: str) -> int:
    """Total size of the model's files; LimitError at or above the limit."""
    size = sum(f.stat().st_size for f in files)
    if size >= MAX_SERIALIZED_BYTES:
        raise too_big(model_type, f"are {_mb(size)}")
    return size


def too_big(model_type: str, how: str) -> LimitError:
    """The error for model files over the serialized limit; ``how`` says what was seen."""
    return LimitError(
        f"{model_type} model files {how}; imported models must be under {_mb(MAX_SERIALIZED_BYTES)} serialized"
    )


def check_memory(estimate: int, model_type: str) -> int:
    if estimate >= MAX_MEMORY_BYTES:
        raise LimitError(
            f"{model_type} model needs about {_mb(estimate)} in memory (weights); imported "
            f"models must stay under {_mb(MAX_MEMORY_BYTES)}"
        )
    return estimate


def _mb(size: int) -> str:
    return f"{size / 2**20:,.1f} MB ({size:,} bytes)"
