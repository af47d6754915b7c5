"""ML.PREDICT, one batch at a time: input rows in, the model's outputs plus the input columns out.

Columns are matched to the model's features by name, case-insensitively (docs/behaviour.md#ml-predict-columns);
the image contract (size, value range, dtype) is checked per batch with a message that says
expected vs got and which object. Batches are cut to what the model accepts (its dynamic
batch dimension, or 1), so memory follows the batch size, never the table.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa

from bqml_magic.errors import ModelError
from bqml_magic.execution.rows import Rows
from bqml_magic.functions.base import result_array
from bqml_magic.images.image import Image, from_arrow
from bqml_magic.runtimes.base import ModelSchema, Runtime, TensorSpec

CALL_BYTES = 2**21
"""Input bytes per model call, where the runtime lets a batch be cut (three 224x224x3 float32 images)."""
_SCALAR_TYPES = {"FLOAT64": pa.float64(), "INT64": pa.int64(), "BOOL": pa.bool_(), "STRING": pa.string()}


def label_type(spec: TensorSpec) -> pa.DataType:
    """BigQuery type of an output column: ARRAY<T> for tensors of more than one element."""
    if spec.bq_type.startswith("ARRAY<"):
        return pa.list_(_SCALAR_TYPES[spec.bq_type[6:-1]])
    return _SCALAR_TYPES[spec.bq_type]


def feature_columns(schema: ModelSchema, input_schema: pa.Schema, model: str) -> dict[str, str]:
    """feature name -> input column name; a missing feature is an error naming the columns there are."""
    by_lower = {n.lower(): n for n in input_schema.names}
    mapping = {}
    for feature in schema.features:
        column = by_lower.get(feature.name.lower())
        if column is None:
            raise ModelError(
                f"ML.PREDICT: model {model} needs an input column named '{feature.name}' (its feature, "
                f"{feature.bq_type}); the input has: {', '.join(input_schema.names)}"
            )
        mapping[feature.name] = column
    return mapping


def output_schema(schema: ModelSchema, input_schema: pa.Schema, read: set[str] | None = None) -> pa.Schema:
    """The model's outputs, then the input columns the statement reads (``read``: lower-cased
    names, None for all)."""
    kept = [f for f in input_schema if read is None or f.name.lower() in read]
    return pa.schema([pa.field(s.name, label_type(s)) for s in schema.labels] + kept)


@dataclass(frozen=True)
class Prediction:
    """One ML.PREDICT of a statement: what all its batches share, worked out once from the
    model's schema (no model is loaded for it: on a Ray cluster only the workers load one)."""

    model: str
    model_schema: ModelSchema
    input_schema: pa.Schema
    schema: pa.Schema
    """The output, as ``output_schema`` lays it out."""
    features: dict[str, str]
    """Feature name -> input column."""
    uri_column: str | None

    @classmethod
    def of(cls, model_schema: ModelSchema, model: str, input_schema: pa.Schema, read: set[str] | None) -> Prediction:
        """A missing feature is an error here, before any row is read."""
        return cls(
            model,
            model_schema,
            input_schema,
            output_schema(model_schema, input_schema, read),
            feature_columns(model_schema, input_schema, model),
            next((n for n in input_schema.names if n.lower() == "uri"), None),
        )

    def batch(self, runtime: Runtime, rows: Rows) -> pa.RecordBatch:
        """One batch of predictions by the loaded model, laid out as ``schema``."""
        uri, model = self.uri_column, self.model
        uris = rows.arrow(uri, self.input_schema.field(uri).type).to_pylist() if uri else []
        feeds = {
            f.name: _feature_array(
                f, rows.columns[self.features[f.name]], self.input_schema.field(self.features[f.name]).type, uris, model
            )
            for f in self.model_schema.features
        }
        outputs = _run_chunked(runtime, feeds, rows.num_rows)
        labels = [_label_array(s, outputs[s.name], rows.num_rows) for s in self.model_schema.labels]
        inputs = rows.to_batch(pa.schema(list(self.schema)[len(labels) :]))
        return pa.record_batch(labels + inputs.columns, schema=self.schema)


