"""How a result DataFrame is shown: images first, shortened arrays, one line per row, a bounded row count.

A plain DataFrame repr is unusable here: one decoded photo is 150,000 floats, a classifier's
output 1001 of them, and an object table's rows are files the user wants to see. The view
shows what a person can read (a thumbnail, ``[0.01, 0.02, … 1001 items]``) and leaves the
DataFrame itself untouched for code.

Images come first, lined up at the left whatever the query's column order: every column of
image files (an object table's ``uri``, the ``nearest`` of a similarity search) gets a preview
column there, and every column of decoded images is shown there as previews with their shape.
A terminal's text keeps that order, without the previews of files.
"""

from __future__ import annotations

import mimetypes
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from bqml_magic.display import html_table, thumbnails
from bqml_magic.display.html_table import Column, escape

#: How a value that names an object starts: a URI scheme (``gs://``, ``s3://``, ``file://``) or a local path.
_OBJECT_NAME = re.compile(r"[a-z][a-z0-9+.-]*://|/|~/", re.IGNORECASE)


@dataclass
class ResultView:
    """A DataFrame as a notebook shows it (``_repr_html_``) and as a terminal does (``repr``).

    ``read(uri) -> bytes`` fetches files for previews of the columns that name image files (the
    engine's ``read_uri``); None shows no file previews.
    """

    frame: pd.DataFrame
    read: Callable[[str], bytes] | None = None
    max_rows: int = 20
    thumbnail_px: int = 96
    array_items: int = 5

    def _repr_html_(self) -> str:
        shown = self.frame.head(self.max_rows)
        files = {} if self.read is None else _image_file_columns(shown)
        values = _image_value_columns(shown)
        previews = self._file_previews(shown, files)
        for i in values:
            previews[i] = thumbnails.previews_of_values(list(shown.iloc[:, i]), self.thumbnail_px)
        images = html_table.Images((uri for column in previews.values() for uri in column if uri), self.thumbnail_px)
        columns = [self._preview_column(shown.iloc[:, i], files.get(i), previews[i], images) for i in sorted(previews)]
        columns += [self._text_column(shown.iloc[:, i]) for i in range(shown.shape[1]) if i not in values]
        footer = f"<p>{escape(self.footer())}</p>"
        top = footer if len(self.frame) > self.max_rows else ""
        index = [escape(str(label)) for label in shown.index]
        return f"<div>{images.style()}{top}{html_table.table(columns, index)}{footer}</div>"

    def __repr__(self) -> str:
        shown = self.frame.head(self.max_rows)
        values = _image_value_columns(shown)
        text = shown.iloc[:, sorted(range(shown.shape[1]), key=lambda i: i not in values)].copy()
        for i in range(text.shape[1]):
            if not _is_plain(text.iloc[:, i]):
                text.isetitem(i, self._texts(text.iloc[:, i]))
        top = f"{self.footer()}\n" if len(self.frame) > self.max_rows else ""
        return f"{top}{text.to_string()}\n{self.footer()}"

    def footer(self) -> str:
        """How much of the result is shown, in words."""
        rows, columns = self.frame.shape
        size = f"{rows:,} row{'s' * (rows != 1)} × {columns} column{'s' * (columns != 1)}"
        if rows > self.max_rows:
            return f"Showing the first {self.max_rows:,} of {size}."
        return f"{size}."

    def _file_previews(self, shown: pd.DataFrame, files: dict[int, list[bool]]) -> dict[int, list[str | None]]:
        """Each file column's data URIs by row, all columns' files read at once (None: no preview)."""
        if not files or self.read is None:
            return {}
        columns = {i: list(shown.iloc[:, i]) for i in files}
        wanted = [uri for i, uris in columns.items() for uri, image in zip(uris, files[i]) if image]
        made = thumbnails.cache.for_uris(wanted, self.read, self.thumbnail_px)
        return {i: [made[uri] if image else None for uri, image in zip(uris, files[i])] for i, uris in columns.items()}

    def _preview_column(
        self, column: pd.Series, image_rows: list[bool] | None, previews: list[str | None], images: html_table.Images
    ) -> Column:
        """The previews of a column of files (``image_rows`` says which are images), or a column of image values."""
        name = str(column.name)
        if image_rows is None:
            cells = [self._value_cell(value, preview, images) for value, preview in zip(column, previews)]
            return Column(html_table.fixed(escape(name), self.thumbnail_px, name), cells, preview=True)
        cells = [self._file_cell(*cell, images) for cell in zip(column, image_rows, previews)]
        return Column(html_table.preview_header(name, self.thumbnail_px), cells, preview=True)

    def _text_column(self, column: pd.Series) -> Column:
        # arrays are already shortened to ``array_items``: cutting them would hide their length
        cells = [html_table.text(text, cut=not _is_array(value)) for text, value in zip(self._texts(column), column)]
        return Column(html_table.text(str(column.name)), cells)

    def _file_cell(self, uri: Any, image: bool, preview: str | None, images: html_table.Images) -> str:
        if not isinstance(uri, str):
            return ""
        if not image:
            return html_table.marker("not an image", self.thumbnail_px)
        if preview is None:
            return html_table.marker("unreadable", self.thumbnail_px)
        return images.img(preview, uri)

    def _value_cell(self, value: Any, preview: str | None, images: html_table.Images) -> str:
        if not thumbnails.is_image_value(value):
            return html_table.text(format_value(value, self.array_items))
        label = thumbnails.image_label(value)
        caption = f"<div><small>{escape(label)}</small></div>"  # on one line, as the whole table
        return (images.img(preview, label) if preview else "") + caption

    def _texts(self, column: pd.Series) -> list[str]:
        """Each cell as text; pandas formats numbers and times with one precision for the column."""
        if not _is_plain(column):
            return [format_value(v, self.array_items) for v in column]
        if column.empty:
            return []
        return [line.strip() for line in column.to_string(index=False, header=False).split("\n")]


