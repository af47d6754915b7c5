"""The Engine: one DuckDB database (the catalog), a bucket mapping, models, a thread pool.

``Engine.query`` runs a BigQuery script statement by statement and returns the last
statement's rows as a DataFrame, like ``%%bigquery``. It is the error boundary: whatever
goes wrong surfaces as a ``BQMLError`` that names what and where.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import threading
import weakref
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import pandas as pd
from sqlglot import exp

from bqml_magic.catalog.catalog import Catalog
from bqml_magic.catalog.models import ModelStore
from bqml_magic.errors import BQMLError, StorageError
from bqml_magic.execution import udfs
from bqml_magic.execution.relay import FailureRelay
from bqml_magic.execution.run import Execution, StatementOptions
from bqml_magic.execution.services import Services
from bqml_magic.execution.statements import HANDLERS, StatementResult
from bqml_magic.model_info import ModelInfo
from bqml_magic.progress import Progress
from bqml_magic.sql.kinds import RelationKind, statement_kind
from bqml_magic.sql.names import object_name
from bqml_magic.sql.parse import Statement, parse_script
from bqml_magic.storage.objects import ObjectStore
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

    def __init__(
        self,
        workspace: str | os.PathLike[str] | None = None,
        buckets: Mapping[str, str | os.PathLike[str]] | None = None,
        *,
        batch_rows: int = 16,
    ):
        self.buckets = BucketMap(buckets)
        self.workspace = Path(workspace).expanduser().resolve() if workspace is not None else None
        if self.workspace is not None:
            self.workspace.mkdir(parents=True, exist_ok=True)
            database, models_root = str(self.workspace / CATALOG_FILE), self.workspace / "models"
        else:
            database, models_root = ":memory:", Path(tempfile.mkdtemp(prefix="bqml_models_"))
            weakref.finalize(self, shutil.rmtree, models_root, True)
        try:
            con = duckdb.connect(database)
        except duckdb.Error as exc:
            raise StorageError(f"Cannot open workspace {self.workspace}: {exc} (is another process using it?)") from exc
        con.execute("SET TimeZone = 'UTC'").fetchall()
        catalog = Catalog(con, self.buckets, models_root)
        self._services = Services(
            con=con,
            catalog=catalog,
            models=ModelStore(catalog, self.buckets, models_root),
            objects=ObjectStore(self.buckets),
            pool=ThreadPoolExecutor(max_workers=os.cpu_count() or 2, thread_name_prefix="bqml"),
            relay=FailureRelay(),
            cancel=threading.Event(),
            batch_rows=batch_rows,
        )
        udfs.register(self._services)
        self._lock = threading.RLock()
        self._running: Execution | None = None

    @property
    def batch_rows(self) -> int:
        return self._services.batch_rows

    # -- public API -------------------------------------------------------------------------
    def mount(self, bucket: str, folder: str | os.PathLike[str]) -> None:
        """Map ``gs://bucket/...`` to a local folder."""
        self.buckets.mount(bucket, folder)

    def query(
        self,
        sql: str,
        params: dict[str, Any] | None = None,
        *,
        progress_bar_type: str | None = None,
        max_results: int | None = None,
    ) -> pd.DataFrame:
        """Run a script; the last statement's rows (an empty frame for DDL).

        ``max_results``: keep the first N rows of the last query, and stop computing there.
        """
        return self.run_script(sql, params, progress_bar_type=progress_bar_type, max_results=max_results).frame

    def run_script(
        self,
        sql: str,
        params: dict[str, Any] | None = None,
        *,
        progress_bar_type: str | None = None,
        max_results: int | None = None,
    ) -> ScriptResult:
        """Run every statement in order; stops at the first error, which is raised."""
        if max_results is not None and max_results < 0:
            raise BQMLError(f"max_results must be 0 or more, not {max_results}")
        progress = Progress(progress_bar_type)
        result = ScriptResult()
        with self._lock:
            self._services.cancel.clear()
            try:
                statements = parse_script(sql)
                for number, statement in enumerate(statements, 1):
                    limit = max_results if number == len(statements) else None
                    options = StatementOptions(dict(params or {}), progress, limit)
                    result.statements.append(self._run(statement, options))
            finally:
                progress.close()
        return result

    def describe_model(self, name: str) -> ModelInfo:
        """A model's type, source, size and schema (features and labels)."""
        return self._services.models.info(object_name(exp.to_table(name, dialect="bigquery"), "Model"))

    def table_kind(self, name: str) -> RelationKind | None:
        """What ``dataset.name`` is (an object table, table, view or model), or None."""
        parsed = object_name(exp.to_table(name, dialect="bigquery"))
        catalog = self._services.catalog
        return catalog.kind(parsed) if catalog.has_dataset(parsed.dataset) else None

    def read_uri(self, uri: str) -> bytes:
        """An object's bytes, through the bucket mapping (for previews)."""
        return self._services.objects.read_any(uri)

    def dry_run(self, sql: str, params: dict[str, Any] | None = None) -> DryRunReport:
        """Check a script without running models or reading images; see ``dryrun.py``."""
        from bqml_magic.dryrun import dry_run

        with self._lock:
            execution = Execution(self._services, StatementOptions(dict(params or {})))
            try:
                return dry_run(execution, sql)
            finally:
                execution.close()

    def interrupt(self) -> None:
        """Cancel the running statement (from another thread, e.g. a kernel interrupt)."""
        self._services.cancel.set()
        with contextlib.suppress(duckdb.Error):
            self._services.con.interrupt()
        running = self._running
        if running is not None:
            running.interrupt()

    def close(self) -> None:
        self._services.con.close()
        self._services.pool.shutdown(wait=False, cancel_futures=True)

    # -- internals --------------------------------------------------------------------------
    def _run(self, statement: Statement, options: StatementOptions) -> StatementResult:
        kind = statement_kind(statement)
        self._running = execution = Execution(self._services, options)
        try:
            result = HANDLERS[kind](execution, statement)
        except BQMLError:
            raise
        except KeyboardInterrupt:
            self.interrupt()
            raise
        except duckdb.Error as exc:
            raise execution.error(exc, statement if isinstance(statement, exp.Expression) else None) from exc
        finally:
            execution.close()
            self._running = None
        self._services.models.forget(result.folders_to_delete)
        return result
