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
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import pandas as pd
from sqlglot import exp

from bqml_magic.catalog import schema
from bqml_magic.catalog.catalog import Catalog
from bqml_magic.catalog.database import Database
from bqml_magic.catalog.functions import TemporaryFunctions
from bqml_magic.catalog.lock import WorkspaceLock
from bqml_magic.catalog.models import ModelStore
from bqml_magic.catalog.snapshot import CatalogSnapshot
from bqml_magic.catalog.vector_indexes import VectorIndexes
from bqml_magic.errors import BQMLError, Cancelled, LimitError, SQLError, StorageError
from bqml_magic.execution import udfs
from bqml_magic.execution.relay import FailureRelay
from bqml_magic.execution.run import Execution, StatementOptions
from bqml_magic.execution.services import ImageWork, Services
from bqml_magic.execution.statements import HANDLERS, StatementResult
from bqml_magic.memory import MemoryBudget, parse_bytes
from bqml_magic.model_info import ModelInfo
from bqml_magic.progress import Progress
from bqml_magic.runtimes.devices import parse_device
from bqml_magic.sql.kinds import RelationKind, statement_kind
from bqml_magic.sql.names import name_from_text
from bqml_magic.sql.parse import Statement, parse_script
from bqml_magic.storage.cache import DEFAULT_BYTES as DEFAULT_CACHE_BYTES
from bqml_magic.storage.cache import ContentCache
from bqml_magic.storage.cache import default_folder as default_cache_folder
from bqml_magic.storage.mounts import RememberedMounts
from bqml_magic.storage.objects import ObjectStore
from bqml_magic.storage.remote import RemoteStores
from bqml_magic.storage.uris import OBJECT_STORES, BucketMap

