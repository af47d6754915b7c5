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

from bqml_magic.errors import BQMLError, SQLError
from bqml_magic.images.image import FLOAT_IMAGE_TYPE, INT_IMAGE_TYPE, Image, from_arrow, to_arrow

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
    """``ML.NAME(args...)``: argument kinds (trailing ones optional), result kind, kernel."""

    name: str
    arg_kinds: tuple[str, ...]
    result: str
    kernel: Callable[..., Any]
    required: int | None = None

    @property
    def udf_name(self) -> str:
        return "bqml_" + self.name.split(".", 1)[1].lower()

    def check_arity(self, count: int) -> None:
        low = self.required if self.required is not None else len(self.arg_kinds)
        if not low <= count <= len(self.arg_kinds):
            want = str(low) if low == len(self.arg_kinds) else f"{low} to {len(self.arg_kinds)}"
            raise SQLError(f"{self.name} takes {want} arguments, got {count}")

    def call(self, args: Sequence[Any], uri: str | None = None) -> Any:
        """One row; NULL in gives NULL out; errors say which function and which object."""
        if any(a is None for a in args):
            return None
        try:
            return self.kernel(*args)
        except BQMLError as exc:
            exc.add_context(function=self.name, uri=uri)
            raise


def column_values(array: pa.Array | pa.ChunkedArray, kind: str) -> list[Any]:
    """An Arrow column as per-row Python values of an argument kind."""
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
    """Images reach kernels as Image; a table cell may still be a plain dict."""
    if isinstance(value, Image):
        return value
    raise SQLError(f"Expected an image STRUCT<dimensions, values>, got {type(value).__name__}")
