"""Defaults for the ``%%bqml`` magic, kept in one module singleton, ``context``::

    from bqml_magic import context

Like ``%%bigquery``'s ``context``: set a value once in a notebook and every later cell uses
it; a cell's own flags (``--progress_bar_type``, ``--workspace``, ``--bucket``) override or
update it. Importing this module imports nothing heavy: the engine (DuckDB, sqlglot) is
created on the first query, not at ``%load_ext``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bqml_magic.engine import Engine


@dataclass
class Context:
    """Settings shared by every ``%%bqml`` cell of a session."""

    workspace: str | os.PathLike | None = ".bqml"
    """Folder that holds the catalog (datasets, tables, models) and frozen model copies.

    Like a BigQuery project, what a notebook creates is still there after a kernel restart.
    Relative paths are resolved against the current directory when the engine starts.
    ``None`` keeps everything in memory, gone with the kernel. Only one process can use a
    workspace at a time.

    Example::

        context.workspace = "/tmp/bqml_demo"   # or: %bqml workspace /tmp/bqml_demo
    """

    buckets: dict[str, str] = field(default_factory=dict)
    """Local folder behind each ``gs://`` bucket, so the same SQL runs here and in BigQuery.

    Prefer :meth:`mount`, which also updates a running engine.

    Example::

        context.mount("my_bucket", "/data/photos")   # or: %bqml mount my_bucket=/data/photos
        # gs://my_bucket/cats/1.jpg now reads /data/photos/cats/1.jpg
    """

    local_roots: list[str] = field(default_factory=list)
    """Local folders whose files SQL may read by plain path or ``file:///`` URI (``uris``, ``model_path``).

    Empty by default: BigQuery SQL names files by ``gs://`` URI, and a bucket mapping is your
    consent to a folder, so SQL written elsewhere cannot read ``~/.ssh`` or ``/proc``. Read when
    the engine starts: set it before the first query, or call :meth:`close` after changing it.

    Example::

        context.local_roots = ["/data/photos"]
        # uris = ['/data/photos/*'] and model_path = 'file:///data/photos/m.onnx' now work
    """

    memory_budget: int | str | None = None
    """Bytes (or ``'4GB'``, ``'512MiB'``) that DuckDB and image work may hold together.

    ``None``: a quarter of the machine's memory, at most 4 GiB. Big images wait for each other
    within it, and one that could never fit is refused with an error instead of exhausting the
    machine. Read when the engine starts, like ``local_roots``.

    Example::

        context.memory_budget = "8GB"
    """

    storage_options: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Options for each object store's filesystem, by protocol: credentials, project, endpoint.

    Unmapped ``gs://`` URIs read Cloud Storage through gcsfs and ``s3://`` URIs read S3 through
    s3fs, each with its library's own credential chain unless given here. Another fsspec
    protocol (``az://``, ...) is read once it has options here (its package installed). Read
    when the engine starts, like ``local_roots``.

    Example::

        context.storage_options = {"gs": {"project": "my-project", "token": "/path/key.json"},
                                   "s3": {"profile": "research"}}
    """

    cache_dir: str | os.PathLike | None = None
    """Folder of the local copies of objects read from stores (``None``: ``~/.cache/bqml_magic/objects``).

    A copy is keyed by the object's URI and generation: a re-run reads nothing twice, a
    rewritten object is fetched again. Read when the engine starts.
    """

    cache_size: int | str = "10GB"
    """Bytes the object cache may hold (least recently used first out); ``0`` turns it off.

    Example::

        context.cache_size = "50GB"
    """

    device: str = "cpu"
    """Where models run: ``'cpu'`` (BigQuery's numbers, to the last bit) or a GPU the installed
    runtime offers: ``'cuda'``, ``'cuda:1'``, ``'rocm'``... (ONNX Runtime's providers; TensorFlow's
    GPUs). A device the runtime lacks is an error saying what to install. Read when the engine
    starts, like ``local_roots``.

    Example::

        context.device = "cuda"
    """

    ray_address: str | None = None
    """The Ray cluster image work runs on (object reads, ML.* image functions, ML.PREDICT):
    anything ``ray.init(address=...)`` takes, ``'auto'``, ``'ray://head:10001'``, ``'local'``.
    ``None`` runs it in the kernel, Ray never imported. DuckDB always runs in the kernel. A
    cell's ``--ray_address`` overrides it (docs/behaviour.md#ray).

    Example::

        context.ray_address = "auto"   # or: %%bqml --ray_address auto
    """

    ray_cpus_per_actor: float = 1
    """CPUs (and threads) each actor of the Ray cluster takes; as many actors run as the
    cluster has CPUs for.
    """

    progress_bar_type: str | None = "tqdm_notebook"
    """Progress bar for long image work and ``ML.PREDICT``, as in ``%%bigquery``.

    ``'tqdm'`` (text), ``'tqdm_notebook'`` (a widget; outside a Jupyter kernel it falls back
    to ``'tqdm'``), ``'tqdm_gui'``, or ``None`` for no bar. A cell's ``--progress_bar_type``
    overrides it.

    Example::

        context.progress_bar_type = None
    """

    max_rows: int = 20
    """Rows a result shows; the cell says how many more there are, above and below the table.
    Twenty rows of previews fill a few screens and keep a saved notebook small; the DataFrame
    stored in ``destination_var`` always holds every row.

    Example::

        context.max_rows = 10
    """

    thumbnail_px: int = 96
    """Longest side, in pixels, of the image previews in results, and the width of their columns.
    Previews are encoded at this size, so a larger one also makes a saved notebook larger.

    Example::

        context.thumbnail_px = 160
    """

    array_items: int = 5
    """Items an array cell shows before it is shortened: ``[0.01, 0.02, … 1001 items]``.

    Example::

        context.array_items = 3
    """

    _engine: Engine | None = field(default=None, init=False, repr=False, compare=False)
    _engine_workspace: Path | None = field(default=None, init=False, repr=False, compare=False)

    def mount(self, bucket: str, folder: str | os.PathLike) -> None:
        """Map ``gs://bucket/...`` to ``folder``, for this session's engine and later ones."""
        if self._engine is not None:
            self._engine.mount(bucket, folder)  # checks the folder before we keep it
        self.buckets[bucket] = str(folder)

    def engine(self) -> Engine:
        """The session's engine, created on first use and again when ``workspace`` changes.

        The previous engine is closed, which releases its workspace for other processes.
        """
        from bqml_magic.engine import Engine

        workspace = None if self.workspace is None else Path(self.workspace).expanduser().resolve()
        if self._engine is None or workspace != self._engine_workspace:
            self.close()
            self._engine = Engine(
                workspace=workspace,
                buckets=self.buckets,
                local_roots=self.local_roots,
                memory_budget=self.memory_budget,
                storage_options=self.storage_options,
                cache_dir=self.cache_dir,
                cache_size=self.cache_size,
                device=self.device,
            )
            self._engine_workspace = workspace
        else:
            for bucket, folder in self.buckets.items():  # assignments to .buckets, not mount()
                self._engine.mount(bucket, folder)
        self._engine.ray_address = self.ray_address  # read at each query: no restart needed
        self._engine.ray_cpus_per_actor = self.ray_cpus_per_actor
        return self._engine

    def started_engine(self) -> Engine | None:
        """The session's engine if it has started; never starts one (completion asks on every key press)."""
        return self._engine

    def close(self) -> None:
        """Close the session's engine (the next query starts a new one)."""
        if self._engine is not None:
            self._engine.close()
            self._engine = None
            self._engine_workspace = None


context = Context()
