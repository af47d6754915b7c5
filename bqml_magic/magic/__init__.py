"""The ``%%bqml`` cell magic and the ``%bqml`` line magic.

Cell magic, with every option of ``%%bigquery`` (bigquery-magics)::

    %%bqml [destination_var] [options]
    SELECT ... / CREATE MODEL ... / a script of several statements separated by ;

The cell may also be ``$name``, a str variable holding the SQL, or only a table id
(``my_dataset.table``, ``project.dataset.table``, backticked), which lists the table's rows;
see ``cell.py``. ``%load_ext bqml_magic.bigquery`` also registers this magic as
``%%bigquery``, so a notebook written for BigQuery runs unedited (``bigquery.py``).

``destination_var``
    Keep the result (the last statement's rows) in this variable as a plain pandas DataFrame;
    with ``--dry_run`` the dry-run report. The cell shows the result either way.
``--params PARAMS``
    Values for ``@name`` query parameters: a JSON object or Python dict literal
    (``--params {"min_size": 1000}``), or ``$var`` naming a dict in the notebook, whose values
    are passed as they are. Must be the last option on the line.
``--dry_run``
    Check the script without running models or reading images: the SQL, the names, the
    files (count, bytes, formats, BigQuery's limits) and each model's input contract; print
    what it would do.
``--verbose``
    Errors with the full Python traceback (otherwise one short message), and the run time.
``--progress_bar_type {tqdm,tqdm_notebook,tqdm_gui,none}``
    Progress bar for image work and ``ML.PREDICT``; default ``context.progress_bar_type``.
``--max_results N``
    Keep and show only the first N rows; computing stops there (a preview of a long
    ``ML.PREDICT`` decodes and classifies only what it shows).
``--destination_table DATASET.TABLE``
    Also save the query's rows in this table, replacing it (the dataset is created when
    missing). The cell must be a single query, as in BigQuery.
``--maximum_bytes_billed BYTES``
    Refuse, before running anything, a script whose object tables' objects add up to more
    bytes, with BigQuery's error; ``None`` or ``0``: no limit.
``--pyformat``
    Fill ``{name}`` in the SQL with the notebook's str or number ``name``, unescaped (``{{`` and
    ``}}`` are braces); for what a query parameter cannot be, such as a table name.
``--workspace PATH``
    Use this workspace from now on (sets ``context.workspace``).
``--bucket NAME=FOLDER``
    Map ``gs://NAME`` to a local folder from now on (``context.mount``); repeatable.
``--ray_address ADDRESS``
    Run this cell's image work (object reads, ML.* image functions, ML.PREDICT) on the Ray
    cluster at ADDRESS (``auto``, ``ray://head:10001``, ``local``); default ``context.ray_address``.

``%%bigquery``'s flags for the cloud are accepted (``options.py`` says why each does what):

- ``--project PROJECT``, ``--location LOCATION``, ``--bigquery_api_endpoint URL``,
  ``--bqstorage_api_endpoint URL``, ``--use_rest_api``, ``--use_bqstorage_api``,
  ``--no_query_cache``, ``--graph``: no effect here; the cell runs, with one line saying so.
- ``--engine {pandas,bigframes}``: ``pandas``, the default, is what runs here; ``bigframes`` is refused.
- ``--use_legacy_sql``, ``--use_geodataframe COLUMN``: refused, with the reason; the cell runs nothing.

After a ``CREATE MODEL`` the cell shows the model's schema inspector.

Line magic::

    %bqml mount NAME=FOLDER [NAME=FOLDER ...]   map buckets to local folders (remembered by the
                                                workspace on this machine); alone: show them
    %bqml workspace [PATH]                      show or set the workspace
    %bqml model DATASET.MODEL                   the schema inspector of a model

Text in options and in the line magic expands ``$var`` and ``{expression}`` from the notebook,
as IPython does elsewhere: ``%bqml mount my_bucket={s.bucket}``.

Errors: a ``BQMLError`` shows as its message only; SQL users need what and where, not a
stack through DuckDB (``--verbose`` shows it). Ctrl-C / "Interrupt kernel" cancels the
running statement and leaves the kernel ready for the next cell.
"""

