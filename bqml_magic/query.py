"""Running one query: translate, stream ML.PREDICT and lifted projections, execute in DuckDB.

Every query becomes a ``Stream`` of Arrow batches. ML.PREDICT items are replaced by Arrow
streams registered on the query's own DuckDB cursor (its input is itself a Stream, run on
another cursor, so both can be open at once); lifted ML.* projections are evaluated between
DuckDB and the caller. Exceptions raised inside a stream that DuckDB is consuming are
trapped and re-raised as themselves, not as DuckDB's wrapping of them.
"""
from __future__ import annotations

import itertools
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

import duckdb
import pyarrow as pa
from sqlglot import exp

from bqml_magic import batches as lifted
from bqml_magic import predict as prediction
from bqml_magic import udfs
from bqml_magic.catalog.catalog import Catalog
from bqml_magic.catalog.models import ModelStore
from bqml_magic.errors import BQMLError, ErrorTrap, SQLError
from bqml_magic.progress import Progress
from bqml_magic.sql import translate
from bqml_magic.sql.duckdb_errors import from_duckdb
from bqml_magic.sql.lift import plan_lift
from bqml_magic.sql.names import Name, object_name, position


@dataclass
class Stream:
    """A query's result as Arrow batches; holds the cursors it reads from open."""

    schema: pa.Schema
    batches: Iterator[pa.RecordBatch]
    keep_alive: list[Any] = field(default_factory=list)

    def reader(self) -> pa.RecordBatchReader:
        return pa.RecordBatchReader.from_batches(self.schema, self.batches)

    def to_table(self) -> pa.Table:
        return pa.Table.from_batches(list(self.batches), schema=self.schema)


