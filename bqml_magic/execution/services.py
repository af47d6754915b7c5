"""What every statement of an engine needs, built once when the engine starts."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import duckdb

from bqml_magic.catalog.catalog import Catalog
from bqml_magic.catalog.database import Database
from bqml_magic.catalog.models import ModelStore
from bqml_magic.catalog.vector_indexes import VectorIndexes
from bqml_magic.execution.relay import FailureRelay
from bqml_magic.memory import MemoryBudget, PixelPool
from bqml_magic.storage.objects import ObjectStore


@dataclass(frozen=True)
class ImageWork:
    """What image work needs, and nothing of the catalog: an engine has one, and so has each
    process of a Ray cluster that runs image work for it (``cluster/worker.py``).

    ``pool``: the threads rows run on, a row per task; ``lanes``: the threads models run on, a
    batch per task, ``workers`` of each (the cores: rows and models keep every core busy between
    them); ``objects``: where object bytes come from; ``pixels``: the image share of the memory
    budget; ``cancel``: set by an interrupt, checked between batches.
    """

    pool: ThreadPoolExecutor
    lanes: ThreadPoolExecutor
    workers: int
    objects: ObjectStore
    pixels: PixelPool
    cancel: threading.Event

    @classmethod
    def start(cls, workers: int, objects: ObjectStore, pixels: PixelPool, cancel: threading.Event) -> ImageWork:
        return cls(
            ThreadPoolExecutor(max_workers=workers, thread_name_prefix="bqml"),
            ThreadPoolExecutor(max_workers=workers, thread_name_prefix="bqml-model"),
            workers,
            objects,
            pixels,
            cancel,
        )

    def shutdown(self) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)
        self.lanes.shutdown(wait=False, cancel_futures=True)


@dataclass(frozen=True)
class Services:
    """The engine's parts, shared by the statements it runs one at a time.

    ``database``: the catalog's DuckDB database, whose ``con`` (open while a statement runs)
    queries run on cursors of; ``work``: what image work in this process needs;
    ``relay``: carries exceptions across DuckDB; ``batch_rows``: rows per streamed batch;
    ``budget``: the bytes image work and DuckDB may hold.
    """

    database: Database
    catalog: Catalog
    models: ModelStore
    vector_indexes: VectorIndexes
    work: ImageWork
    relay: FailureRelay
    batch_rows: int
    budget: MemoryBudget

    @property
    def con(self) -> duckdb.DuckDBPyConnection:
        return self.database.con

    @property
    def objects(self) -> ObjectStore:
        return self.work.objects

    @property
    def cancel(self) -> threading.Event:
        return self.work.cancel
