"""Progress bars for long ML work, named like %%bigquery's ``progress_bar_type``.

A bar appears with the first rows done, never before: a statement that fails its checks or
its first batch shows its error alone, not a bar that flashes and dies. A notebook bar ends
as a line of text ("ML.PREDICT d.m: 160 rows in 1.8 s", or where it stopped, in red) put in
the widget's place, so a saved notebook holds that line rather than a widget whose state was
not saved (docs/behaviour.md#saved-notebooks). Text bars keep tqdm's own last line.
"""

from __future__ import annotations

import contextvars
import html
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # tqdm and IPython are imported only when a bar is shown
    from IPython.display import DisplayHandle
    from tqdm.std import tqdm as Bar

BAR_TYPES = ("tqdm", "tqdm_notebook", "tqdm_gui")


@dataclass
class _Work:
    """What a bar counts, from ``start``: the clock runs from there, the first batch included."""

    description: str
    total: int | None
    started: float = field(default_factory=time.perf_counter)
    cell: contextvars.Context = field(default_factory=contextvars.copy_context)
    """Where ``start`` ran: the bar opens in it, so the kernel shows it in the running cell even
    when the first rows are counted on one of DuckDB's threads."""


@dataclass(frozen=True)
class _Shown:
    """A notebook bar's display, and tqdm's widget in it."""

    handle: DisplayHandle
    widget: Any

    def replace(self, summary: Summary) -> None:
        """The summary line in the widget's place; the widget's models closed in the kernel."""
        self.handle.update(summary)
        _close(self.widget)


def _close(widget: Any) -> None:
    """A widget, its children and their layout and style models: a finished bar leaves no model
    open in the kernel or the front end (a tqdm bar is 8 of them)."""
    for child in getattr(widget, "children", ()):
        _close(child)
    for part in ("layout", "style"):
        model = getattr(widget, part, None)
        if model is not None:
            model.close()
    widget.close()


class Progress:
    """A tqdm bar for work of a known size; silent for ``None``."""

    def __init__(self, bar_type: str | None):
        if bar_type not in (None, "none", *BAR_TYPES):
            from bqml_magic.errors import BQMLError

            raise BQMLError(f"Unknown progress_bar_type {bar_type!r}; use one of {', '.join(BAR_TYPES)} or None")
        self.bar_type = None if bar_type == "none" else bar_type
        self._work: _Work | None = None
        self._bar: Bar[Any] | None = None
        self._shown: _Shown | None = None
        self._lock = threading.Lock()  # rows are counted on DuckDB's threads, the bar closed on the caller's

    def start(self, total: int | None, description: str) -> None:
        """Work of ``total`` rows begins (None: unknown); its bar waits for the first rows."""
        if self.bar_type is None:
            return
        self.close()
        with self._lock:
            self._work = _Work(description, total)

    def update(self, rows: int) -> None:
        """``rows`` more are done; the first call opens the bar. It stops at its total: under a
        LIMIT, DuckDB may take a batch more than the rows it keeps."""
        with self._lock:
            work = self._work
            if work is None:
                return
            if self._bar is None:
                self._bar, self._shown = work.cell.run(_open, self.bar_type or "tqdm", work)
            self._bar.update(rows if work.total is None else min(rows, work.total - int(self._bar.n)))

    def close(self, error: BaseException | None = None) -> None:
        """The work ended, or stopped on ``error``: a notebook bar becomes its summary line."""
        with self._lock:
            work, bar, shown = self._work, self._bar, self._shown
            self._work, self._bar, self._shown = None, None, None
        if work is None or bar is None:
            return
        if error is not None:
            bar.set_postfix_str(f"stopped: {_reason(error)}", refresh=False)
        bar.close()
        if shown is not None:
            shown.replace(Summary(work.description, int(bar.n), work.total, time.perf_counter() - work.started, error))


@dataclass(frozen=True)
class Summary:
    """A finished bar as one line: text for terminals, HTML (red when it stopped) for notebooks."""

    description: str
    rows: int
    total: int | None
    seconds: float
    error: BaseException | None = None

    def text(self) -> str:
        if self.error is None:
            return f"{self.description}: {_rows(self.rows)} in {self.seconds:.1f} s"
        done = _rows(self.rows) if self.total is None else f"{self.rows:,} of {_rows(self.total)}"
        return f"{self.description}: stopped after {done} ({_reason(self.error)})"

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, str]:
        style = "" if self.error is None else " style='color: #d32f2f'"  # JupyterLab's sanitizer drops a var()
        return {
            "text/plain": self.text(),
            "text/html": f"<div class='bqml-progress'{style}>{html.escape(self.text())}</div>",
        }

    def __repr__(self) -> str:
        return self.text()


def _open(bar_type: str, work: _Work) -> tuple[Bar[Any], _Shown | None]:
    """The bar, and for a notebook bar its display, to be replaced by the summary when done."""
    if bar_type != "tqdm_notebook":
        return _bar_class(bar_type)(total=work.total, desc=work.description, unit="row"), None
    from IPython.display import display
    from tqdm.notebook import tqdm as notebook_bar

    bar = notebook_bar(total=work.total, desc=work.description, unit="row", display=False)
    return bar, _Shown(display(bar.container, display_id=True), bar.container)


def _rows(count: int) -> str:
    return "1 row" if count == 1 else f"{count:,} rows"


def _reason(error: BaseException) -> str:
    """Ctrl-C and ``Cancelled`` (a KeyboardInterrupt) are the user's doing, not a failure."""
    return "interrupted" if isinstance(error, KeyboardInterrupt) else "error"


def _bar_class(bar_type: str) -> type[Bar[Any]]:
    """The tqdm class of a text or GUI ``progress_bar_type`` (subclasses of tqdm's own)."""
    if bar_type == "tqdm_gui":
        from tqdm.gui import tqdm as gui_bar

        return gui_bar
    from tqdm import tqdm as console_bar

    return console_bar
