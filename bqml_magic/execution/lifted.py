"""Evaluating lifted ML.* projections over streamed batches, on all cores.

Each row's call tree (read -> decode -> resize -> ...) runs in one worker thread, so a full-size
photo lives only inside that worker until it is resized: memory is bounded by the batch, not
the table. simplejpeg, libpng (imagecodecs) and numpy release the GIL, so threads use every
core. Results stay Python values (``Rows``) until someone needs them as Arrow.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from bqml_magic.errors import Cancelled
from bqml_magic.execution.fanout import pipelined
from bqml_magic.execution.rows import Rows
from bqml_magic.execution.services import ImageWork
from bqml_magic.functions.base import RESULT_TYPES, SAME_AS_INPUT, column_values
from bqml_magic.images.image import FLOAT_IMAGE_TYPE, INT_IMAGE_TYPE
from bqml_magic.memory import PixelPool
from bqml_magic.sql.lift import Call, FileLeaf, Island, Leaf, LiftPlan, Node
from bqml_magic.storage.objects import ObjectRef, object_ref


def output_schema(plan: LiftPlan, inner: pa.Schema) -> pa.Schema:
    """The lifted statement's columns: the inner ones, placeholders typed, leaves dropped."""
    islands = {i.placeholder: i for i in plan.islands}
    fields = []
    for f in inner:
        if f.name in plan.leaf_columns:
            continue
        island = islands.get(f.name)
        fields.append(pa.field(island.name, result_type(island.tree, inner)) if island else f)
    return pa.schema(fields)


def result_type(node: Node, inner: pa.Schema) -> pa.DataType:
    """A call's Arrow type; RESIZE keeps its image's element type (INT64 stays INT64)."""
    if isinstance(node, Leaf):
        return inner.field(node.column).type
    if isinstance(node, FileLeaf):
        return pa.binary()
    if node.function.result != SAME_AS_INPUT:
        return RESULT_TYPES[node.function.result]
    source = FLOAT_IMAGE_TYPE if isinstance(node.args[0], FileLeaf) else result_type(node.args[0], inner)
    values = source.field("values").type.value_type if pa.types.is_struct(source) else pa.float64()
    return INT_IMAGE_TYPE if pa.types.is_integer(values) else FLOAT_IMAGE_TYPE


def evaluate(plan: LiftPlan, batches: Iterator[pa.RecordBatch], work: ImageWork) -> Iterator[Rows]:
    """Inner batches in, their rows with every lifted projection computed out, in order.

    Each row's call trees run in one task on the pool; the next batch's rows (and its object
    reads) are under way while this batch's finish, so no core waits for the caller.
    """
    islands = {i.placeholder: i for i in plan.islands}
    files = sorted({leaf.column for island in plan.islands for leaf in _file_leaves(island.tree)})

    def start(batch: pa.RecordBatch) -> list[Future[tuple[Any, ...]]]:
        if work.cancel.is_set():
            raise Cancelled("Query cancelled")
        for column in files:
            work.objects.prefetch(object_ref(r) for r in batch.column(column).to_pylist())
        trees = [_Tree.of(island, batch, work) for island in plan.islands]
        return [work.pool.submit(_row, trees, i) for i in range(batch.num_rows)]

    for batch, values in pipelined(batches, start, ahead=1, cancel=work.cancel):
        computed = dict(zip(islands, map(list, zip(*values))))  # placeholder -> one value a row
        columns: dict[str, pa.Array | list[Any]] = {}
        for name, column in zip(batch.schema.names, batch.columns):
            if name in islands:
                columns[islands[name].name] = computed.get(name, [])
            elif name not in plan.leaf_columns:
                columns[name] = column
        yield Rows(columns, batch.num_rows)


def _file_leaves(node: Node) -> Iterator[FileLeaf]:
    if isinstance(node, FileLeaf):
        yield node
    elif isinstance(node, Call):
        for arg in node.args:
            yield from _file_leaves(arg)


@dataclass(frozen=True)
class _Tree:
    """One lifted projection over one batch: its call tree, its argument columns as Python values."""

    call: Call
    row: _Row
    uris: list[str | None] | None

    @classmethod
    def of(cls, island: Island, batch: pa.RecordBatch, work: ImageWork) -> _Tree:
        leaves: dict[str, list[Any]] = {}
        _collect(island.tree, batch, leaves)
        return cls(island.tree, _Row(leaves, work.objects.read, work.pixels), _uris(island.tree, leaves))

    def value(self, i: int) -> Any:
        return _eval(self.call, i, self.row, self.uris[i] if self.uris else None)


def _row(trees: list[_Tree], i: int) -> tuple[Any, ...]:
    """Row ``i``'s value of each lifted projection: one task, so a photo never leaves its worker."""
    return tuple(tree.value(i) for tree in trees)


def _collect(node: Node, batch: pa.RecordBatch, out: dict[str, list[Any]]) -> None:
    if isinstance(node, Call):
        for arg in node.args:
            _collect(arg, batch, out)
    elif isinstance(node, FileLeaf):
        out[node.column] = [object_ref(r) for r in batch.column(node.column).to_pylist()]
    else:
        out[node.column] = column_values(batch.column(node.column), node.kind)


def _uris(node: Node, leaves: dict[str, list[Any]]) -> list[str | None] | None:
    """The object each row came from, for error messages."""
    if isinstance(node, FileLeaf):
        return [None if ref is None else ref.uri for ref in leaves[node.column]]
    if isinstance(node, Call):
        for arg in node.args:
            found = _uris(arg, leaves)
            if found is not None:
                return found
    return None


@dataclass(frozen=True)
class _Row:
    """What evaluating a row needs: the batch's argument columns, a reader, the pixel budget."""

    leaves: dict[str, list[Any]]
    read: Callable[[ObjectRef], bytes]
    pixels: PixelPool


def _eval(node: Node, i: int, row: _Row, uri: str | None) -> Any:
    if isinstance(node, Leaf):
        return row.leaves[node.column][i]
    if isinstance(node, FileLeaf):
        value = row.leaves[node.column][i]
        return None if value is None else row.read(value)
    args = [_eval(arg, i, row, uri) for arg in node.args]
    return node.function.call(args, uri, row.pixels)
