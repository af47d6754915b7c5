"""ONNX models through ONNX Runtime; the schema is read from the ONNX graph itself.

Features are the graph inputs that are not initializers, labels the graph outputs. Any
non-tensor value fails with BigQuery's own words, e.g. ``ONNX model output
'output_probability' has unsupported ONNX type: ONNX_TYPE_SEQUENCE.``
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np

from bqml_magic.errors import ModelError
from bqml_magic.runtimes.base import ModelSchema, TensorSpec, batch_limit, cast_feeds, require, tensor_spec
from bqml_magic.runtimes.devices import CPU, Device, onnx_providers
from bqml_magic.runtimes.files import all_files, single_model_file
from bqml_magic.runtimes.limits import check_memory, check_serialized

MODEL_TYPE = "ONNX"
_INSTALL = "onnx onnxruntime"

#: the ``value`` case of an ONNX TypeProto -> the name ONNX Runtime's C API (and BigQuery) uses
_ONNX_TYPES = {
    "tensor_type": "ONNX_TYPE_TENSOR",
    "sequence_type": "ONNX_TYPE_SEQUENCE",
    "map_type": "ONNX_TYPE_MAP",
    "optional_type": "ONNX_TYPE_OPTIONAL",
    "sparse_tensor_type": "ONNX_TYPE_SPARSETENSOR",
    "opaque_type": "ONNX_TYPE_OPAQUE",
}
#: ONNX element type name -> numpy dtype name; anything else (complex, float8, int4...) is unsupported
_DTYPES = {
    "FLOAT": "float32",
    "DOUBLE": "float64",
    "FLOAT16": "float16",
    "BFLOAT16": "float32",
    "INT8": "int8",
    "INT16": "int16",
    "INT32": "int32",
    "INT64": "int64",
    "UINT8": "uint8",
    "UINT16": "uint16",
    "UINT32": "uint32",
    "UINT64": "uint64",
    "BOOL": "bool",
    "STRING": "object",
}


def inspect(path: Path) -> ModelSchema:
    """Schema and limits from the graph, then a session is opened once to prove it loads."""
    model_file, model = _read(path)
    schema = _schema(model)
    _session(model_file, CPU)
    return schema


def load(path: Path, device: Device = CPU) -> OnnxRuntime:
    """One session on one thread: the engine runs a batch per core at once (``run`` is
    thread-safe), which keeps every core busy where intra-op threads would wait on each layer."""
    model_file, model = _read(path)
    return OnnxRuntime(_schema(model), _session(model_file, device))


class OnnxRuntime:
    """One InferenceSession; ``run`` is thread-safe in ONNX Runtime."""

    def __init__(self, schema: ModelSchema, session):
        self.schema = schema
        self.max_batch = batch_limit(schema.features)
        self.batch_invariant = True
        self._session = session
        self._labels = [s.name for s in schema.labels]

    def run(self, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        try:
            outputs = self._session.run(self._labels, cast_feeds(self.schema, feeds))
        except ModelError:
            raise
        except Exception as exc:
            raise ModelError(f"ONNX Runtime failed to run the model: {exc}") from exc
        return dict(zip(self._labels, outputs))


def _read(path: Path):
    onnx = require("onnx", _INSTALL)
    model_file = single_model_file(path, ".onnx", MODEL_TYPE)
    check_serialized(all_files(path), MODEL_TYPE)
    try:
        model = onnx.load(str(model_file), load_external_data=False)
    except Exception as exc:
        raise ModelError(f"{model_file.name} is not a readable ONNX model: {exc}") from exc
    check_memory(_weight_bytes(model, model_file.parent), MODEL_TYPE)
    return model_file, model


def _weight_bytes(model, folder: Path) -> int:
    """Initializers and Constant-node tensors, external data included (by its file size)."""
    from onnx import helper, numpy_helper

    def size(tensor) -> int:
        location = next((e.value for e in tensor.external_data if e.key == "location"), None)
        if location is not None:
            length = next((int(e.value) for e in tensor.external_data if e.key == "length"), None)
            return length if length is not None else (folder / location).stat().st_size
        return numpy_helper.to_array(tensor).nbytes

    tensors = list(model.graph.initializer)
    tensors += [
        helper.get_attribute_value(a)
        for n in model.graph.node
        if n.op_type == "Constant"
        for a in n.attribute
        if a.name == "value"
    ]
    return sum(size(t) for t in tensors)


def _schema(model) -> ModelSchema:
    initializers = {i.name for i in model.graph.initializer}
    features = tuple(_spec(v, "input") for v in model.graph.input if v.name not in initializers)
    labels = tuple(_spec(v, "output") for v in model.graph.output)
    return ModelSchema(
        MODEL_TYPE,
        features,
        labels,
        _signature_text(model, features, labels),
        {"producer": f"{model.producer_name} {model.producer_version}".strip(), "opset": _opsets(model)},
    )


def _spec(value, role: str) -> TensorSpec:
    from onnx import TensorProto

    kind = value.type.WhichOneof("value")
    if kind != "tensor_type":
        onnx_type = _ONNX_TYPES.get(kind, "ONNX_TYPE_UNKNOWN")
        raise ModelError(f"ONNX model {role} '{value.name}' has unsupported ONNX type: {onnx_type}.")
    element = TensorProto.DataType.Name(value.type.tensor_type.elem_type)
    if element not in _DTYPES:
        raise ModelError(f"ONNX model {role} '{value.name}' has unsupported element type: {element}.")
    tensor = value.type.tensor_type
    shape = (
        tuple(d.dim_value if d.HasField("dim_value") else None for d in tensor.shape.dim)
        if tensor.HasField("shape")
        else None
    )
    return tensor_spec(value.name, _DTYPES[element], shape)


def _opsets(model) -> str:
    return ", ".join(f"{o.domain or 'ai.onnx'} {o.version}" for o in model.opset_import)


def _signature_text(model, features: tuple[TensorSpec, ...], labels: tuple[TensorSpec, ...]) -> str:
    """A listing in the spirit of ``saved_model_cli show --all``."""
    from onnx import TensorProto

    values = {v.name: v for v in (*model.graph.input, *model.graph.output)}

    def block(title: str, specs: tuple[TensorSpec, ...]) -> list[str]:
        lines = [f"  {title}:"]
        for spec in specs:
            tensor = values[spec.name].type.tensor_type
            dims = ", ".join(
                d.dim_param or (str(d.dim_value) if d.HasField("dim_value") else "?") for d in tensor.shape.dim
            )
            lines += [
                f"    {spec.name}:",
                f"        dtype: {TensorProto.DataType.Name(tensor.elem_type)}",
                f"        shape: ({dims})",
            ]
        return lines

    header = [
        f"ONNX model, IR version {model.ir_version}, opset {_opsets(model)}",
        f"producer: {model.producer_name} {model.producer_version}".rstrip(),
        f"graph: {model.graph.name}",
    ]
    return "\n".join(header + block("inputs", features) + block("outputs", labels))


def _session(model_file: Path, device: Device):
    ort = require("onnxruntime", _INSTALL)
    providers = onnx_providers(device, ort.get_available_providers())
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.log_severity_level = 3
    try:
        return ort.InferenceSession(str(model_file), options, providers=providers)
    except Exception as exc:
        raise ModelError(f"ONNX Runtime cannot load {model_file.name}: {exc}") from exc
