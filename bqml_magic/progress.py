"""Progress bars for long ML work, named like %%bigquery's ``progress_bar_type``."""
from __future__ import annotations

from typing import Any

BAR_TYPES = ("tqdm", "tqdm_notebook", "tqdm_gui")


class Progress:
    """A tqdm bar opened when work with a known size starts; silent for ``None``."""

    def __init__(self, bar_type: str | None):
        if bar_type not in (None, "none", *BAR_TYPES):
            from bqml_magic.errors import BQMLError

            raise BQMLError(f"Unknown progress_bar_type {bar_type!r}; use one of {', '.join(BAR_TYPES)} or None")
        self.bar_type = None if bar_type == "none" else bar_type
        self._bar: Any = None

    def start(self, total: int | None, description: str) -> None:
        if self.bar_type is None:
            return
        self.close()
        if self.bar_type == "tqdm_notebook":
            from tqdm.notebook import tqdm
        elif self.bar_type == "tqdm_gui":
            from tqdm.gui import tqdm
        else:
            from tqdm import tqdm
        self._bar = tqdm(total=total, desc=description, unit="row")

    def update(self, rows: int) -> None:
        if self._bar is not None:
            self._bar.update(rows)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
