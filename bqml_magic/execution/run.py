"""Running one statement: translate it, stream ML.PREDICT and lifted projections, execute in DuckDB.

Every query becomes a ``Stream`` of Arrow batches. An ML.PREDICT is a stream registered on
the query's own DuckDB cursor under its placeholder name (its input is itself a Stream, run
on another cursor, so both can be open at once), and so is a VECTOR_SEARCH's result
(``vector_search.py``); lifted ML.* projections are evaluated between DuckDB and the caller.
DuckDB's errors become BQMLErrors that point into the user's SQL; an exception raised inside
a stream or function DuckDB was calling comes back as itself.
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import duckdb
import pyarrow as pa
from sqlglot import exp

from bqml_magic.catalog import information_schema
from bqml_magic.catalog.functions import TemporaryFunctions
from bqml_magic.errors import BQMLError, SQLError
from bqml_magic.execution import lifted
from bqml_magic.execution.placement import ImageRunner, InProcess, Source
from bqml_magic.execution.predict import Prediction
from bqml_magic.execution.rows import Rows
from bqml_magic.execution.services import Services
from bqml_magic.execution.vector_search import SearchPlan, usable_index
from bqml_magic.progress import Progress
from bqml_magic.sql import pipeline
from bqml_magic.sql.duckdb_errors import from_duckdb
from bqml_magic.sql.kinds import RelationKind
from bqml_magic.sql.metadata_names import MetadataRef
from bqml_magic.sql.names import Name, at
from bqml_magic.sql.passes import as_subquery
from bqml_magic.sql.reads import columns_read
from bqml_magic.sql.rewrite import PredictCall
from bqml_magic.sql.udf import Routine
from bqml_magic.sql.vector_search import SearchCall

OBJECT_BATCH_ROWS = 8
"""Rows per chunk where DuckDB itself calls ML.* functions on an object table's rows."""


@dataclass(frozen=True)
class StatementOptions:
    """What the caller asks of one statement."""

    params: Mapping[str, Any] = field(default_factory=dict)
    """Values of ``@name`` query parameters."""
    progress: Progress = field(default_factory=lambda: Progress(None))
    row_limit: int | None = None
    """Rows the statement's result keeps (``max_results``), as a LIMIT where DuckDB stops."""
    functions: TemporaryFunctions = field(default_factory=TemporaryFunctions)
    """The script's temporary functions (one object for all its statements; the engine drops them)."""
    runner: ImageRunner | None = None
    """Where image work runs (a Ray cluster); None: in this process."""