if TYPE_CHECKING:
    from bqml_magic.cluster.runner import RayRunner
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
    image work. ``memory_budget``: bytes (or ``'4GB'``) for DuckDB and image work together;
    default a quarter of the machine's memory, at most 4 GiB (see ``memory.py``).
    ``local_roots``: local folders whose files SQL may name by plain path or ``file://`` URI;
    none by default (docs/behaviour.md#access-policy). ``storage_options``: options for each
    object store by protocol (``{"gs": {...}, "s3": {...}}``); unmapped ``gs://`` and ``s3://``
    read the stores themselves (docs/behaviour.md#object-stores). ``cache_dir`` and
    ``cache_size``: the local copies of objects read from stores (``cache_size=0``: none).
    ``device``: where models run, ``'cpu'`` (BigQuery's numbers) or a GPU the installed runtime
    offers, e.g. ``'cuda'`` (docs/behaviour.md#devices). ``ray_address``: run image work (object
    reads, ML.* image functions, ML.PREDICT) on a Ray cluster, anything ``ray.init(address=...)``
    takes (``'auto'``, ``'ray://head:10001'``, ``'local'``); None runs it in this process, Ray never
    imported. ``ray_cpus_per_actor``: CPUs (and threads) each of the cluster's actors takes
    (docs/behaviour.md#ray).
    """

    def __init__(
        self,
        workspace: str | os.PathLike[str] | None = None,
        buckets: Mapping[str, str | os.PathLike[str]] | None = None,
        *,
        batch_rows: int = 16,
        memory_budget: int | str | None = None,
        local_roots: Iterable[str | os.PathLike[str]] = (),
        storage_options: Mapping[str, Mapping[str, Any]] | None = None,
        cache_dir: str | os.PathLike[str] | None = None,
        cache_size: int | str = DEFAULT_CACHE_BYTES,
        device: str = "cpu",
        ray_address: str | None = None,
        ray_cpus_per_actor: float = 1,
    ):
        model_device = parse_device(device)
        stores = RemoteStores(storage_options)
        self.buckets = BucketMap(buckets, local_roots, remote=[*OBJECT_STORES, *stores.options])
        self.workspace = Path(workspace).expanduser().resolve() if workspace is not None else None
        cancel = threading.Event()
        workers = os.cpu_count() or 2
        budget = MemoryBudget.of(memory_budget, cancel)
        self._mounts = RememberedMounts(self.workspace) if self.workspace is not None else None
        self._remount(set(self.buckets.buckets))
        database = _database(self.workspace, budget, cancel)
        if self.workspace is not None:
            models_root = self.workspace / "models"
        else:
            models_root = Path(tempfile.mkdtemp(prefix="bqml_models_"))
            weakref.finalize(self, shutil.rmtree, models_root, True)
        cache_bytes = parse_bytes(cache_size, "cache size")
        cache = ContentCache(cache_dir or default_cache_folder(), cache_bytes) if cache_bytes else None
        objects = ObjectStore(self.buckets, stores, cache, read_ahead_bytes=budget.reads)
        catalog = Catalog(database, objects)
        self._services = Services(
            database=database,
            catalog=catalog,
            models=ModelStore(catalog, objects, models_root, model_device),
            vector_indexes=VectorIndexes(lambda: database.con, cancel),
            work=ImageWork.start(workers, objects, budget.pixels, cancel),
            relay=FailureRelay(),
            batch_rows=batch_rows,
            budget=budget,
        )

        def prepare(con: duckdb.DuckDBPyConnection) -> None:
            schema.prepare(con, models_root)
            self._services.models.remove_leftovers()  # of a killed CREATE MODEL: no one else is copying now
            udfs.register(self._services, con)

        database.prepare_with(prepare)
        with database.session():  # a workspace that cannot be opened fails here, not at the first query
            pass
        self._remember_mounts()
        self.ray_address = ray_address
        self.ray_cpus_per_actor = ray_cpus_per_actor
        self._runners: dict[tuple[str, float], RayRunner] = {}
        self._lock = threading.RLock()
        self._running: Execution | None = None
        self.scripts_run = 0
        """Scripts started so far: a catalog snapshot taken since then has this engine's changes."""

    @property
    def batch_rows(self) -> int:
        return self._services.batch_rows

    # -- public API -------------------------------------------------------------------------
    def mount(self, bucket: str, folder: str | os.PathLike[str]) -> None:
        """Map ``gs://bucket/...`` to a local folder; a workspace remembers it for later sessions."""
        self.buckets.mount(bucket, folder)
        self._remember_mounts()

    def query(
        self,
        sql: str,
        params: dict[str, Any] | None = None,
        *,
        progress_bar_type: str | None = None,
        max_results: int | None = None,
        maximum_bytes_billed: int | None = None,
        ray_address: str | None = None,
    ) -> pd.DataFrame:
        """Run a script; the last statement's rows (an empty frame for DDL).

        ``max_results``: keep the first N rows of the last query, and stop computing there.
        ``maximum_bytes_billed`` and ``ray_address``: see ``run_script``.
        """
        return self.run_script(
            sql,
            params,
            progress_bar_type=progress_bar_type,
            max_results=max_results,
            maximum_bytes_billed=maximum_bytes_billed,
            ray_address=ray_address,
        ).frame

    def run_script(
        self,
        sql: str,
        params: dict[str, Any] | None = None,
        *,
        progress_bar_type: str | None = None,
        max_results: int | None = None,
        maximum_bytes_billed: int | None = None,
        ray_address: str | None = None,
    ) -> ScriptResult:
        """Run every statement in order; stops at the first error, which is raised.

        ``maximum_bytes_billed``: refuse the script, before running any of it, when the objects of
        the object tables it reads add up to more bytes, as BigQuery refuses a query whose bytes
        billed would exceed it (docs/behaviour.md#bigquery-compatibility). ``ray_address``: the Ray
        cluster this script's image work runs on, in place of the engine's ``ray_address``.
        """
        if max_results is not None and max_results < 0:
            raise BQMLError(f"max_results must be 0 or more, not {max_results}")
        if maximum_bytes_billed is not None:
            self._refuse_over_bytes_billed(sql, params, maximum_bytes_billed)
        runner = self._runner(ray_address or self.ray_address)
        progress = Progress(progress_bar_type)
        result = ScriptResult()
        functions = TemporaryFunctions()  # CREATE TEMP FUNCTION's, for this script only
        with self._session():
            self.scripts_run += 1
            self._services.cancel.clear()
            try:
                statements = parse_script(sql)
                for number, statement in enumerate(statements, 1):
                    limit = max_results if number == len(statements) else None
                    options = StatementOptions(dict(params or {}), progress, limit, functions, runner)
                    result.statements.append(self._run(statement, options))
                    progress.close()  # this statement's bar ends as finished, whatever a later one does
            except BaseException as exc:
                progress.close(exc)  # ends red: where the work stopped, and why
                raise
            finally:
                functions.drop_all(self._services.con)
        return result

    def describe_model(self, name: str) -> ModelInfo:
        """A model's type, source, size and schema (features and labels)."""
        with self._session():
            return self._services.models.info(name_from_text(name, "Model"))

    def table_kind(self, name: str) -> RelationKind | None:
        """What ``dataset.name`` is (an object table, table, view or model), or None."""
        parsed = name_from_text(name)
        catalog = self._services.catalog
        with self._session():
            return catalog.kind(parsed) if catalog.has_dataset(parsed.dataset) else None

    def catalog_snapshot(self, *, wait: bool = True) -> CatalogSnapshot | None:
        """Every dataset, table (with its columns) and model (with its features) now, for completion.

        ``wait=False`` never waits: None while this engine runs a statement, a ``StorageError`` at
        once when another process holds the workspace.
        """
        if not self._lock.acquire(blocking=wait):
            return None
        try:
            with self._services.database.session(wait=None if wait else 0):
                return self._services.catalog.snapshot()
        finally:
            self._lock.release()

    def read_uri(self, uri: str) -> bytes:
        """An object's bytes, through the bucket mapping (for previews)."""
        return self._services.objects.read_any(uri)

    def dry_run(
        self, sql: str, params: dict[str, Any] | None = None, *, ray_address: str | None = None
    ) -> DryRunReport:
        """Check a script without running models or reading images; see ``dryrun.py``."""
        from bqml_magic.dryrun import dry_run

        runner = self._runner(ray_address or self.ray_address)
        with self._session():
            execution = Execution(self._services, StatementOptions(dict(params or {}), runner=runner))
            try:
                return dry_run(execution, sql)
            finally:
                execution.close()

    def interrupt(self) -> None:
        """Cancel the running statement (from another thread, e.g. a kernel interrupt)."""
        self._services.cancel.set()
        with contextlib.suppress(duckdb.Error):
            self._services.database.interrupt()
        running = self._running
        if running is not None:
            running.interrupt()

    def close(self) -> None:
        """Release the workspace and stop the engine's threads."""
        self._services.database.close()
        self._services.work.shutdown()

    # -- internals --------------------------------------------------------------------------
    def _runner(self, ray_address: str | None) -> RayRunner | None:
        """Where image work runs: None for this process; else the cluster's runner, made once."""
        if ray_address is None:
            return None
        key = (ray_address, self.ray_cpus_per_actor)
        if key not in self._runners:
            from bqml_magic.cluster.runner import RayRunner
            from bqml_magic.cluster.worker import StorageSettings

            services = self._services
            self._runners[key] = RayRunner(
                ray_address,
                lambda: StorageSettings.of(services.objects, services.budget),  # mounts as they are then
                services.cancel,
                batch_rows=services.batch_rows,
                cpus_per_actor=self.ray_cpus_per_actor,
                gpus_per_actor=0 if services.models.device.is_cpu else 1,
            )
        return self._runners[key]

    def _refuse_over_bytes_billed(self, sql: str, params: dict[str, Any] | None, limit: int) -> None:
        """The dry run's count of object bytes stands for bytes billed: nothing else is read from storage."""
        billed = sum(files["bytes"] for files in self.dry_run(sql, params).files.values())
        if billed > limit:
            raise LimitError(f"Query exceeded limit for bytes billed: {limit}. {billed} or higher required.")

    @contextlib.contextmanager
    def _session(self) -> Iterator[None]:
        """One public call at a time, on the open catalog (waiting for the workspace if need be)."""
        with self._lock, self._services.database.session():
            yield

    def _remount(self, given: set[str]) -> None:
        """Mount the buckets this workspace remembers, where the caller gave no folder of its own;
        a remembered folder that is gone is skipped (queries on it then say it is not mapped)."""
        if self._mounts is None:
            return
        for bucket, folder in self._mounts.load().items():
            if bucket not in given:
                with contextlib.suppress(StorageError):
                    self.buckets.mount(bucket, folder)

    def _remember_mounts(self) -> None:
        if self._mounts is not None:
            self._mounts.remember(self.buckets.buckets)

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
        except (duckdb.Error, OSError) as exc:
            if self._services.cancel.is_set() or isinstance(exc, duckdb.InterruptException):
                raise Cancelled("Query cancelled") from exc  # whatever a cut-off stream or cursor said
            if not isinstance(exc, duckdb.Error):
                # pyarrow reading a stream DuckDB failed raises a plain OSError, our ticket in its text
                relayed = self._services.relay.receive(exc)
                if relayed is None:
                    raise
                raise relayed from exc
            raise execution.error(exc, statement if isinstance(statement, exp.Expression) else None) from exc
        except RecursionError as exc:
            raise SQLError("The statement is nested too deeply to run (expressions, subqueries or views)") from exc
        except MemoryError as exc:
            raise LimitError("Out of memory: lower Engine(memory_budget=...) or the rows per batch") from exc
        finally:
            execution.close()
            self._running = None
        self._services.models.forget(result.folders_to_delete)
        return result


_NO_EXTENSIONS = ("autoinstall_known_extensions", "autoload_known_extensions")


def _database(workspace: Path | None, budget: MemoryBudget, cancel: threading.Event) -> Database:
    """A workspace's catalog, opened when used and shared in turns; else one in memory, always open."""
    if workspace is None:
        return Database(None, lambda: _connect(":memory:", None, budget), None, cancel)
    workspace.mkdir(parents=True, exist_ok=True)
    catalog_file = str(workspace / CATALOG_FILE)
    return Database(workspace, lambda: _connect(catalog_file, workspace, budget), WorkspaceLock(workspace), cancel)


def _connect(database: str, workspace: Path | None, budget: MemoryBudget) -> duckdb.DuckDBPyConnection:
    """The catalog's connection, locked down for user SQL: no file, network or extension access
    from SQL (objects are read by us, under the access policy), settings that SQL cannot change."""
    try:
        con = duckdb.connect(database, config=dict.fromkeys(_NO_EXTENSIONS, False))
    except duckdb.Error as exc:
        raise StorageError(
            f"Cannot open workspace {workspace}: another process is using it ({_first_line(exc)}). "
            "Close that kernel or engine, or use another workspace."
        ) from exc
    for setting in (
        "SET TimeZone = 'UTC'",
        f"SET memory_limit = '{budget.duckdb}B'",
        "SET enable_external_access = false",
        "SET lock_configuration = true",
    ):
        con.execute(setting).fetchall()
    return con


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