from __future__ import annotations

import ast
import contextvars
import json
import re
import threading
import time
from collections.abc import Callable
from typing import Any

from IPython.core.error import UsageError
from IPython.core.magic import Magics, cell_magic, line_magic, magics_class, no_var_expand
from IPython.core.magic_arguments import argument, magic_arguments, parse_argstring
from IPython.display import display
from IPython.utils.text import DollarFormatter

from bqml_magic.config import context
from bqml_magic.errors import BQMLError
from bqml_magic.magic.cell import cell_sql
from bqml_magic.magic.options import bytes_limit, cloud_flags, note_or_refuse

_PARAMS = re.compile(r"(?:^|\s)--params(?:\s+|=)(?P<value>\S.*)$")
_BAR_TYPES = ("tqdm", "tqdm_notebook", "tqdm_gui", "none")


@magics_class
class BQMLMagics(Magics):
    """Registered by ``%load_ext bqml_magic``."""

    @cell_magic("bqml")
    @no_var_expand
    @magic_arguments()
    @argument("destination_var", nargs="?", help="variable that receives the result DataFrame")
    @argument("--dry_run", action="store_true", help="check the script and say what it would do")
    @argument("--verbose", action="store_true", help="full tracebacks and the run time")
    @argument("--progress_bar_type", choices=_BAR_TYPES, help="progress bar for image work")
    @argument("--max_results", type=int, help="keep only the first N rows")
    @argument("--destination_table", help="save the query's rows in DATASET.TABLE")
    @argument("--workspace", help="use this workspace from now on")
    @argument("--bucket", action="append", default=[], metavar="NAME=FOLDER", help="map gs://NAME")
    @argument(
        "--params",
        metavar="PARAMS",
        help="values for @name parameters: JSON, a dict literal or $var; must be the last option",
    )
    @argument("--maximum_bytes_billed", metavar="BYTES", help="refuse a script whose objects exceed BYTES")
    @argument("--pyformat", action="store_true", help="fill {name} in the SQL from the notebook, unescaped")
    @argument("--ray_address", metavar="ADDRESS", help="run the image work on this Ray cluster")
    @cloud_flags
    def bqml(self, line: str, cell: str) -> None:
        """Run BigQuery SQL on this machine: one statement, or a script of statements separated by ``;``.

        The last statement's rows are shown with image previews and kept in ``destination_var`` as a
        pandas DataFrame; after CREATE MODEL the model's schema inspector is shown. Line magic:
        ``%bqml mount NAME=FOLDER``, ``%bqml workspace [PATH]``, ``%bqml model DATASET.MODEL``.
        """
        options, params = self._parse(line)
        self._guarded(options.verbose, lambda: self._run_cell(options, params, cell))

    @line_magic("bqml")  # type: ignore[arg-type]  # IPython's stubs type the decorated method as Never
    @no_var_expand
    def bqml_line(self, line: str) -> Any:
        """``%bqml mount NAME=FOLDER``, ``%bqml workspace [PATH]``, ``%bqml model NAME``."""
        command, _, rest = self._expand(line).strip().partition(" ")
        commands: dict[str, Callable[[str], Any]] = {
            "mount": self._mount,
            "workspace": self._workspace,
            "model": self._model,
        }
        if command not in commands:
            raise UsageError("Use %bqml mount NAME=FOLDER, %bqml workspace [PATH] or %bqml model NAME")
        return self._guarded(False, lambda: commands[command](rest.strip()))

    @property
    def _namespace(self) -> dict[str, Any]:
        """The notebook's variables (a magic is always bound to a shell)."""
        assert self.shell is not None
        return self.shell.user_ns

    # -- line commands ----------------------------------------------------------------------
    def _mount(self, rest: str) -> None:
        """Map buckets; with no pairs, show the mapping (a workspace's is remembered across restarts)."""
        for pair in rest.split():
            context.mount(*_bucket_pair(pair))
        if not rest:
            buckets = context.engine().buckets.buckets
            for bucket, folder in sorted(buckets.items()):
                print(f"gs://{bucket} -> {folder}")
            if not buckets:
                print("No bucket is mounted: %bqml mount NAME=FOLDER maps gs://NAME to a local folder")

    def _workspace(self, rest: str) -> None:
        if rest:
            context.workspace = rest
        print(f"workspace: {context.workspace if context.workspace is not None else '(in memory)'}")

    def _model(self, rest: str) -> Any:
        from bqml_magic.display.schema import SchemaInspector

        if not rest:
            raise UsageError("%bqml model DATASET.MODEL")
        return SchemaInspector(context.engine().describe_model(rest))

    # -- the cell ---------------------------------------------------------------------------
    def _parse(self, line: str) -> tuple[Any, dict[str, Any] | None]:
        """Options, and ``--params`` apart: a dict literal is not a shell word."""
        params = None
        found = _PARAMS.search(line)
        if found:
            params = self._params(found.group("value").strip())
            line = line[: found.start()]
        return parse_argstring(self.bqml, self._expand(line)), params

    def _params(self, text: str) -> dict[str, Any]:
        if re.fullmatch(r"\$[A-Za-z_]\w*", text):
            name = text[1:]
            if name not in self._namespace:
                raise UsageError(f"--params: there is no variable {name!r}")
            value = self._namespace[name]
        else:
            value = _literal(self._expand(text))
        if not isinstance(value, dict):
            raise UsageError(f"--params must be a dict of parameter values, not {type(value).__name__}")
        return value

    def _run_cell(self, options: Any, params: dict[str, Any] | None, sql: str) -> None:
        from bqml_magic.display import in_kernel
        from bqml_magic.display.results import ResultView
        from bqml_magic.display.schema import SchemaInspector
        from bqml_magic.sql.kinds import StatementKind

        note = note_or_refuse(options)
        limit = bytes_limit(options.maximum_bytes_billed)
        sql = cell_sql(sql, self._namespace, pyformat=options.pyformat)
        if note:
            print(note)
        if options.workspace:
            context.workspace = options.workspace
        for pair in options.bucket:
            context.mount(*_bucket_pair(pair))
        engine = context.engine()
        if options.dry_run:
            report = _interruptible(
                lambda: engine.dry_run(sql, params, ray_address=options.ray_address), engine.interrupt
            )
            print(report.summary())
            self._store(options.destination_var, report)
            return
        if options.destination_table:
            sql = _saving_script(sql, options.destination_table)
        bar = options.progress_bar_type or context.progress_bar_type
        bar = None if bar == "none" else "tqdm" if bar == "tqdm_notebook" and not in_kernel() else bar
        started = time.perf_counter()
        result = _interruptible(
            lambda: engine.run_script(
                sql,
                params,
                progress_bar_type=bar,
                max_results=options.max_results,
                maximum_bytes_billed=limit,
                ray_address=options.ray_address,
            ),
            engine.interrupt,
        )
        if options.verbose:
            print(f"Query complete after {time.perf_counter() - started:.2f}s")
        for statement in result.statements:
            if statement.kind is StatementKind.CREATE_MODEL and statement.target:
                display(SchemaInspector(engine.describe_model(statement.target)))
            elif statement.kind is not StatementKind.QUERY:
                print(f"{statement.kind.value} {statement.target or ''}".rstrip() + ": OK")
        if not result.statements or result.statements[-1].kind is not StatementKind.QUERY:
            return
        frame = result.frame
        self._store(options.destination_var, frame)
        display(ResultView(frame, engine.read_uri, context.max_rows, context.thumbnail_px, context.array_items))

    def _store(self, name: str | None, value: Any) -> None:
        if name:
            if not name.isidentifier():
                raise UsageError(f"{name!r} is not a valid variable name")
            self._namespace[name] = value

    def _guarded(self, verbose: bool, run: Callable[[], Any]) -> Any:
        """BQMLError: its message only; Ctrl-C: cancel the engine's work, say so briefly."""
        try:
            return run()
        except BQMLError as exc:
            if not verbose:
                _shorten(exc, f"{type(exc).__name__}: {exc}")
            raise
        except KeyboardInterrupt as exc:
            if not verbose:
                _shorten(exc, "Interrupted: the statement was cancelled; the kernel is ready.")
            raise

    def _expand(self, text: str) -> str:
        """``$var`` / ``{expr}`` from the notebook, like IPython's own expansion of magic lines."""
        try:
            return DollarFormatter().vformat(text, args=[], kwargs=self._namespace)
        except Exception:  # IPython leaves text it cannot expand as written; so do we
            return text


