"""A batch of a query's rows between the image work and Arrow."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from bqml_magic.functions.base import result_array


@dataclass(frozen=True)
class Rows:
    """One batch of a query on its way out: each output column as Arrow, or, for a lifted
    projection, as its per-row values (Image, float, None) not yet converted. ML.PREDICT feeds
    a model straight from those values; only a column someone reads becomes Arrow."""

    columns: dict[str, pa.Array | list[Any]]
    num_rows: int

    @classmethod
    def of(cls, batch: pa.RecordBatch) -> Rows:
        return cls(dict(zip(batch.schema.names, batch.columns)), batch.num_rows)

    def to_batch(self, schema: pa.Schema) -> pa.RecordBatch:
        """The columns ``schema`` names (all or some of them), as one Arrow batch."""
        return pa.record_batch([self.arrow(f.name, f.type) for f in schema], schema=schema)

    def arrow(self, name: str, arrow_type: pa.DataType) -> pa.Array:
        column = self.columns[name]
        return result_array(column, arrow_type) if isinstance(column, list) else column
