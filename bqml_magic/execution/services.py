"""What every statement of an engine needs, built once when the engine starts."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import duckdb

from bqml_magic.catalog.catalog import Catalog
from bqml_magic.catalog.database import Database
from bqml_magic.catalog.models import ModelStore
from bqml_magic.execution.relay import FailureRelay
from bqml_magic.memory import MemoryBudget
from bqml_magic.storage.objects import ObjectStore


@dataclass(frozen=True)
class Services:
    """The engine's parts, shared by the statements it runs one at a time.

    ``database``: the catalog's DuckDB database, whose ``con`` (open while a statement runs)
    queries run on cursors of; ``pool``: the
    threads image work runs on, a row per task; ``lanes``: the threads models run on, a batch
    per task, ``workers`` of each (the machine's cores: rows and models keep every core busy
    between them); ``cancel``: set by an interrupt, checked between batches;
    ``relay``: carries exceptions across DuckDB; ``batch_rows``: rows per streamed batch;
    ``budget``: the bytes image work and DuckDB may hold.
    """

    database: Database
    catalog: Catalog
    models: ModelStore
    objects: ObjectStore
    pool: ThreadPoolExecutor
    lanes: ThreadPoolExecutor
    workers: int
    relay: FailureRelay
    cancel: threading.Event
    batch_rows: int
    budget: MemoryBudget

    @property
    def con(self) -> duckdb.DuckDBPyConnection:
        return self.database.con
