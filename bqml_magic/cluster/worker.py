"""What runs in the cluster's worker processes: an actor that does one query's image work.

A worker has no workspace and no catalog. It gets the engine's storage settings (bucket
mapping, allowed roots, store options, memory budget), the plan of what to compute, and for
ML.PREDICT the model's frozen copy through Ray's object store, and runs the very code the
engine runs in-process (``execution/placement.py``), so the numbers and the errors are the same.
"""

from __future__ import annotations

import shutil
import socket
import tempfile
import threading
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa

from bqml_magic.execution.placement import InProcess, Source, predict
from bqml_magic.execution.predict import Prediction
from bqml_magic.execution.services import ImageWork
from bqml_magic.memory import MemoryBudget
from bqml_magic.runtimes.base import Runtime
from bqml_magic.runtimes.devices import Device
from bqml_magic.sql.lift import LiftPlan
from bqml_magic.storage.cache import ContentCache
from bqml_magic.storage.objects import ObjectStore
from bqml_magic.storage.remote import RemoteStores
from bqml_magic.storage.uris import BucketMap


@dataclass(frozen=True)
class StorageSettings:
    """An engine's object access as plain values a worker can rebuild it from."""

    buckets: dict[str, str]
    local_roots: tuple[str, ...]
    remote: tuple[str, ...]
    storage_options: dict[str, dict[str, Any]]
    cache_dir: str | None
    cache_bytes: int
    memory_budget: int

    @classmethod
    def of(cls, objects: ObjectStore, budget: MemoryBudget) -> StorageSettings:
        cache = objects.cache
        return cls(
            {bucket: str(folder) for bucket, folder in objects.buckets.buckets.items()},
            objects.buckets.local_roots,
            tuple(sorted(objects.buckets.remote)),
            objects.stores.options,
            str(cache.folder) if cache is not None else None,
            cache.max_bytes if cache is not None else 0,
            budget.total,
        )

    def image_work(self, threads: int) -> ImageWork:
        """This node's way to the same objects, under the same memory budget."""
        cancel = threading.Event()
        budget = MemoryBudget.of(self.memory_budget, cancel)
        buckets = BucketMap.seen_from(node_name(), self.buckets, self.local_roots, self.remote)
        cache = ContentCache(self.cache_dir, self.cache_bytes) if self.cache_dir and self.cache_bytes else None
        objects = ObjectStore(buckets, RemoteStores(self.storage_options), cache, read_ahead_bytes=budget.reads)
        return ImageWork.start(threads, objects, budget.pixels, cancel)


@dataclass(frozen=True)
class FrozenModel:
    """A model's frozen copy as its files (``files``: a Ray reference to ``{relative path: bytes}``)."""

    model_type: str
    key: str
    """Unique to the frozen copy: a node unpacks it once, whatever the number of actors."""
    files: Any
    device: Device

    def load(self) -> Runtime:
        import ray

        from bqml_magic.runtimes.registry import load_model

        folder = Path(tempfile.gettempdir()) / "bqml_magic-models" / self.key
        if not folder.is_dir():
            staging = folder.with_name(f".{self.key}-{uuid.uuid4().hex}")
            for relative, data in ray.get(self.files).items():
                target = staging / relative
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(data)
            try:
                staging.rename(folder)  # whole or not at all; another actor of the node may have won
            except OSError:
                shutil.rmtree(staging, ignore_errors=True)
        return load_model(self.model_type, folder, self.device)


def frozen_files(folder: Path) -> dict[str, bytes]:
    """A frozen copy's regular files by path relative to its folder."""
    return {path.relative_to(folder).as_posix(): path.read_bytes() for path in folder.rglob("*") if path.is_file()}


@dataclass(frozen=True)
class Job:
    """One query's image work: rows computed by ``plan`` (``schema``: the rows out), then, for an
    ML.PREDICT, ``prediction`` by ``model``."""

    storage: StorageSettings
    threads: int
    plan: LiftPlan | None
    schema: pa.Schema
    prediction: Prediction | None = None
    model: FrozenModel | None = None

    @property
    def output_schema(self) -> pa.Schema:
        return self.prediction.schema if self.prediction is not None else self.schema


class ImageActor:
    """Ray Data's callable for ``map_batches``: one per actor, the model loaded once."""

    def __init__(self, job: Job):
        self.job = job
        self.work = job.storage.image_work(job.threads)
        self.runtime = job.model.load() if job.model is not None else None

    def __call__(self, block: pa.Table) -> pa.Table:
        job = self.job
        rows = InProcess(self.work).rows(Source(iter(block.to_batches()), job.plan, job.schema))
        if job.prediction is None:
            batches = [r.to_batch(job.schema) for r in rows]
        else:
            assert self.runtime is not None  # a Job with a prediction has a model
            batches = list(predict(self.work, rows, job.prediction, self.runtime))
        return pa.Table.from_batches(batches, schema=job.output_schema)


def node_name() -> str:
    """How an error names this node: its Ray address, and its host name where that says more."""
    import ray

    address, host = ray.util.get_node_ip_address(), socket.gethostname()
    return address if host in (address, "localhost") else f"{address} ({host})"
