"""Where a statement's image work runs: in this process, or on a Ray cluster (``cluster/``).

DuckDB always runs here, on the driver: it lists objects, filters, joins, and reads what the
image work gives back. What it hands over is a ``Source``: its batches of the inner query's
rows (object references and the functions' arguments, never object bytes) and the plan of
the ML.* projections to compute from them. A runner turns a Source into rows, or, fused in
one pass, into an ML.PREDICT's predictions: a photo decoded for a model never travels.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Protocol

import pyarrow as pa

from bqml_magic.catalog.models import ModelStore
from bqml_magic.execution import lifted
from bqml_magic.execution.fanout import pipelined
from bqml_magic.execution.predict import Prediction
from bqml_magic.execution.rows import Rows
from bqml_magic.execution.services import ImageWork
from bqml_magic.runtimes.base import Runtime
from bqml_magic.sql.lift import LiftPlan
from bqml_magic.sql.names import Name


@dataclass
class Source:
    """DuckDB's batches and the image work still to do on them; ``schema``: the rows' columns once done."""

    batches: Iterator[pa.RecordBatch]
    plan: LiftPlan | None
    schema: pa.Schema


class ImageRunner(Protocol):
    """Runs image work; results in the order of the source's rows, whatever ran where."""

    def where(self) -> str:
        """Where the work runs, for a dry run's report."""
        ...

    def rows(self, source: Source) -> Iterator[Rows]:
        """The source's rows, lifted projections computed."""
        ...

    def predictions(
        self, source: Source, prediction: Prediction, models: ModelStore, model: Name
    ) -> Iterator[pa.RecordBatch]:
        """ML.PREDICT over the source's rows, one output batch per input batch."""
        ...


class InProcess:
    """Image work on this process's threads: rows on the pool, model batches on the lanes,
    the next batches under way while one finishes (docs/behaviour.md#ml-predict-throughput)."""

    def __init__(self, work: ImageWork):
        self.work = work

    def where(self) -> str:
        return f"in this process, on {self.work.workers} threads"

    def rows(self, source: Source) -> Iterator[Rows]:
        if source.plan is None:
            return map(Rows.of, source.batches)
        return lifted.evaluate(source.plan, source.batches, self.work)

    def predictions(
        self, source: Source, prediction: Prediction, models: ModelStore, model: Name
    ) -> Iterator[pa.RecordBatch]:
        return predict(self.work, self.rows(source), prediction, models.runtime(model))


def predict(
    work: ImageWork, rows: Iterator[Rows], prediction: Prediction, runtime: Runtime
) -> Iterator[pa.RecordBatch]:
    """Each batch of rows through the model on the lanes, up to ``work.workers`` batches at once, in order."""

    def start(batch: Rows) -> list[Future[pa.RecordBatch]]:
        return [work.lanes.submit(prediction.batch, runtime, batch)]

    inputs = (batch for batch in rows if batch.num_rows)
    for _, (predicted,) in pipelined(inputs, start, ahead=work.workers, cancel=work.cancel):
        yield predicted
