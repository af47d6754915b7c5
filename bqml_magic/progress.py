"""Progress bars for long ML work, named like %%bigquery's ``progress_bar_type``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # tqdm itself is imported only when a bar is shown
    from tqdm.std import tqdm as Bar

BAR_TYPES = ("tqdm", "tqdm_notebook", "tqdm_gui")


class Progress:
    """A tqdm bar opened when work with a known size starts; silent for ``None``."""

    def __init__(self, bar_type: str | None):
        if bar_type not in (None, "none", *BAR_TYPES):
            from bqml_magic.errors import BQMLError

            raise BQMLError(f"Unknown progress_bar_type {bar_type!r}; use one of {', '.join(BAR_TYPES)} or None")
        self.bar_type = None if bar_type == "none" else bar_type
        self._bar: Bar[Any] | None = None

    def start(self, total: int | None, description: str) -> None:
        if self.bar_type is None:
            return
        self.close()
        self._bar = _bar_class(self.bar_type)(total=total, desc=description, unit="row")

    def update(self, rows: int) -> None:
        if self._bar is not None:
            self._bar.update(rows)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None


def _bar_class(bar_type: str) -> type[Bar[Any]]:
    """The tqdm class of a ``progress_bar_type`` (all subclasses of tqdm's own)."""
    if bar_type == "tqdm_notebook":
        from tqdm.notebook import tqdm as notebook_bar

        return notebook_bar
    if bar_type == "tqdm_gui":
        from tqdm.gui import tqdm as gui_bar

        return gui_bar
    from tqdm import tqdm as console_bar

    return console_bar
