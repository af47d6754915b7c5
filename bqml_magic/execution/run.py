"""Running one statement: translate it, stream ML.PREDICT and lifted projections, execute in DuckDB.

Every query becomes a ``Stream`` of Arrow batches. An ML.PREDICT is a stream registered on
the query's own DuckDB cursor under its placeholder name (its input is itself a Stream, run
on another cursor, so both can be open at once); lifted ML.* projections are evaluated
between DuckDB and the caller. DuckDB's errors become BQMLErrors that point into the user's
SQL; an exception raised inside a stream or function DuckDB was calling comes back as itself.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import duckdb
import pyarrow as pa
from sqlglot import exp

from bqml_magic import predict as prediction
from bqml_magic.errors import BQMLError, SQLError
from bqml_magic.execution import lifted
from bqml_magic.execution.services import Services
from bqml_magic.progress import Progress
from bqml_magic.sql import pipeline
from bqml_magic.sql.duckdb_errors import from_duckdb
from bqml_magic.sql.kinds import RelationKind
from bqml_magic.sql.names import Name
from bqml_magic.sql.passes import as_subquery
from bqml_magic.sql.rewrite import PredictCall


@dataclass(frozen=True)
class StatementOptions:
    """What the caller asks of one statement."""

    params: Mapping[str, Any] = field(default_factory=dict)
    """Values of ``@name`` query parameters."""
    progress: Progress = field(default_factory=lambda: Progress(None))
    row_limit: int | None = None
    """Rows the statement's result keeps (``max_results``), as a LIMIT where DuckDB stops."""


@dataclass
class Stream:
    """A query's result as Arrow batches; holds the cursors and streams it reads from open."""

    schema: pa.Schema
    batches: Iterator[pa.RecordBatch]
    keep_alive: list[Any] = field(default_factory=list)

    def to_table(self) -> pa.Table:
        return pa.Table.from_batches(list(self.batches), schema=self.schema)


class Execution:
    """One statement's run: its options, its DuckDB cursors, the object tables it refreshed.

    It is the pipeline's resolver: a table read is checked against the catalog, and an object
    table is re-listed (when its caching rules say so) once per statement, however often read.
    """

    def __init__(self, services: Services, options: StatementOptions):
        self.services = services
        self.options = options
        self._cursors: list[duckdb.DuckDBPyConnection] = []
        self._fresh: set[tuple[str, str]] = set()

    # -- names ----------------------------------------------------------------------------
    def relation_kind(self, name: Name) -> RelationKind:
        kind = self.services.catalog.require_relation(name)
        if kind is RelationKind.OBJECT_TABLE and name.key not in self._fresh:
            self.services.catalog.ensure_fresh(name)
            self._fresh.add(name.key)
        return kind

    def translate(
        self, statement: exp.Expression, *, lift: bool = False, local_names: Iterable[str] = ()
    ) -> pipeline.Translation:
        return pipeline.translate(statement, self, lift=lift, local_names=local_names)

    # -- queries --------------------------------------------------------------------------
    def stream(self, query: exp.Expression) -> Stream:
        """Execute a query (SELECT, set operation, WITH) as a stream of batches."""
        translation = self.translate(query, lift=True)
        cur = self.cursor()
        keep: list[Any] = [cur]
        for call in translation.predictions:
            self._register_prediction(cur, call, keep)
        reader = self.relation(cur, translation).to_arrow_reader(self.services.batch_rows)
        batches: Iterator[pa.RecordBatch] = iter(reader)
        plan = translation.lifted
        if plan is None:
            return Stream(reader.schema, batches, keep)
        schema = lifted.output_schema(plan, reader.schema)
        services = self.services
        return Stream(
            schema, lifted.evaluate(plan, batches, services.pool, services.objects.read, services.cancel, schema), keep
        )

    def count(self, query: exp.Expression) -> int | None:
        """Rows a query gives, from its relational part alone (cheap: no images); None with ML.PREDICT."""
        translation = self.translate(query)
        if translation.predictions:
            return None
        counted = exp.select(exp.func("COUNT", exp.Star())).from_(as_subquery(translation.tree, "_counted"))
        relation = self.relation(self.cursor(), dataclasses.replace(translation, tree=counted))
        return int(relation.fetchall()[0][0])

    def collect(self, stream: Stream, statement: exp.Expression) -> pa.Table:
        """All batches of a stream; errors from inside DuckDB or the streams, translated."""
        try:
            return stream.to_table()
        except BQMLError:
            raise
        except (duckdb.Error, pa.ArrowException) as exc:
            raise self.error(exc, statement) from exc

    def register(
        self, cur: duckdb.DuckDBPyConnection, name: str, schema: pa.Schema, batches: Iterator[pa.RecordBatch]
    ) -> pa.RecordBatchReader:
        """Let DuckDB read ``batches`` as the table ``name``; their exceptions cross it intact."""
        reader = pa.RecordBatchReader.from_batches(schema, self.services.relay.guard(batches))
        cur.register(name, reader)
        return reader

    # -- DuckDB ---------------------------------------------------------------------------
    def cursor(self) -> duckdb.DuckDBPyConnection:
        """A second connection to the same database (UDFs are database-wide), so streams can nest."""
        cur = self.services.con.cursor()
        self._cursors.append(cur)
        return cur

    def relation(self, cur: duckdb.DuckDBPyConnection, translation: pipeline.Translation) -> duckdb.DuckDBPyRelation:
        """A translated query as a lazy DuckDB relation."""
        try:
            return cur.sql(translation.sql, params=self._params(translation.tree) or None)
        except duckdb.Error as exc:
            raise self.error(exc, translation.tree) from exc

    def execute(self, sql: str, tree: exp.Expression) -> None:
        """Run translated DDL / DML to completion on the engine's connection (in its transaction);
        ``tree`` is what it was made from, for parameters and error positions."""
        try:
            self.services.con.execute(sql, self._params(tree) or None).fetchall()
        except duckdb.Error as exc:
            raise self.error(exc, tree) from exc

    def error(self, exc: BaseException, tree: exp.Expression | None) -> BaseException:
        """The exception to raise for a DuckDB error: ours, if one of our functions caused it."""
        return self.services.relay.receive(exc) or from_duckdb(exc, tree)

    def interrupt(self) -> None:
        for cur in self._cursors:
            with contextlib.suppress(duckdb.Error):
                cur.interrupt()

    def close(self) -> None:
        for cur in self._cursors:
            with contextlib.suppress(duckdb.Error):
                cur.close()
        self._cursors.clear()

    # -- internals ------------------------------------------------------------------------
    def _params(self, tree: exp.Expression) -> dict[str, Any]:
        used = {p.name for p in tree.find_all(exp.Parameter)}
        missing = used - set(self.options.params)
        if missing:
            raise SQLError(f"Query parameter(s) not given: {', '.join('@' + m for m in sorted(missing))}")
        return {k: v for k, v in self.options.params.items() if k in used}

    def _register_prediction(self, cur: duckdb.DuckDBPyConnection, call: PredictCall, keep: list[Any]) -> None:
        models = self.services.models
        try:
            info = models.info(call.model)
        except BQMLError as exc:
            raise exc.add_context(**call.where) from None
        upstream = self.stream(call.input)
        runtime = models.runtime(call.model)
        progress = self.options.progress
        if progress.bar_type is not None:
            progress.start(self.count(call.input), f"ML.PREDICT {info.name}")
        out = prediction.predict(runtime, info.name, upstream.batches, upstream.schema, progress.update)
        schema = prediction.output_schema(runtime.schema, upstream.schema)
        keep.extend([upstream, self.register(cur, call.placeholder, schema, out)])
