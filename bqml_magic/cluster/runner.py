"""The driver's half of running image work on a Ray cluster, as an ``ImageRunner``.

DuckDB's rows go to the object store in blocks of a model batch or so, a Ray Data actor pool
maps them (``worker.ImageActor``), and the results come back in order. Ray Data brings the
streaming, the backpressure and the fault tolerance: its actors restart and their tasks are
retried when a worker process or a node dies, and a row that fails the same way anywhere fails
the query with the error the engine would raise in-process.
"""

from __future__ import annotations

import math
import queue
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pyarrow as pa

from bqml_magic.catalog.models import ModelStore
from bqml_magic.cluster.connection import ray_cluster
from bqml_magic.cluster.worker import FrozenModel, ImageActor, Job, StorageSettings, frozen_files
from bqml_magic.errors import BQMLError, Cancelled
from bqml_magic.execution.placement import Source
from bqml_magic.execution.predict import Prediction
from bqml_magic.execution.rows import Rows
from bqml_magic.runtimes.base import batch_limit
from bqml_magic.sql.names import Name

POLL_SECONDS = 0.1
_DONE = object()


class RayRunner:
    """Image work on the cluster at ``address``, objects read as ``storage()`` says at the time:
    ``cpus_per_actor`` CPUs (and threads) per actor, as many actors as the cluster has room for;
    ``batch_rows`` rows per block, rounded up to a whole number of model batches;
    ``gpus_per_actor`` where models run on a GPU."""

    def __init__(
        self,
        address: str,
        storage: Callable[[], StorageSettings],
        cancel: threading.Event,
        *,
        batch_rows: int,
        cpus_per_actor: float = 1,
        gpus_per_actor: float = 0,
    ):
        if cpus_per_actor <= 0:
            raise BQMLError(f"ray_cpus_per_actor must be more than 0, not {cpus_per_actor}")
        self.address = address
        self.storage = storage
        self.cancel = cancel
        self.batch_rows = batch_rows
        self.cpus_per_actor = cpus_per_actor
        self.gpus_per_actor = gpus_per_actor
        self._models: dict[Path, FrozenModel] = {}

    def where(self) -> str:
        return (
            f"on the Ray cluster at {self.address!r} ({self.cpus_per_actor:g} CPU per actor): object reads, "
            "ML.* image functions and ML.PREDICT; DuckDB in this process"
        )

    def rows(self, source: Source) -> Iterator[Rows]:
        if source.plan is None:  # nothing to compute: DuckDB's rows are the result
            return map(Rows.of, source.batches)
        job = Job(self.storage(), self._threads(), source.plan, source.schema)
        return map(Rows.of, self._run(job, source, self.batch_rows))

    def predictions(
        self, source: Source, prediction: Prediction, models: ModelStore, model: Name
    ) -> Iterator[pa.RecordBatch]:
        ray = ray_cluster(self.address)
        frozen = self._frozen(ray, models, model)
        job = Job(self.storage(), self._threads(), source.plan, source.schema, prediction, frozen)
        step = batch_limit(prediction.model_schema.features) or 1
        return self._run(job, source, math.ceil(self.batch_rows / step) * step)

    # -- internals ------------------------------------------------------------------------
    def _threads(self) -> int:
        return max(1, math.floor(self.cpus_per_actor))

    def _frozen(self, ray: ModuleType, models: ModelStore, model: Name) -> FrozenModel:
        """The frozen copy in the object store, put once per copy while this engine lives."""
        model_type, folder = models.frozen_copy(model)
        if folder not in self._models:
            for gone in [f for f in self._models if not f.is_dir()]:  # replaced or dropped
                del self._models[gone]
            key = f"{folder.parent.name}-{folder.name}"
            self._models[folder] = FrozenModel(model_type, key, ray.put(frozen_files(folder)), models.device)
        return self._models[folder]

    def _run(self, job: Job, source: Source, block_rows: int) -> Iterator[pa.RecordBatch]:
        ray = ray_cluster(self.address)
        blocks = list(_blocks(source.batches, block_rows))  # references and arguments: small
        if not blocks:
            return
        dataset = ray.data.from_blocks(blocks).map_batches(  # block metadata taken here, not by cluster tasks
            ImageActor,
            fn_constructor_args=(job,),
            batch_size=block_rows,
            batch_format="pyarrow",
            compute=ray.data.ActorPoolStrategy(size=self._actors(ray)),
            num_cpus=self.cpus_per_actor,
            num_gpus=self.gpus_per_actor or None,
        )
        del blocks  # in the object store now
        context = dataset.context
        context.execution_options.preserve_order = True  # the rows' order is the query's
        context.enable_progress_bars = False  # the %%bqml bar follows the rows coming back
        context.print_on_execution_start = False
        context.raise_original_map_exception = True  # a worker's BQMLError, not Ray Data's UserCodeException
        yield from _streamed(dataset, job.output_schema, self.cancel)

    def _actors(self, ray: ModuleType) -> int:
        cpus = ray.cluster_resources().get("CPU", 0)
        if cpus < self.cpus_per_actor:
            raise BQMLError(
                f"The Ray cluster at {self.address!r} has {cpus:g} CPUs; an actor needs {self.cpus_per_actor:g} "
                "(ray_cpus_per_actor)"
            )
        return max(1, math.floor(cpus / self.cpus_per_actor))