class QueryRunner:
    """Shared state of an engine that every query needs."""

    def __init__(self, con: duckdb.DuckDBPyConnection, catalog: Catalog, models: ModelStore,
                 pool: ThreadPoolExecutor, read: Callable[[str], bytes], md5: udfs.Md5Cache,
                 cancel: threading.Event, batch_rows: int, trap: ErrorTrap):
        self.con = con
        self.catalog = catalog
        self.models = models
        self.pool = pool
        self.read = read
        self.md5 = md5
        self.cancel = cancel
        self.batch_rows = batch_rows
        self.trap = trap
        self.row_limit: int | None = None
        """Rows the statement's result keeps (``max_results``), as a LIMIT where DuckDB stops."""
        self._names = itertools.count()
        self.cursors: list[duckdb.DuckDBPyConnection] = []

    def cursor(self) -> duckdb.DuckDBPyConnection:
        """A second connection to the same database (UDFs are database-wide), so streams can nest."""
        cur = self.con.cursor()
        self.cursors.append(cur)
        return cur

    def stream(self, query: exp.Expression, params: dict[str, Any], progress: Progress | None = None) -> Stream:
        """Execute a query (SELECT, set operation, WITH) as a stream of batches."""
        query = query.copy()
        object_tables = translate.resolve_tables(query, self._kind)
        translate.rewrite_data_pseudocolumn(query, object_tables)
        translate.fix_unnest_offsets(query)
        cur = self.cursor()
        keep: list[Any] = [cur]
        self._replace_predictions(query, params, cur, keep, progress)
        translate.name_anonymous_columns(query)
        plan = plan_lift(query)
        relational = plan.inner if plan else query
        translate.rewrite_ml_calls(relational)
        sql = translate.to_duckdb(relational)
        reader = self.execute(cur, sql, params, relational).to_arrow_reader(self.batch_rows)
        inner = self.trap.guard(iter(reader))
        if plan is None:
            return Stream(reader.schema, inner, keep)
        schema = lifted.output_schema(plan, reader.schema)
        return Stream(schema, lifted.evaluate(plan, inner, self.pool, self.read, self.cancel, schema), keep)

    def execute(self, cur: duckdb.DuckDBPyConnection, sql: str, params: dict[str, Any],
                statement: exp.Expression) -> duckdb.DuckDBPyRelation:
        """Run translated SQL; DuckDB's errors become BQMLErrors that point into the user's SQL."""
        self._check_params(params, statement)
        try:
            return cur.sql(sql, params=self._used_params(params, statement) or None)
        except duckdb.Error as exc:
            raise self.translate_error(exc, statement) from exc

    @staticmethod
    def _used_params(params: dict[str, Any], statement: exp.Expression) -> dict[str, Any]:
        used = {p.name for p in statement.find_all(exp.Parameter)}
        return {k: v for k, v in params.items() if k in used}

    @staticmethod
    def _check_params(params: dict[str, Any], statement: exp.Expression) -> None:
        missing = {p.name for p in statement.find_all(exp.Parameter)} - set(params)
        if missing:
            raise SQLError(f"Query parameter(s) not given: {', '.join('@' + m for m in sorted(missing))}")

    def collect(self, stream: Stream, statement: exp.Expression) -> pa.Table:
        """All batches of a stream; errors from inside DuckDB or the streams, translated."""
        try:
            return stream.to_table()
        except BQMLError:
            raise
        except (duckdb.Error, pa.ArrowException) as exc:
            raise self.translate_error(exc, statement) from exc

    def run(self, cur: duckdb.DuckDBPyConnection, sql: str, params: dict[str, Any], statement: exp.Expression) -> None:
        """Run translated DDL / DML to completion."""
        self._check_params(params, statement)
        try:
            cur.execute(sql, self._used_params(params, statement) or None).fetchall()
        except duckdb.Error as exc:
            raise self.translate_error(exc, statement) from exc

    def translate_error(self, exc: BaseException, statement: exp.Expression | None) -> BaseException:
        trapped = self.trap.take()
        if trapped is not None:
            return trapped
        return from_duckdb(exc, statement)

    def _kind(self, name: Name, table: exp.Table) -> str:
        try:
            kind = self.catalog.require_relation(name)
        except BQMLError as exc:
            line, col = position(table)
            raise type(exc)(f"{exc} [at {line}:{col}]" if line else str(exc)) from None
        if kind == "OBJECT_TABLE":
            self.catalog.ensure_fresh(name)
        return kind

    def _replace_predictions(self, query: exp.Expression, params: dict[str, Any], cur: duckdb.DuckDBPyConnection,
                             keep: list[Any], progress: Progress | None) -> None:
        for node in list(query.find_all(exp.Predict)):
            if node.find_ancestor(exp.Predict) is not None:
                continue  # a nested ML.PREDICT is its input's business
            model = object_name(node.this, "Model")
            info = self.models.info(model)
            input_query = translate.predict_input(node, query)
            upstream = self.stream(input_query, params)
            runtime = self.models.runtime(info)
            if progress is not None:
                progress.start(self._count(input_query, params), f"ML.PREDICT {info.name}")
            out = prediction.predict(runtime, info.name, upstream.batches, upstream.schema,
                                     progress.update if progress else None)
            name = f"__bqml_predict{next(self._names)}"
            reader = pa.RecordBatchReader.from_batches(prediction.output_schema(runtime.schema, upstream.schema),
                                                       self.trap.guard(out))
            cur.register(name, reader)
            keep.extend([upstream, reader])
            table = node.parent if isinstance(node.parent, exp.Table) else node
            table.replace(exp.table_(name, alias=table.alias or None) if isinstance(table, exp.Table) else exp.table_(name))

    def _count(self, query: exp.Expression, params: dict[str, Any]) -> int | None:
        """Rows an ML.PREDICT will see, from the relational part alone (cheap: no images)."""
        if query.find(exp.Predict):
            return None
        counted = query.copy()
        object_tables = translate.resolve_tables(counted, lambda n, t: self.catalog.kind(n) or "TABLE")
        translate.rewrite_data_pseudocolumn(counted, object_tables)
        translate.fix_unnest_offsets(counted)
        plan = plan_lift(counted)
        relational = plan.inner if plan else counted
        translate.rewrite_ml_calls(relational)
        sql = f"SELECT COUNT(*) FROM ({translate.to_duckdb(relational)})"
        return self.execute(self.cursor(), sql, params, relational).fetchall()[0][0]

    def close(self) -> None:
        for cur in self.cursors:
            try:
                cur.close()
            except duckdb.Error:
                pass
        self.cursors.clear()
