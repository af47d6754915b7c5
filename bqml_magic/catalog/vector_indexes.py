"""Vector indexes: their definitions, the rows they cover and their graphs, kept in the catalog.

An index covers a *snapshot* of its table: a copy in ``__bqml`` made by the statement that
builds it and never changed after, each row keyed (``KEY``) as its graph knows it: the table's
row id when the snapshot was taken, unique and in the table's order. The table's row ids cannot
be looked up later: they are renumbered when deleted rows are compacted. The graph's bytes are a
BLOB in ``__bqml.vector_indexes``, written in the same transaction as the snapshot: a failed
CREATE leaves nothing, a DROP leaves nothing behind.

DML on a table, or replacing it, marks its indexes stale in the statement's own transaction
(``table_changed``, ``table_replaced``); the next VECTOR_SEARCH that would use a stale index
rebuilds it first. BigQuery refreshes indexes in the background and searches the rows not yet
indexed by brute force meanwhile [doc: vector-index#index_refresh]: either way the search sees
the table as it is. Dropping a table or its dataset drops its indexes.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa

from bqml_magic.catalog.db import first_row, run, transaction
from bqml_magic.catalog.schema import SCHEMA, VECTOR_INDEXES
from bqml_magic.errors import AlreadyExistsError, Cancelled, NotFoundError, SQLError
from bqml_magic.progress import Progress
from bqml_magic.sql.kinds import RelationKind
from bqml_magic.sql.names import Name, quoted
from bqml_magic.sql.vector_index import CreateVectorIndex, DropVectorIndex
from bqml_magic.vectors.ann import Graph
from bqml_magic.vectors.arrays import is_vector_type, matrix
from bqml_magic.vectors.distance import DistanceType, exact
from bqml_magic.vectors.nearest import Matches, ordered

INDEX_TYPES = ("IVF", "TREE_AH")
_OPTIONS = ("index_type", "distance_type", "ivf_options", "tree_ah_options")
KEY = "__bqml_key"
"""A snapshot row's key in the graph: its row id in the table when the snapshot was taken."""
BUILD_BATCH_ROWS = 8192
"""Rows read per step while a graph is built (a batch of 1,024-wide vectors is 64 MiB)."""
CACHED_GRAPHS = 2
"""Loaded graphs an engine keeps (the most recently searched)."""
_BY_TABLE = "lower(dataset) = ? AND lower(table_name) = ?"
_COLUMNS = "dataset, table_name, index_name, column_name, distance_type, snapshot, row_count, width, stale"


@dataclass(frozen=True)
class VectorIndex:
    """One index as the catalog records it (the graph itself is loaded only to search)."""

    table: Name
    name: str
    column: str
    distance: DistanceType
    snapshot: str
    """The snapshot table's name in ``__bqml``; a new one each time the index is built."""
    rows: int
    width: int | None
    """The vectors' length; None for an index of an empty table."""
    stale: bool

    @classmethod
    def of(cls, row: tuple[Any, ...]) -> VectorIndex:
        dataset, table, name, column, distance, snapshot, rows, width, stale = row
        return cls(Name(dataset, table), name, column, DistanceType(distance), snapshot, rows, width, stale)


