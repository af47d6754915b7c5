"""TensorFlow Lite models through the LiteRT interpreter.

Names come from the model's signature (``serving_default``, else its first) when it has one,
else from the input/output tensors. A quantized uint8/int8 tensor is not a "quantized type"
in BigQuery's sense (those are TensorFlow's qint8/quint8 dtypes, which TFLite lacks): its raw
integers come back as INT64, and its scale and zero point are shown in ``signature_text``.
"""

from __future__ import annotations

import queue
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from bqml_magic.errors import ModelError
from bqml_magic.native_stderr import without_notices
from bqml_magic.runtimes.base import BQ_SCALARS, ModelSchema, TensorSpec, batch_limit, cast_feeds, require, tensor_spec
from bqml_magic.runtimes.devices import CPU, Device, tflite_device
from bqml_magic.runtimes.files import all_files, single_model_file
from bqml_magic.runtimes.limits import check_memory, check_serialized

MODEL_TYPE = "TENSORFLOW_LITE"
_INSTALL = "'bqml_magic[tflite]'"


def inspect(path: Path) -> ModelSchema:
    return _open(path).schema


def load(path: Path, device: Device = CPU) -> TFLiteRuntime:
    tflite_device(device)
    return _open(path)


class TFLiteRuntime:
    """Single-threaded interpreters, one per batch running at once: an interpreter is not
    thread-safe, and one thread each keeps every core busy without a lock between batches."""

    def __init__(
        self, interpreter, model_file: Path, signature: str | None, inputs: dict, outputs: dict, schema: ModelSchema
    ):
        self.schema = schema
        self.max_batch = batch_limit(schema.features)
        self.batch_invariant = True
        self._model_file = model_file
        self._signature = signature
        self._inputs = inputs
        self._outputs = outputs
        self._idle: queue.SimpleQueue[tuple[Any, Any]] = queue.SimpleQueue()
        self._idle.put(self._with_runner(interpreter))

    def run(self, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        arrays = cast_feeds(self.schema, feeds)
        try:
            idle = self._idle.get_nowait()
        except queue.Empty:
            idle = self._with_runner(_interpreter(self._model_file))
        interpreter, runner = idle
        try:
            return dict(runner(**arrays)) if runner is not None else self._run_tensors(interpreter, arrays)
        except ModelError:
            raise
        except Exception as exc:
            raise ModelError(f"LiteRT failed to run the model: {exc}") from exc
        finally:
            self._idle.put(idle)

    def _with_runner(self, interpreter) -> tuple[Any, Any]:
        """An interpreter with its signature's runner (None for models without signatures)."""
        return interpreter, interpreter.get_signature_runner(self._signature) if self._signature else None

    def _run_tensors(self, interpreter, arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Models without signatures: resize the inputs to the batch, then invoke."""
        resized = False
        for name, array in arrays.items():
            index = self._inputs[name]["index"]
            if tuple(interpreter.get_tensor(index).shape) != array.shape:
                interpreter.resize_tensor_input(index, list(array.shape), strict=True)
                resized = True
        if resized:
            interpreter.allocate_tensors()
        for name, array in arrays.items():
            interpreter.set_tensor(self._inputs[name]["index"], array)
        interpreter.invoke()
        return {name: interpreter.get_tensor(d["index"]).copy() for name, d in self._outputs.items()}


def _interpreter(model_file: Path):
    litert = require("ai_edge_litert.interpreter", _INSTALL)
    try:
        interpreter = litert.Interpreter(model_path=str(model_file), num_threads=1)
        with without_notices():
            interpreter.allocate_tensors()
    except Exception as exc:
        raise ModelError(f"{model_file.name} is not a loadable TFLite model: {exc}") from exc
    return interpreter


def _open(path: Path) -> TFLiteRuntime:
    model_file = single_model_file(path, ".tflite", MODEL_TYPE)
    check_serialized(all_files(path), MODEL_TYPE)
    interpreter = _interpreter(model_file)
    check_memory(_weight_bytes(interpreter), MODEL_TYPE)
    signatures = interpreter.get_signature_list()
    signature = "serving_default" if "serving_default" in signatures else next(iter(signatures), None)
    if signature:
        runner = interpreter.get_signature_runner(signature)
        inputs, outputs = runner.get_input_details(), runner.get_output_details()
    else:
        inputs = {d["name"]: d for d in interpreter.get_input_details()}
        outputs = {d["name"]: d for d in interpreter.get_output_details()}
    features = tuple(_spec(n, d, "input") for n, d in inputs.items())
    labels = tuple(_spec(n, d, "output") for n, d in outputs.items())
    text = _signature_text(model_file, signature, inputs, outputs)
    schema = ModelSchema(MODEL_TYPE, features, labels, text, {"signature": signature or "(none: tensor names)"})
    return TFLiteRuntime(interpreter, model_file, signature, inputs, outputs, schema)


def _weight_bytes(interpreter) -> int:
    """Every tensor of the main graph at batch 1: weights plus activation buffers."""
    total = 0
    for detail in interpreter.get_tensor_details():
        total += int(np.prod(detail["shape"])) * np.dtype(detail["dtype"]).itemsize
    return total


def _dtype_name(detail: dict[str, Any]) -> str:
    dtype = np.dtype(detail["dtype"])
    return "object" if dtype.kind in "OSU" else dtype.name


def _spec(name: str, detail: dict[str, Any], role: str) -> TensorSpec:
    dtype = _dtype_name(detail)
    if dtype not in BQ_SCALARS:
        raise ModelError(f"TFLite model {role} '{name}' has unsupported type: {dtype}")
    shape = detail["shape_signature"] if len(detail["shape_signature"]) else detail["shape"]
    return tensor_spec(name, dtype, tuple(int(d) for d in shape))


def _signature_text(model_file: Path, signature: str | None, inputs: dict, outputs: dict) -> str:
    """A listing in the spirit of ``saved_model_cli show --all``."""

    def block(title: str, details: dict) -> list[str]:
        lines = [f"  {title}:"]
        for name, d in details.items():
            lines += [
                f"    {name}:",
                f"        dtype: {_dtype_name(d)}",
                f"        shape: {tuple(int(x) for x in d['shape_signature'])}",
                f"        tensor: {d['name']}",
            ]
            scale, zero_point = d["quantization"]
            if scale:
                lines.append(f"        quantization: scale {scale:g}, zero point {zero_point}")
        return lines

    head = f"signature_def['{signature}']" if signature else "no signature: input and output tensors"
    return "\n".join([f"TFLite model {model_file.name}", head, *block("inputs", inputs), *block("outputs", outputs)])