def _interruptible(work: Callable[[], Any], cancel: Callable[[], None]) -> Any:
    """Run ``work`` in a thread so Ctrl-C reaches us at once, not when DuckDB returns.

    A signal only interrupts the main thread between Python bytecodes; while DuckDB computes,
    that can be minutes. Waiting on a future is interruptible: we cancel the engine, wait
    for it to stop, and re-raise, leaving the engine ready for the next cell. The thread runs
    in a copy of our context, so the kernel routes its output (progress bars) to this cell.
    """
    outcome: dict[str, Any] = {}
    cell = contextvars.copy_context()

    def target() -> None:
        try:
            outcome["value"] = cell.run(work)
        except BaseException as exc:  # handed to the main thread, raised there
            outcome["error"] = exc

    thread = threading.Thread(target=target, name="bqml-cell", daemon=True)
    thread.start()
    try:
        thread.join()
    except KeyboardInterrupt:
        cancel()
        while thread.is_alive():  # a second Ctrl-C must not leave the engine running unseen
            try:
                thread.join()
            except KeyboardInterrupt:
                cancel()
        raise
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


def _shorten(exc: BaseException, message: str) -> None:
    """IPython shows ``_render_traceback_()`` instead of the stack; the cell still fails."""
    exc._render_traceback_ = lambda: [message]  # type: ignore[attr-defined]