class VectorIndexes:
    """CREATE / DROP VECTOR INDEX, and searches through them; each graph loaded once per engine."""

    def __init__(self, connection: Callable[[], duckdb.DuckDBPyConnection], cancel: threading.Event):
        self._connection = connection
        self._cancel = cancel
        self._graphs: OrderedDict[str, Graph] = OrderedDict()
        self._lock = threading.Lock()

    @property
    def con(self) -> duckdb.DuckDBPyConnection:
        return self._connection()

    def create(self, statement: CreateVectorIndex, kind: RelationKind, progress: Progress) -> None:
        """Build the index in one transaction; ``kind``: what the statement's table is."""
        table = statement.table
        if statement.replace and statement.if_not_exists:
            raise SQLError("CREATE OR REPLACE VECTOR INDEX and IF NOT EXISTS cannot be used together")
        if kind is not RelationKind.TABLE:
            raise SQLError(f"Vector indexes are built on tables; {table} is a {kind.value}", **statement.where)
        distance = _checked_options(statement.options)
        schema = _schema(self.con, table)  # read once: the indexed column and the stored ones
        column = _vector_column(schema, table, statement.column, "CREATE VECTOR INDEX")
        columns = {name.lower(): name for name in schema.names}
        for stored in statement.storing:
            if stored.lower() not in columns:
                raise SQLError(f"CREATE VECTOR INDEX: table {table} has no column {stored!r} to store")
        old = self._row(table, statement.index)
        if old is not None and statement.if_not_exists:
            return
        if old is not None and not statement.replace:
            raise AlreadyExistsError(f"Already Exists: Vector index {statement.index} on table {table}")
        with transaction(self.con):
            if old is not None:
                _forget(self.con, old)
            snapshot, rows, width, graph = self._build(table, column, distance, progress)
            run(
                self.con,
                f"INSERT INTO {VECTOR_INDEXES} VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, now(), now(), false, ?, ?, ?, ?)",
                [
                    table.dataset,
                    table.name,
                    statement.index,
                    column,
                    [columns[s.lower()] for s in statement.storing],
                    str(statement.options.get("index_type", "")).upper(),
                    distance.value,
                    json.dumps(statement.options, default=str),
                    statement.ddl,
                    snapshot,
                    rows,
                    width,
                    graph,
                ],
            )

    def drop(self, statement: DropVectorIndex) -> None:
        old = self._row(statement.table, statement.index)
        if old is None:
            if statement.if_exists:
                return
            raise NotFoundError(
                f"Not found: Vector index {statement.index} on table {statement.table}", **statement.where
            )
        with transaction(self.con):
            _forget(self.con, old)

    def usable(self, table: Name, column: str, distance: DistanceType | None) -> VectorIndex | None:
        """The index a search of ``table.column`` can use: its distance type as asked (or any,
        when the search names none)."""
        for index in _indexes(self.con, f"{_BY_TABLE} ORDER BY created", list(table.key)):
            if index.column.lower() == column.lower() and distance in (None, index.distance):
                return index
        return None

    def current(self, index: VectorIndex, progress: Progress) -> VectorIndex:
        """The index, rebuilt first if its table changed since it was built."""
        if not index.stale:
            return index
        with transaction(self.con):
            snapshot, rows, width, graph = self._build(index.table, index.column, index.distance, progress)
            run(
                self.con,
                f"UPDATE {VECTOR_INDEXES} SET snapshot = ?, row_count = ?, width = ?, graph = ?, stale = false, "
                f"refreshed = now() WHERE {_BY_TABLE} AND index_name = ?",
                [snapshot, rows, width, graph, *index.table.key, index.name],
            )
            run(self.con, f"DROP TABLE IF EXISTS {quoted(SCHEMA, index.snapshot)}")
        refreshed = self._row(index.table, index.name)
        assert refreshed is not None
        return refreshed

    def schema(self, index: VectorIndex) -> pa.Schema:
        """The rows an index covers: its table's columns, as they were when it was built."""
        return (
            self.con.sql(f"SELECT * EXCLUDE ({KEY}) FROM {quoted(SCHEMA, index.snapshot)} LIMIT 0")
            .to_arrow_table()
            .schema
        )

    def search(self, index: VectorIndex, queries: np.ndarray, top_k: int, breadth: int) -> Matches:
        """Each query's ``top_k`` nearest rows of the snapshot by the graph, their distances
        recomputed exactly from the stored values; ``rows`` are the snapshot's rows found."""
        snapshot = quoted(SCHEMA, index.snapshot)
        if index.width is None or not len(queries):
            empty = self.schema(index).empty_table()
            return ordered(np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0), empty)
        keys = self._graph(index).search(queries, min(top_k, index.rows), breadth)
        query = np.repeat(np.arange(len(queries)), keys.shape[1])
        keys = keys.reshape(-1)
        query, keys = query[keys >= 0], keys[keys >= 0]
        found = np.unique(keys)
        rows = self.con.sql(
            f"SELECT * EXCLUDE ({KEY}) FROM {snapshot} WHERE {KEY} = ANY($keys::BIGINT[]) ORDER BY {KEY}",
            params={"keys": found.tolist()},
        ).to_arrow_table()
        base = np.searchsorted(found, keys)
        vectors = matrix(rows.column(index.column), f"column '{index.column}' of {index.table}", 0, index.width)
        return ordered(query, base, exact(queries[query], vectors[base], index.distance), rows)

    # -- internals ------------------------------------------------------------------------
    def _row(self, table: Name, name: str) -> VectorIndex | None:
        row = first_row(
            self.con,
            f"SELECT {_COLUMNS} FROM {VECTOR_INDEXES} WHERE {_BY_TABLE} AND lower(index_name) = lower(?)",
            [*table.key, name],
        )
        return VectorIndex.of(row) if row else None

    def _build(
        self, table: Name, column: str, distance: DistanceType, progress: Progress
    ) -> tuple[str, int, int | None, bytes | None]:
        """A snapshot of the table and the graph of its vectors: (snapshot, rows, width, graph)."""
        snapshot = f"vector_index_{uuid.uuid4().hex}"
        keyed = f"SELECT rowid AS {KEY}, * FROM {table.sql()}"  # streamed: no window holds the table
        run(self.con, f"CREATE TABLE {quoted(SCHEMA, snapshot)} AS {keyed}")
        progress.start(run(self.con, f"SELECT COUNT(*) FROM {quoted(SCHEMA, snapshot)}")[0][0], f"VECTOR INDEX {table}")
        reader = self.con.sql(
            f"SELECT {KEY}, {quoted(column)} FROM {quoted(SCHEMA, snapshot)} ORDER BY {KEY}"
        ).to_arrow_reader(BUILD_BATCH_ROWS)
        graph, width, rows = None, None, 0
        with reader:  # closed on failure too: DuckDB cannot roll back under an open result
            for batch in reader:
                if self._cancel.is_set():
                    raise Cancelled("CREATE VECTOR INDEX cancelled")
                what = f"column '{column}' of {table}"
                vectors = matrix(batch.column(1), what, rows, width, "CREATE VECTOR INDEX")
                if graph is None:
                    width = vectors.shape[1]
                    graph = Graph.empty(distance, width)
                graph.add(batch.column(0).to_numpy(), vectors)
                rows += batch.num_rows
                progress.update(batch.num_rows)
        return snapshot, rows, width, graph.to_bytes() if graph is not None else None

    def _graph(self, index: VectorIndex) -> Graph:
        with self._lock:
            graph = self._graphs.get(index.snapshot)
            if graph is None:
                blob = first_row(
                    self.con,
                    f"SELECT graph FROM {VECTOR_INDEXES} WHERE {_BY_TABLE} AND index_name = ?",
                    [*index.table.key, index.name],
                )
                assert blob is not None and blob[0] is not None
                graph = self._graphs[index.snapshot] = Graph.from_bytes(blob[0], index.distance)
                while len(self._graphs) > CACHED_GRAPHS:
                    self._graphs.popitem(last=False)
            self._graphs.move_to_end(index.snapshot)
            return graph