def _blocks(batches: Iterator[pa.RecordBatch], rows: int) -> Iterator[pa.Table]:
    """DuckDB's batches regrouped into tables of ``rows`` rows (the last one shorter)."""
    pending: list[pa.RecordBatch] = []
    held = 0
    for batch in batches:
        pending.append(batch)
        held += batch.num_rows
        while held >= rows:
            table = pa.Table.from_batches(pending).combine_chunks()
            yield table.slice(0, rows)
            rest = table.slice(rows)
            pending, held = rest.to_batches(), rest.num_rows
    if held:
        yield pa.Table.from_batches(pending).combine_chunks()


def _streamed(dataset: Any, schema: pa.Schema, cancel: threading.Event) -> Iterator[pa.RecordBatch]:
    """The dataset's batches as they come; an interrupt returns at once, and the job stops with
    its next batch (Ray Data shuts its actors down when the iteration closes)."""
    results: queue.Queue[Any] = queue.Queue(maxsize=2)
    stop = threading.Event()

    def pull() -> None:
        try:
            for table in dataset.iter_batches(batch_size=None, batch_format="pyarrow"):
                while not stop.is_set():
                    try:
                        results.put(table, timeout=POLL_SECONDS)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            results.put(_DONE)
        except BaseException as exc:  # handed to the reader, raised there
            results.put(exc)

    puller = threading.Thread(target=pull, name="bqml-ray-results", daemon=True)
    puller.start()
    try:
        while True:
            try:
                item = results.get(timeout=POLL_SECONDS)
            except queue.Empty:
                if cancel.is_set():
                    raise Cancelled("Query cancelled") from None
                continue
            if item is _DONE:
                return
            if isinstance(item, BaseException):
                raise _user_error(item) from item
            yield from item.cast(schema).to_batches()
    finally:
        stop.set()


def _user_error(exc: BaseException) -> BaseException:
    """The BQMLError a worker raised, as itself (Ray wraps it, maybe twice); else a BQMLError
    saying the cluster failed, the cause chained."""
    seen: set[int] = set()
    pending: list[BaseException | None] = [exc]
    while pending:
        current = pending.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        cause = getattr(current, "cause", None)
        if isinstance(cause, BaseException):  # Ray's wrapper, which may also subclass the error it wraps
            pending.append(cause)
        elif isinstance(current, BQMLError):
            return current
        else:
            pending.extend([current.__cause__, current.__context__])
    return BQMLError(f"The Ray cluster failed to run the image work: {type(exc).__name__}: {exc}")