def _literal(text: str) -> Any:
    """A JSON object, else a Python literal (what ``$dict`` expansion gives in %%bigquery)."""
    try:
        return json.loads(text)
    except ValueError:
        pass
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError) as exc:
        raise UsageError(f"--params is neither JSON nor a Python dict literal: {text}") from exc


def _bucket_pair(pair: str) -> tuple[str, str]:
    name, sep, folder = pair.partition("=")
    if not sep or not name or not folder:
        raise UsageError(f"Expected NAME=FOLDER, got {pair!r}")
    return name, folder


def _saving_script(sql: str, table: str) -> str:
    """``--destination_table``: the one query saved in the table, then read back in order.

    The script is built as sqlglot trees, so the table name is quoted, never spliced as text.
    """
    from sqlglot import exp

    from bqml_magic.sql.kinds import StatementKind, statement_kind
    from bqml_magic.sql.names import name_from_text
    from bqml_magic.sql.parse import parse_script

    statements = parse_script(sql)
    if len(statements) != 1 or statement_kind(statements[0]) is not StatementKind.QUERY:
        raise UsageError("--destination_table needs a cell that is one query (BigQuery refuses it for scripts)")
    try:
        target = name_from_text(table)
    except BQMLError as exc:
        raise UsageError(f"--destination_table: expected DATASET.TABLE, got {table!r}") from exc
    name = target.to_table()
    dataset = exp.to_identifier(target.dataset, quoted=True)
    query = statements[0]
    assert isinstance(query, exp.Query)  # a QUERY statement
    script = [
        exp.Create(this=exp.Table(this=dataset), kind="SCHEMA", exists=True),
        exp.Create(this=name.copy(), kind="TABLE", replace=True, expression=query.subquery()),
        exp.select("*").from_(name.copy()),
    ]
    return ";\n".join(s.sql("bigquery") for s in script)
