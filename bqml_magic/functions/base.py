"""What an ML.* scalar function is, independent of where it runs.

A function is a per-row kernel plus the kinds of its arguments and result. The same spec
serves the streamed batch path (lifted projections, ML.PREDICT inputs) and DuckDB UDFs
(any other position in a query), so both give the same numbers and the same errors.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa

from bqml_magic.errors import BQMLError, LimitError, SQLError
from bqml_magic.images.image import FLOAT_IMAGE_TYPE, INT_IMAGE_TYPE, Image, from_arrow, to_arrow
from bqml_magic.memory import PixelPool

# argument kinds -> DuckDB parameter type for the UDF form
DUCKDB_TYPES = {
    "bytes": "BLOB",
    "image": 'STRUCT(dimensions BIGINT[], "values" DOUBLE[])',
    "int": "BIGINT",
    "bool": "BOOLEAN",
    "string": "VARCHAR",
    "array": "DOUBLE[]",
}
RESULT_TYPES = {"image": FLOAT_IMAGE_TYPE, "int_image": INT_IMAGE_TYPE, "float": pa.float64()}
SAME_AS_INPUT = "same_image"  # result kind of functions that keep their image's element type


@dataclass(frozen=True)
class MLFunction:
    """``ML.NAME(args...)``: argument kinds (trailing ones optional), result kind, kernel, and
    ``cost``: the kernel's peak bytes for given arguments, reserved from the memory budget."""

    name: str
    arg_kinds: tuple[str, ...]
    result: str
    kernel: Callable[..., Any]
    required: int | None = None
    cost: Callable[..., int] | None = None

    @property
    def udf_name(self) -> str:
        return "bqml_" + self.name.split(".", 1)[1].lower()

    def check_arity(self, count: int) -> None:
        low = self.required if self.required is not None else len(self.arg_kinds)
        if not low <= count <= len(self.arg_kinds):
            want = str(low) if low == len(self.arg_kinds) else f"{low} to {len(self.arg_kinds)}"
            raise SQLError(f"{self.name} takes {want} arguments, got {count}")

    def call(self, args: Sequence[Any], uri: str | None = None, pixels: PixelPool | None = None) -> Any:
        """One row; NULL in gives NULL out; errors say which function and which object.

        With ``pixels``, the call first reserves its peak bytes, waiting while other calls
        hold the budget.
        """
        if any(a is None for a in args):
            return None
        try:
            args = [check_kind(value, kind, self.name) for value, kind in zip(args, self.arg_kinds)]
            if pixels is None or self.cost is None:
                return self.kernel(*args)
            with pixels.reserve(self.cost(*args)):
                return self.kernel(*args)
        except BQMLError as exc:
            exc.add_context(function=self.name, uri=uri)
            raise
        except MemoryError as exc:
            message = "Out of memory: this machine could not hold the image; lower Engine(memory_budget=...)"
            raise LimitError(message, function=self.name, uri=uri) from exc


_KIND_NAMES = {"bytes": "BYTES", "image": "an image STRUCT", "int": "INT64", "bool": "BOOL", "string": "STRING"}
_KIND_TYPES: dict[str, type | tuple[type, ...]] = {
    "bytes": (bytes, bytearray, memoryview),
    "image": Image,
    "int": int,
    "bool": bool,
    "string": str,
}


def check_kind(value: Any, kind: str, function: str) -> Any:
    """A row's argument as its kernel expects it, or the SQL type error BigQuery would give.

    DuckDB's UDF signatures cast most arguments; literals and values streamed past DuckDB
    (lifted projections) arrive as they are, so ``ML.RESIZE_IMAGE(img, 'a', 2, FALSE)`` and
    ``ML.DECODE_IMAGE(uri)`` are caught here rather than deep in a kernel.
    """
    if kind == "bytes" and isinstance(value, (bytearray, memoryview)):
        return bytes(value)
    expected = _KIND_TYPES.get(kind)
    if expected is None or (isinstance(value, expected) and not (kind == "int" and isinstance(value, bool))):
        return value
    if kind == "int" and isinstance(value, float) and value.is_integer():
        return int(value)
    if kind == "image" and isinstance(value, dict):
        raise SQLError(f"{function} expects an image STRUCT<dimensions, values>; got a STRUCT without them")
    got = {bytes: "BYTES", str: "STRING", bool: "BOOL", int: "INT64", float: "FLOAT64"}.get(type(value), "a value")
    raise SQLError(f"{function} expects {_KIND_NAMES[kind]}, got {got} {_shown(value)}")


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def column_values(array: pa.Array | pa.ChunkedArray, kind: str) -> list[Any]:
    """An Arrow column as per-row Python values of an argument kind (a literal NULL is NULL of any kind)."""
    if pa.types.is_null(array.type):
        return [None] * len(array)
    if kind == "image":
        values = array.type.field("values").type.value_type if pa.types.is_struct(array.type) else None
        if values is not None and not (pa.types.is_integer(values) or pa.types.is_floating(values)):
            array = array.cast(FLOAT_IMAGE_TYPE)  # SQL literals arrive as DECIMAL
        return from_arrow(array)
    if kind == "array":
        return [None if v is None else _array_value(v) for v in array.to_pylist()]
    return array.to_pylist()


def _array_value(value: list[Any]) -> Any:
    if value and isinstance(value[0], dict):
        return value  # (key, value) structs: ML.DISTANCE matches them by key
    return np.asarray(value, dtype=np.float64)


def result_array(values: Sequence[Any], arrow_type: pa.DataType) -> pa.Array:
    """Per-row results back to one Arrow column of the declared type."""
    if pa.types.is_struct(arrow_type):
        return to_arrow(list(values)).cast(arrow_type)
    return pa.array([None if v is None else float(v) for v in values], type=arrow_type)


def image_arg(value: Any) -> Image:
    """Images reach kernels as Image (``check_kind`` made sure of it)."""
    if isinstance(value, Image):
        return value
    raise SQLError("Expected an image STRUCT<dimensions, values>")
