"""Completion of SQL names in ``%%bqml`` cells, through the kernel's completer.

Every front end asks IPython for completions (JupyterLab and Notebook through ipykernel's
``complete_request``, the terminal on Tab), and IPython asks each registered matcher (its
matcher API v2). Ours answers only in the cells of our own cell magics: ``%%bqml``, and
``%%bigquery`` when the drop-in put ours in its place; there it offers datasets, tables,
columns, models, model features and ML.* functions (``suggest.py``) and hides Python's
completions, which are noise in SQL. Loading the extension imports nothing heavy: the
tokenizer and the engine come with the first completion in such a cell.
"""

from __future__ import annotations

from typing import Any

from IPython.core.completer import CompletionContext, SimpleCompletion, SimpleMatcherResult, context_matcher

from bqml_magic.completion.cell import magic_cell
from bqml_magic.completion.snapshots import SnapshotCache

_PACKAGE = __name__.partition(".")[0]
MATCHER_ID = "bqml_magic.sql_names"


def register(shell: Any) -> None:
    """Add the matcher to the shell's completer (once), and keep its catalog snapshot current after each cell."""
    completer = getattr(shell, "Completer", None)
    if completer is None or any(
        getattr(m, "matcher_identifier", None) == MATCHER_ID for m in completer.custom_matchers
    ):
        return
    snapshots = SnapshotCache()

    @context_matcher(identifier=MATCHER_ID)
    def sql_names(context: CompletionContext) -> SimpleMatcherResult:
        return complete_cell(shell, snapshots, context)

    completer.custom_matchers.append(sql_names)
    shell.events.register("post_run_cell", snapshots.after_cell)


def complete_cell(shell: Any, snapshots: SnapshotCache, context: CompletionContext) -> SimpleMatcherResult:
    """SQL names where the cursor is, in a cell of one of our cell magics; nothing elsewhere."""
    cell = magic_cell(context.full_text, context.cursor_line, context.cursor_position)
    if cell is None or not _is_ours(shell, cell.magic):
        return _result([], "")
    from bqml_magic.completion.suggest import complete_sql

    fragment, names = complete_sql(cell.body, cell.cursor, snapshots.latest, context.limit)
    return _result([SimpleCompletion(name.text, type=name.kind) for name in names], fragment)


def _result(completions: list[SimpleCompletion], fragment: str) -> SimpleMatcherResult:
    """Ours in the order given, in place of Python's. Every key is given: under Python 3.10, which
    mypy checks for, the TypedDict's optional keys read as required."""
    return SimpleMatcherResult(
        completions=completions, matched_fragment=fragment, suppress=True, do_not_suppress=set(), ordered=True
    )


def _is_ours(shell: Any, magic: str) -> bool:
    """Whether the shell's cell magic of this name is one of ours (the extension's, or a drop-in's)."""
    function = shell.magics_manager.magics["cell"].get(magic)
    return getattr(function, "__module__", "").partition(".")[0] == _PACKAGE
