"""The Engine: one DuckDB database (the catalog), a bucket mapping, models, a thread pool.

``Engine.query`` runs a BigQuery script statement by statement and returns the last
statement's rows as a DataFrame, like ``%%bigquery``. It is the error boundary: whatever
goes wrong surfaces as a ``BQMLError`` that names what and where.
"""
from __future__ import annotations

import os
import shutil
import tempfile
import threading
import weakref
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import pandas as pd

from bqml_magic import udfs
from bqml_magic.catalog.catalog import Catalog
from bqml_magic.catalog.models import ModelInfo, ModelStore
from bqml_magic.errors import BQMLError, ErrorTrap, StorageError
from bqml_magic.progress import Progress
from bqml_magic.query import QueryRunner
from bqml_magic.sql.names import object_name
from bqml_magic.sql.parse import parse_script
from bqml_magic.sql.plan import statement_kind
from bqml_magic.statements import HANDLERS, StatementResult
from bqml_magic.storage.reader import MAX_INFERENCE_FILE_BYTES, read_bytes
from bqml_magic.storage.uris import BucketMap

if TYPE_CHECKING:
    from bqml_magic.dryrun import DryRunReport

CATALOG_FILE = "catalog.duckdb"


@dataclass
class ScriptResult:
    """Every statement's result; ``frame`` is the last one's rows."""

    statements: list[StatementResult] = field(default_factory=list)

    @property
    def frame(self) -> pd.DataFrame:
        return self.statements[-1].frame if self.statements else pd.DataFrame()


class Engine:
    """BigQuery SQL over local object tables and imported models.

    ``workspace``: folder where the catalog and frozen model copies persist across
    processes (None: in memory, gone with the engine). ``buckets``: ``{bucket: folder}`` so
    ``gs://bucket/key`` reads ``folder/key``. ``batch_rows``: rows per streamed batch of
    image work (memory is bounded by it).
    """

    def __init__(self, workspace: str | os.PathLike | None = None,
                 buckets: dict[str, str | os.PathLike] | None = None, *, batch_rows: int = 16):
        self.buckets = BucketMap(buckets)
        self.workspace = Path(workspace).expanduser().resolve() if workspace is not None else None
        if self.workspace is not None:
            self.workspace.mkdir(parents=True, exist_ok=True)
            database, models_root = str(self.workspace / CATALOG_FILE), self.workspace / "models"
        else:
            database, models_root = ":memory:", Path(tempfile.mkdtemp(prefix="bqml_models_"))
            weakref.finalize(self, shutil.rmtree, models_root, True)
        try:
            self._con = duckdb.connect(database)
        except duckdb.Error as exc:
            raise StorageError(f"Cannot open workspace {self.workspace}: {exc} (is another process using it?)") from exc
        self._con.execute("SET TimeZone = 'UTC'").fetchall()
        self._pool = ThreadPoolExecutor(max_workers=os.cpu_count() or 2, thread_name_prefix="bqml")
        self._md5 = udfs.Md5Cache()
        self._trap = ErrorTrap()
        udfs.register(self._con, self._read_object, self._pool, self._md5, self._trap)
        self._catalog = Catalog(self._con, self.buckets)
        self._models = ModelStore(self._catalog, self.buckets, models_root)
        self._cancel = threading.Event()
        self._lock = threading.RLock()
        self._runner: QueryRunner | None = None
        self.batch_rows = batch_rows

    # -- public API -------------------------------------------------------------------------
    def mount(self, bucket: str, folder: str | os.PathLike) -> None:
        """Map ``gs://bucket/...`` to a local folder."""
        self.buckets.mount(bucket, folder)

    def query(self, sql: str, params: dict[str, Any] | None = None, *,
              progress_bar_type: str | None = None, max_results: int | None = None) -> pd.DataFrame:
        """Run a script; the last statement's rows (an empty frame for DDL).

        ``max_results``: keep the first N rows of the last query, and stop computing there.
        """
        return self.run_script(sql, params, progress_bar_type=progress_bar_type, max_results=max_results).frame

    def run_script(self, sql: str, params: dict[str, Any] | None = None, *,
                   progress_bar_type: str | None = None, max_results: int | None = None) -> ScriptResult:
        """Run every statement in order; stops at the first error, which is raised."""
        if max_results is not None and max_results < 0:
            raise BQMLError(f"max_results must be 0 or more, not {max_results}")
        progress = Progress(progress_bar_type)
        result = ScriptResult()
        with self._lock:
            self._cancel.clear()
            try:
                statements = parse_script(sql)
                for number, statement in enumerate(statements, 1):
                    limit = max_results if number == len(statements) else None
                    result.statements.append(self._run(statement, dict(params or {}), progress, limit))
            finally:
                progress.close()
        return result

    def describe_model(self, name: str) -> ModelInfo:
        """A model's type, source, size and schema (features and labels)."""
        from sqlglot import exp

        return self._models.info(object_name(exp.to_table(name, dialect="bigquery"), "Model"))

    def table_kind(self, name: str) -> str | None:
        """'OBJECT_TABLE', 'TABLE', 'VIEW', 'MODEL' or None."""
        from sqlglot import exp

        parsed = object_name(exp.to_table(name, dialect="bigquery"))
        return self._catalog.kind(parsed) if self._catalog.has_dataset(parsed.dataset) else None

    def read_uri(self, uri: str) -> bytes:
        """An object's bytes, through the bucket mapping (for previews)."""
        return read_bytes(self.buckets.resolve(uri))

    def dry_run(self, sql: str, params: dict[str, Any] | None = None) -> DryRunReport:
        """Check a script without running models or reading images; see ``dryrun.py``."""
        from bqml_magic.dryrun import dry_run

        with self._lock:
            runner = self._new_runner()
            try:
                return dry_run(runner, sql, dict(params or {}))
            finally:
                runner.close()

    def interrupt(self) -> None:
        """Cancel the running statement (from another thread, e.g. a kernel interrupt)."""
        self._cancel.set()
        runner = self._runner
        for con in [self._con] + (runner.cursors if runner else []):
            try:
                con.interrupt()
            except duckdb.Error:
                pass

    def close(self) -> None:
        self._con.close()
        self._pool.shutdown(wait=False, cancel_futures=True)

    # -- internals --------------------------------------------------------------------------
    def _read_object(self, uri: str) -> bytes:
        return read_bytes(self.buckets.resolve(uri), limit=MAX_INFERENCE_FILE_BYTES)

    def _new_runner(self) -> QueryRunner:
        return QueryRunner(self._con, self._catalog, self._models, self._pool, self._read_object,
                           self._md5, self._cancel, self.batch_rows, self._trap)

    def _run(self, statement: Any, params: dict[str, Any], progress: Progress, row_limit: int | None) -> StatementResult:
        kind = statement_kind(statement)
        self._trap.take()  # what an earlier statement left is not this one's error
        self._runner = runner = self._new_runner()
        runner.row_limit = row_limit
        try:
            result = HANDLERS[kind](runner, statement, params, progress)
        except BQMLError:
            raise
        except KeyboardInterrupt:
            self.interrupt()
            raise
        except duckdb.Error as exc:
            raise runner.translate_error(exc, statement if hasattr(statement, "find_all") else None) from exc
        finally:
            runner.close()
            self._runner = None
        self._models.forget(result.folders_to_delete)
        return result