def format_value(value: Any, items: int) -> str:
    """One cell as short text: arrays shortened, images described, NULL for missing."""
    if thumbnails.is_image_value(value):
        return "image " + thumbnails.image_label(value)
    if _is_array(value):
        shown = [format_value(v, items) for v in list(value)[:items]]
        if len(value) > items:
            shown.append(f"… {len(value):,} items")
        return "[" + ", ".join(shown) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {format_value(v, items)}" for k, v in value.items()) + "}"
    if _is_null(value):
        return "NULL"
    if isinstance(value, (float, np.floating)):
        return f"{value:.4g}"
    if isinstance(value, bytes):
        return f"<{len(value):,} bytes>"
    return str(value)


def _is_array(value: Any) -> bool:
    return isinstance(value, (np.ndarray, list, tuple))


def _is_null(value: Any) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value))


def _is_plain(column: pd.Series) -> bool:
    """Numbers, booleans and times: pandas formats them well and they need no escaping."""
    dtype = column.dtype
    return (
        pd.api.types.is_numeric_dtype(dtype)
        or pd.api.types.is_bool_dtype(dtype)
        or pd.api.types.is_datetime64_any_dtype(dtype)
    )


def _image_value_columns(frame: pd.DataFrame) -> set[int]:
    """Positions of the columns of decoded images (BigQuery's image STRUCTs)."""
    return {
        i
        for i in range(frame.shape[1])
        if not _is_plain(frame.iloc[:, i]) and any(map(thumbnails.is_image_value, frame.iloc[:, i]))
    }


def _image_file_columns(frame: pd.DataFrame) -> dict[int, list[bool]]:
    """Columns whose values all name objects, some of them images: position -> which rows are images.

    The type is the object table's ``content_type`` for its ``uri`` column, else the extension's;
    only images are read.
    """
    found = {}
    for i in range(frame.shape[1]):
        column = frame.iloc[:, i]
        names = [v for v in column if not _is_null(v)]
        if _is_plain(column) or not names or not all(isinstance(v, str) and _OBJECT_NAME.match(v) for v in names):
            continue
        of_objects = str(frame.columns[i]).lower() == "uri" and "content_type" in frame.columns
        types = list(frame["content_type"]) if of_objects else [None] * len(frame)
        images = [isinstance(v, str) and _looks_like_image(v, t) for v, t in zip(column, types)]
        if any(images):
            found[i] = images
    return found


def _looks_like_image(uri: str, content_type: Any) -> bool:
    """Only files that can be images are read: the object table's type, else the extension."""
    if isinstance(content_type, str) and content_type != "application/octet-stream":
        return content_type.startswith("image/")
    guessed, _ = mimetypes.guess_type(uri)
    return guessed is not None and guessed.startswith("image/")