def _run_chunked(runtime: Runtime, feeds: dict[str, np.ndarray], rows: int) -> dict[str, np.ndarray]:
    """The batch in calls the model takes and, where the runtime allows, in calls of about
    ``CALL_BYTES`` of input: a CNN's activations then stay in the cores' caches. Measured with
    MobileNet v1 on two cores, two calls at once: 5.9 core-ms per image in calls of 2 rows, 7.1
    in calls of 16 (ONNX Runtime); 5.3 and 6.4 (LiteRT). The calls of a batch share one shape:
    a new shape costs LiteRT a new tensor allocation."""
    step = runtime.max_batch or rows
    if runtime.batch_invariant:
        row_bytes = sum(v.nbytes // len(v) for v in feeds.values()) or 1
        most = min(step, max(1, CALL_BYTES // row_bytes))
        step = max(size for size in range(1, most + 1) if rows % size == 0)  # calls of one shape
    parts = [runtime.run({k: v[i : i + step] for k, v in feeds.items()}) for i in range(0, rows, step)]
    return {name: np.concatenate([p[name] for p in parts]) for name in parts[0]}


def _label_array(spec: TensorSpec, values: np.ndarray, rows: int) -> pa.Array:
    arrow_type = label_type(spec)
    if pa.types.is_list(arrow_type):
        flat = values.reshape(rows, -1)
        offsets = np.arange(0, flat.size + 1, flat.shape[1], dtype=np.int32)
        return pa.ListArray.from_arrays(
            pa.array(offsets), pa.array(flat.reshape(-1).astype(arrow_type.value_type.to_pandas_dtype()))
        )
    column = values.reshape(rows)
    if arrow_type == pa.string():
        return pa.array([v.decode() if isinstance(v, bytes) else str(v) for v in column], pa.string())
    return pa.array(column.astype(arrow_type.to_pandas_dtype()), arrow_type)


def _feature_array(
    spec: TensorSpec, column: pa.Array | list[Any], arrow_type: pa.DataType, uris: list, model: str
) -> np.ndarray:
    """A feature's batch as the model takes it; images computed in this query go straight from
    their pixels (uint8 or float32) to the tensor, never through FLOAT64 Arrow values."""
    if isinstance(column, list):
        if pa.types.is_struct(arrow_type):
            return _image_batch(spec, column, uris, model)
        column = result_array(column, arrow_type)
    if pa.types.is_struct(column.type):
        return _image_batch(spec, from_arrow(column), uris, model)
    if column.null_count:
        raise ModelError(f"ML.PREDICT: feature '{spec.name}' of model {model} got NULL values")
    if pa.types.is_list(column.type):
        try:
            values = np.asarray(column.to_pylist())
        except ValueError as exc:  # ragged arrays
            message = f"ML.PREDICT: feature '{spec.name}' of model {model} got arrays of different lengths"
            raise ModelError(message) from exc
    else:
        values = column.to_numpy(zero_copy_only=False)
    return _cast(values, column.type, spec, model)


def _cast(values: np.ndarray, sql_type: pa.DataType, spec: TensorSpec, model: str) -> np.ndarray:
    """Values as the tensor's type, within numpy's ``same_kind`` rule: never a silent truncation
    (1.5 to an INT64 feature), nor text read as numbers (docs/behaviour.md#type-mapping)."""
    value_type = sql_type.value_type if pa.types.is_list(sql_type) else sql_type
    if pa.types.is_decimal(value_type):  # DuckDB types a literal 1.5 as DECIMAL; BigQuery as FLOAT64
        values, value_type = values.astype(np.float64), pa.float64()
    text_in = pa.types.is_string(value_type) or pa.types.is_large_string(value_type)
    text_wanted = spec.dtype == "object"
    fits = text_in == text_wanted and (text_wanted or np.can_cast(values.dtype, spec.dtype, "same_kind"))
    if not fits:
        raise ModelError(
            f"ML.PREDICT: feature '{spec.name}' of model {model} is {spec.bq_type}; the input column is "
            f"{_sql_type(value_type)}: CAST it in the input query"
        )
    if np.issubdtype(values.dtype, np.integer) and np.issubdtype(np.dtype(spec.dtype), np.integer) and values.size:
        bounds = np.iinfo(spec.dtype)
        low, high = int(values.min()), int(values.max())
        if low < bounds.min or high > bounds.max:
            raise ModelError(
                f"ML.PREDICT: feature '{spec.name}' of model {model} holds {spec.dtype} values; "
                f"got values in [{low}, {high}]"
            )
    return values.astype(spec.dtype) if not text_wanted else values.astype(object)


def _sql_type(arrow_type: pa.DataType) -> str:
    if pa.types.is_integer(arrow_type):
        return "INT64"
    if pa.types.is_floating(arrow_type) or pa.types.is_decimal(arrow_type):
        return "FLOAT64"
    if pa.types.is_boolean(arrow_type):
        return "BOOL"
    if pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type):
        return "STRING"
    return str(arrow_type).upper()


def _image_batch(spec: TensorSpec, images: list[Image | None], uris: list, model: str) -> np.ndarray:
    expected = tuple(spec.shape[1:])
    wants_uint8 = spec.dtype == "uint8"
    arrays = []
    for image, uri in zip(images, uris or [None] * len(images)):
        where = f" (uri: {uri})" if uri else ""
        if image is None:
            raise ModelError(f"ML.PREDICT: feature '{spec.name}' got a NULL image{where}")
        if len(expected) == 3 and any(e not in (None, -1) and e != g for e, g in zip(expected, image.shape)):
            want = "x".join("?" if e in (None, -1) else str(e) for e in expected)
            raise ModelError(
                f"ML.PREDICT: model {model} expects '{spec.name}' images of {want} (HxWxC), got "
                f"{'x'.join(map(str, image.shape))}{where}; resize with ML.RESIZE_IMAGE(image, H, W, FALSE)"
            )
        arrays.append(_image_values(image, spec, wants_uint8, model, where))
    return np.stack(arrays)


def _image_values(image: Image, spec: TensorSpec, wants_uint8: bool, model: str, where: str) -> np.ndarray:
    if wants_uint8:
        if image.is_float:
            raise ModelError(
                f"ML.PREDICT: model {model} expects uint8 values in [0, 255] for '{spec.name}', got FLOAT64 "
                f"values{where}; convert with ML.CONVERT_IMAGE_TYPE(image)"
            )
        return image.pixels.astype(np.uint8)
    if not image.is_float:
        raise ModelError(
            f"ML.PREDICT: model {model} expects float values in [0, 1] for '{spec.name}', got INT64 values{where}"
        )
    pixels = image.as_float32()
    if image.pixels.dtype != np.uint8:
        low, high = float(pixels.min()), float(pixels.max())
        if low < 0.0 or high > 1.0:
            raise ModelError(
                f"ML.PREDICT: model {model} expects '{spec.name}' values in [0, 1], got [{low:.4g}, {high:.4g}]{where}"
            )
    return pixels.astype(spec.dtype, copy=False)