@dataclass
class Stream:
    """A query's result: DuckDB's batches and the image work still to do on them, done by
    ``runner`` as the rows are read; holds the cursors and streams it reads from open."""

    source: Source
    runner: ImageRunner
    keep_alive: list[Any] = field(default_factory=list)

    @property
    def schema(self) -> pa.Schema:
        return self.source.schema

    def rows(self) -> Iterator[Rows]:
        return self.runner.rows(self.source)

    def batches(self) -> Iterator[pa.RecordBatch]:
        """The rows as Arrow batches of ``schema``."""
        return (rows.to_batch(self.schema) for rows in self.rows())

    def to_table(self) -> pa.Table:
        return pa.Table.from_batches(list(self.batches()), schema=self.schema)


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

    @property
    def runner(self) -> ImageRunner:
        return self.options.runner or InProcess(self.services.work)

    # -- names ----------------------------------------------------------------------------
    def relation_kind(self, name: Name) -> RelationKind:
        kind = self.services.catalog.require_relation(name)
        if kind is RelationKind.OBJECT_TABLE and name.key not in self._fresh:
            self.services.catalog.ensure_fresh(name)
            self._fresh.add(name.key)
        return kind

    def view_query(self, name: Name) -> exp.Expression | None:
        return self.services.catalog.view_query(name)

    def object_rows(self, name: Name, source: str) -> tuple[exp.Expr, str]:
        return self.services.catalog.object_rows(name, source)

    def information_schema(self, ref: MetadataRef) -> exp.Expression:
        if ref.dataset is not None:
            self.services.catalog.require_dataset(ref.dataset)
        information_schema.install(self.services.con)
        return information_schema.relation(ref)

    def function(self, name: Name | str) -> Routine | None:
        if isinstance(name, str):
            return self.options.functions.get(name)
        return self.services.catalog.function(name)

    def translate(
        self, statement: exp.Expression, *, lift: bool = False, local_names: Iterable[str] = (), stored: bool = False
    ) -> pipeline.Translation:
        """``stored``: for a view's definition, which must not name this statement's streams."""
        return pipeline.translate(statement, self, lift=lift, local_names=local_names, executing=not stored)

    # -- queries --------------------------------------------------------------------------
    def stream(self, query: exp.Expression) -> Stream:
        """Execute a query (SELECT, set operation, WITH) as a stream of batches."""
        translation = self.translate(query, lift=True)
        cur = self.cursor()
        keep: list[Any] = [cur]
        for call in translation.predictions:
            self._register_prediction(cur, call, translation.tree, keep)
        for search in translation.searches:
            self._register_search(cur, search, keep)
        keep.extend(self._register_object_streams(cur, translation))
        reader = self.relation(cur, translation).to_arrow_reader(self.services.batch_rows)
        plan = translation.lifted
        schema = reader.schema if plan is None else lifted.output_schema(plan, reader.schema)
        _check_unique_names(schema, query)
        return Stream(Source(iter(reader), plan, schema), self.runner, keep)

    def count(self, query: exp.Expression) -> int | None:
        """Rows a query gives, from its relational part alone (cheap: no images); None with ML.PREDICT
        or VECTOR_SEARCH."""
        translation = self.translate(query)
        if translation.table_calls:
            return None
        counted = exp.select(exp.func("COUNT", exp.Star())).from_(as_subquery(translation.tree, "_counted"))
        cur = self.cursor()
        _readers = self._register_object_streams(cur, translation)  # alive until DuckDB has read them
        relation = self.relation(cur, dataclasses.replace(translation, tree=counted))
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

    def execute(self, sql: str, tree: exp.Expression, translation: pipeline.Translation | None = None) -> None:
        """Run translated DDL / DML to completion on the engine's connection (in its transaction);
        ``tree`` is what it was made from, for parameters and error positions; ``translation``
        brings the object streams it reads."""
        con = self.services.con
        streamed = translation.object_streams if translation is not None else {}
        _readers = self._register_object_streams(con, translation) if translation is not None else []
        try:
            con.execute(sql, self._params(tree) or None).fetchall()
        except duckdb.Error as exc:
            raise self.error(exc, tree) from exc
        finally:
            for placeholder in streamed:  # the engine's own connection outlives the statement
                with contextlib.suppress(duckdb.Error):
                    con.unregister(placeholder)

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
        self.services.objects.forget_prefetched()

    # -- internals ------------------------------------------------------------------------
    def _params(self, tree: exp.Expression) -> dict[str, Any]:
        used = {p.name for p in tree.find_all(exp.Parameter)}
        missing = used - set(self.options.params)
        if missing:
            first = next(p for p in tree.find_all(exp.Parameter) if p.name in missing)
            names = ", ".join("@" + m for m in sorted(missing))  # sqlglot does not place parameters:
            raise SQLError(f"Query parameter(s) not given: {names}", **at(first.parent or first))  # their expression
        return {k: v for k, v in self.options.params.items() if k in used}

    def _register_object_streams(
        self, cur: duckdb.DuckDBPyConnection, translation: pipeline.Translation
    ) -> list[pa.RecordBatchReader]:
        """Each object table the translation streams, read in small batches on a cursor of its own."""
        readers = []
        for placeholder, listed in translation.object_streams.items():
            rows = self.cursor().sql(listed).to_arrow_reader(OBJECT_BATCH_ROWS)
            readers.append(self.register(cur, placeholder, rows.schema, iter(rows)))
        return readers

    def _register_prediction(
        self, cur: duckdb.DuckDBPyConnection, call: PredictCall, outer: exp.Expression, keep: list[Any]
    ) -> None:
        """The predictions as a table DuckDB reads; an input column the statement never reads
        (the model's input images, in ``SELECT uri, predictions``) is left out, never built."""
        models = self.services.models
        try:
            info = models.info(call.model)
        except BQMLError as exc:
            raise exc.add_context(**call.where) from None
        upstream = self.stream(call.input)
        predicted = Prediction.of(info.schema, info.name, upstream.schema, columns_read(outer, call.placeholder))
        progress = self.options.progress
        if progress.bar_type is not None:  # checked and set up; the bar opens with the first batch done
            total, limit = self.count(call.input), self.options.row_limit  # max_results: no more rows are kept
            progress.start(total if total is None or limit is None else min(total, limit), f"ML.PREDICT {info.name}")

        def batches() -> Iterator[pa.RecordBatch]:
            for batch in upstream.runner.predictions(upstream.source, predicted, models, call.model):
                progress.update(batch.num_rows)  # before the yield, where a LIMIT stops DuckDB pulling
                yield batch

        keep.extend([upstream, self.register(cur, call.placeholder, predicted.schema, batches())])

    def _register_search(self, cur: duckdb.DuckDBPyConnection, call: SearchCall, keep: list[Any]) -> None:
        """The search's results as a table DuckDB reads, searched when it first reads them; a stale
        index is rebuilt before any stream opens."""
        index = usable_index(self.services, call, self.options.progress)
        queries = self.stream(call.query)
        base: Stream | None = None
        if index is None:
            base = self.stream(call.base)
            base_schema = base.schema
        else:
            base_schema = self.services.vector_indexes.schema(index)
        plan = SearchPlan.of(call, index, queries.schema, base_schema)

        def batches() -> Iterator[pa.RecordBatch]:
            found = plan.results(self.services, queries.to_table(), base.batches() if base is not None else ())
            yield from found.to_batches(self.services.batch_rows)

        keep.extend([queries, base, self.register(cur, call.placeholder, plan.schema, batches())])


def _check_unique_names(schema: pa.Schema, query: exp.Expression) -> None:
    """BigQuery refuses a result with two columns of one name (``SELECT *, x AS uri``)."""
    counts = collections.Counter(name.lower() for name in schema.names)
    duplicates = sorted({name for name in schema.names if counts[name.lower()] > 1})
    if duplicates:
        raise SQLError(
            f"Duplicate column names in the result are not supported. Found duplicate(s): {', '.join(duplicates)}",
            **at(query),
        )