def _checked_options(options: dict[str, Any]) -> DistanceType:
    """BigQuery's index options: ``index_type`` required, ``distance_type`` defaulting to
    EUCLIDEAN, ``ivf_options`` / ``tree_ah_options`` JSON (recorded; the graph has no lists)."""
    unknown = [key for key in options if key not in _OPTIONS]
    if unknown:
        raise SQLError(f"CREATE VECTOR INDEX: unknown option {unknown[0]}; known: {', '.join(_OPTIONS)}")
    index_type = options.get("index_type")
    if not isinstance(index_type, str) or index_type.upper() not in INDEX_TYPES:
        raise SQLError(
            f"CREATE VECTOR INDEX: option index_type must be one of {', '.join(repr(t) for t in INDEX_TYPES)}, "
            f"got {index_type!r}"
        )
    distance_text = options.get("distance_type", "EUCLIDEAN")
    distance = DistanceType.named(distance_text) if isinstance(distance_text, str) else None
    if distance is None:
        known = ", ".join(repr(t.value) for t in DistanceType)
        raise SQLError(f"CREATE VECTOR INDEX: option distance_type must be one of {known}, got {distance_text!r}")
    for key in ("ivf_options", "tree_ah_options"):
        if key in options:
            try:
                if not isinstance(json.loads(str(options[key])), dict):
                    raise ValueError
            except ValueError:
                raise SQLError(f"CREATE VECTOR INDEX: option {key} must be a JSON object string") from None
    return distance


def _schema(con: duckdb.DuckDBPyConnection, table: Name) -> pa.Schema:
    return con.sql(f"SELECT * FROM {table.sql()} LIMIT 0").to_arrow_table().schema


def _vector_column(schema: pa.Schema, table: Name, column: str, what: str) -> str:
    """The column's name as stored, refused unless it is an ARRAY of numbers."""
    found = next((field for field in schema if field.name.lower() == column.lower()), None)
    if found is None:
        raise SQLError(f"{what}: table {table} has no column {column!r}; its columns: {', '.join(schema.names)}")
    if not is_vector_type(found.type):
        raise SQLError(f"{what}: column {found.name!r} of {table} is not an ARRAY of numbers (FLOAT64, INT64)")
    return found.name


def _forget(con: duckdb.DuckDBPyConnection, index: VectorIndex) -> None:
    run(con, f"DROP TABLE IF EXISTS {quoted(SCHEMA, index.snapshot)}")
    run(con, f"DELETE FROM {VECTOR_INDEXES} WHERE {_BY_TABLE} AND index_name = ?", [*index.table.key, index.name])


def _indexes(con: duckdb.DuckDBPyConnection, where: str, params: list[Any]) -> list[VectorIndex]:
    return [VectorIndex.of(row) for row in run(con, f"SELECT {_COLUMNS} FROM {VECTOR_INDEXES} WHERE {where}", params)]


def forget_table(con: duckdb.DuckDBPyConnection, table: Name) -> None:
    """In the caller's transaction: a dropped table's indexes go with it."""
    for index in _indexes(con, _BY_TABLE, list(table.key)):
        _forget(con, index)


def forget_dataset(con: duckdb.DuckDBPyConnection, dataset: str) -> None:
    for index in _indexes(con, "lower(dataset) = lower(?)", [dataset]):
        _forget(con, index)


def table_changed(con: duckdb.DuckDBPyConnection, table: Name) -> None:
    """In the DML's transaction: the table's indexes are rebuilt before they are next searched."""
    run(con, f"UPDATE {VECTOR_INDEXES} SET stale = true WHERE {_BY_TABLE}", list(table.key))


def table_replaced(con: duckdb.DuckDBPyConnection, table: Name) -> None:
    """In the replacing transaction: an index whose column the new table still has as vectors is
    rebuilt before it is next searched; any other is dropped (there is nothing left to index)."""
    for index in _indexes(con, _BY_TABLE, list(table.key)):
        try:
            _vector_column(_schema(con, table), table, index.column, "")
        except (SQLError, duckdb.Error):
            _forget(con, index)
    table_changed(con, table)
