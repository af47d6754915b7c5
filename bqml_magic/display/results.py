"""How a result DataFrame is shown: image previews, shortened arrays, a bounded row count.

A plain DataFrame repr is unusable here: one decoded photo is 150,000 floats, a classifier's
output 1001 of them, and an object table's rows are files the user wants to see. The view
shows what a person can read (a thumbnail, ``[0.01, 0.02, … 1001 items]``) and leaves the
DataFrame itself untouched for code.
"""

from __future__ import annotations

import html
import mimetypes
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from bqml_magic.display import thumbnails

_STYLE = "max-width:{px}px;max-height:{px}px;vertical-align:middle"


@dataclass
class ResultView:
    """A DataFrame as a notebook shows it (``_repr_html_``) and as a terminal does (``repr``).

    ``read(uri) -> bytes`` fetches files for previews of a ``uri`` column (the engine's
    ``read_uri``); None shows no file previews.
    """

    frame: pd.DataFrame
    read: Callable[[str], bytes] | None = None
    max_rows: int = 50
    thumbnail_px: int = 96
    array_items: int = 5

    def _repr_html_(self) -> str:
        shown = self.frame.head(self.max_rows).copy()
        for column in shown.columns:
            if _is_uri_column(shown, column) and self.read is not None:
                shown[column] = self._uri_cells(shown, column, self.read)
            elif not _is_plain(shown[column]):
                shown[column] = self._object_cells(shown[column])
        shown.columns = [html.escape(str(c)) for c in shown.columns]
        table = shown.to_html(escape=False, border=0, classes="bqml-result")
        return f"<div>{table}<p>{html.escape(self.footer())}</p></div>"

    def __repr__(self) -> str:
        shown = self.frame.head(self.max_rows).copy()
        for column in shown.columns:
            if not _is_plain(shown[column]):
                shown[column] = [format_value(v, self.array_items) for v in shown[column]]
        return f"{shown.to_string()}\n{self.footer()}"

    def footer(self) -> str:
        """How much of the result is shown, in words."""
        rows, columns = self.frame.shape
        size = f"{rows:,} row{'s' * (rows != 1)} × {columns} column{'s' * (columns != 1)}"
        if rows > self.max_rows:
            return f"Showing the first {self.max_rows:,} of {size}."
        return f"{size}."

    def _uri_cells(self, shown: pd.DataFrame, column: Any, read: Callable[[str], bytes]) -> list[str]:
        types = shown["content_type"] if "content_type" in shown.columns else [None] * len(shown)
        uris = list(shown[column])
        wanted = [u for u, t in zip(uris, types) if isinstance(u, str) and _looks_like_image(u, t)]
        previews = thumbnails.cache.for_uris(wanted, read, self.thumbnail_px) if wanted else {}
        cells = []
        for uri in uris:
            text = html.escape(format_value(uri, self.array_items))
            preview = previews.get(uri) if isinstance(uri, str) else None
            cells.append(f"{self._img(preview, uri)}&nbsp;{text}" if preview else text)
        return cells

    def _object_cells(self, column: pd.Series) -> list[str]:
        values = list(column)
        images = [i for i, v in enumerate(values) if thumbnails.is_image_value(v)]
        previews = dict(zip(images, thumbnails.previews_of_values([values[i] for i in images], self.thumbnail_px)))
        cells = []
        for i, value in enumerate(values):
            text = html.escape(format_value(value, self.array_items))
            preview = previews.get(i)
            cells.append(f"{self._img(preview, text)}<br><small>{text}</small>" if preview else text)
        return cells

    def _img(self, src: str, alt: str) -> str:
        style = _STYLE.format(px=self.thumbnail_px)
        return f'<img src="{src}" alt="{html.escape(alt, quote=True)}" style="{style}">'


def format_value(value: Any, items: int) -> str:
    """One cell as short text: arrays shortened, images described, NULL for missing."""
    if thumbnails.is_image_value(value):
        return "image " + thumbnails.image_label(value)
    if isinstance(value, (np.ndarray, list, tuple)):
        shown = [format_value(v, items) for v in list(value)[:items]]
        if len(value) > items:
            shown.append(f"… {len(value):,} items")
        return "[" + ", ".join(shown) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {format_value(v, items)}" for k, v in value.items()) + "}"
    if value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value)):
        return "NULL"
    if isinstance(value, (float, np.floating)):
        return f"{value:.4g}"
    if isinstance(value, bytes):
        return f"<{len(value):,} bytes>"
    return str(value)


def _is_plain(column: pd.Series) -> bool:
    """Numbers, booleans and times: pandas formats them well and they need no escaping."""
    dtype = column.dtype
    return (
        pd.api.types.is_numeric_dtype(dtype)
        or pd.api.types.is_bool_dtype(dtype)
        or pd.api.types.is_datetime64_any_dtype(dtype)
    )


def _is_uri_column(frame: pd.DataFrame, column: Any) -> bool:
    return str(column).lower() == "uri" and not _is_plain(frame[column])


def _looks_like_image(uri: str, content_type: Any) -> bool:
    """Only files that can be images are read: the object table's type, else the extension."""
    if isinstance(content_type, str) and content_type != "application/octet-stream":
        return content_type.startswith("image/")
    guessed, _ = mimetypes.guess_type(uri)
    return guessed is not None and guessed.startswith("image/")
