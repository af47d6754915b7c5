"""Embedding columns as float64 matrices, refusing what no distance can be computed for."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from bqml_magic.errors import SQLError


def is_vector_type(arrow_type: pa.DataType) -> bool:
    """An ARRAY of numbers (INT64, FLOAT64, NUMERIC): what VECTOR_SEARCH searches."""
    if not (
        pa.types.is_list(arrow_type) or pa.types.is_large_list(arrow_type) or pa.types.is_fixed_size_list(arrow_type)
    ):
        return False
    value = arrow_type.value_type
    return pa.types.is_integer(value) or pa.types.is_floating(value) or pa.types.is_decimal(value)


def matrix(
    column: pa.Array | pa.ChunkedArray,
    what: str,
    first_row: int,
    width: int | None,
    statement: str = "VECTOR_SEARCH",
) -> np.ndarray:
    """One row per vector, ``width`` wide (None: the first vector's length, which all share).

    ``what`` names the column in errors ("column 'emb' of the base table"); ``first_row`` is
    the row number of the column's first value there, so an error says which row; ``statement``
    says what was being done."""
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks() if column.num_chunks != 1 else column.chunk(0)
    if len(column) == 0:
        return np.empty((0, width or 0))
    if column.null_count:
        row = first_row + int(np.flatnonzero(column.is_null().to_numpy(zero_copy_only=False))[0])
        raise SQLError(f"{statement}: {what} is NULL in row {row + 1}; every vector must be a non-empty array")
    lengths = pc.list_value_length(column).to_numpy(zero_copy_only=False)
    wanted = width if width is not None else int(lengths[0])
    wrong = np.flatnonzero(lengths != wanted)
    if wanted == 0 or len(wrong):
        row = first_row + (int(wrong[0]) if len(wrong) else 0)
        got = int(lengths[wrong[0]]) if len(wrong) else 0
        if got == 0:
            raise SQLError(f"{statement}: {what} is an empty array in row {row + 1}; every vector must have values")
        raise SQLError(
            f"{statement}: {what} has {got} values in row {row + 1}, where the vectors searched have {wanted}: "
            "every vector must have the same length"
        )
    values = pc.list_flatten(column)
    if values.null_count:
        raise SQLError(f"{statement}: {what} holds NULL values; a vector's values must all be numbers")
    flat = values.cast(pa.float64()).to_numpy(zero_copy_only=False)
    return flat.reshape(len(column), wanted)
