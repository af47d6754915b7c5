"""model_type -> runtime module. Importing this imports no TensorFlow, LiteRT or ONNX Runtime:
each module imports its package inside ``inspect`` / ``load``."""

from __future__ import annotations

from pathlib import Path

from bqml_magic.errors import ModelError
from bqml_magic.runtimes import onnx, tensorflow, tflite
from bqml_magic.runtimes.base import ModelSchema, Runtime, RuntimeFactory
from bqml_magic.runtimes.devices import CPU, Device

RUNTIMES: dict[str, RuntimeFactory] = {
    "TENSORFLOW": tensorflow,
    "TENSORFLOW_LITE": tflite,
    "ONNX": onnx,
}


def runtime_for(model_type: str) -> RuntimeFactory:
    factory = RUNTIMES.get(model_type.upper())
    if factory is None:
        raise ModelError(
            f"model_type '{model_type}' is not supported here: only imported models of type "
            f"{', '.join(RUNTIMES)} can be used (BigQuery's trained model types are not available locally)"
        )
    return factory


def inspect_model(model_type: str, path: Path) -> ModelSchema:
    return runtime_for(model_type).inspect(Path(path))


def load_model(model_type: str, path: Path, device: Device = CPU) -> Runtime:
    return runtime_for(model_type).load(Path(path), device)
