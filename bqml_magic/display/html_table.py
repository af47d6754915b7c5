"""The HTML of a result table: one line per row, fixed-width previews, each image embedded once.

What survives of an output depends on where it is shown: JupyterLab sanitizes the outputs of
untrusted notebooks, keeping inline ``style`` attributes of listed properties but no ``<style>``
element [doc: JupyterLab's ``Sanitizer``], and GitHub's renderer drops ``<style>`` too. So the
layout is all inline ``style``, and the one ``<style>`` element holds only the images shown more
than once (a photo on each of its five top-5 rows): each is written there once, as a rule
``content: url(data:...)`` that fills every ``<img>`` of its class (Chromium, WebKit). Where the
element is stripped those images show their alt text (the uri), cut to the preview's width, and
the table keeps its shape [ours: checked in headless Chromium with and without the element].

Every value reaches the page through :func:`html.escape`; only data URIs made here and class
names derived from them are written unescaped.
"""

from __future__ import annotations

import hashlib
import html
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

#: Text longer than this many characters is cut to one line of this many ``em`` with an
#: ellipsis, its whole text in the tooltip (shorter text always fits: no character is wider).
LONG_TEXT = 30
#: The most characters a cell carries, tooltip included: a 1 MB string stays out of the page.
MAX_TEXT = 1_000
_CUT = "overflow:hidden;text-overflow:ellipsis"
_HEAD_LEFT = ' style="text-align:left;vertical-align:bottom"'
_CELL_LEFT = ' style="text-align:left;vertical-align:top;white-space:nowrap"'
_CELL = ' style="white-space:nowrap"'  # on each cell: JupyterLab's own CSS lets cells wrap


def escape(text: str) -> str:
    """Safe in element content and in quoted attributes alike."""
    return html.escape(text, quote=True)


def text(value: str, cut: bool = True) -> str:
    """A text cell on one line; long text cut with an ellipsis (if ``cut``), all of it in the tooltip."""
    if len(value) > MAX_TEXT:
        value = value[:MAX_TEXT] + "…"
    if len(value) <= LONG_TEXT or not cut:
        return escape(value)
    return f'<div title="{escape(value)}" style="max-width:{LONG_TEXT}em;{_CUT}">{escape(value)}</div>'


def fixed(content: str, px: int, title: str) -> str:
    """``content`` (HTML) in a box ``px`` wide, cut with an ellipsis, ``title`` as its tooltip."""
    return f'<div title="{escape(title)}" style="width:{px}px;{_CUT}">{content}</div>'


def preview_header(name: str, px: int) -> str:
    """The header of the previews of column ``name``: marked as previews, the name cut to ``px``."""
    mark = '<small style="font-weight:normal;opacity:.6">preview</small>'
    return mark + fixed(escape(name), px, f"preview of {name}")


def marker(label: str, px: int) -> str:
    """A grey box where a preview would be: the object is there but shows no image."""
    style = f"width:{px}px;padding:6px 0;background:#eee;color:#666;font-size:11px;text-align:center"
    return f'<div style="{style}">{escape(label)}</div>'


class Images:
    """The images of one output: one used once is inline, one repeated is written once, in ``style()``.

    Class names come from the image's bytes, so the rules of two outputs on one page never
    disagree: the same name is the same image.
    """

    def __init__(self, data_uris: Iterable[str], px: int):
        self.px = px
        self._repeated = sorted(uri for uri, count in Counter(data_uris).items() if count > 1)
        self._classes = {uri: _class_name(uri) for uri in self._repeated}

    def img(self, data_uri: str, alt: str) -> str:
        """An ``<img>`` of ``data_uri``: inline if it is shown once, by its class if repeated."""
        if data_uri in self._classes:  # its width bounds the alt text where the rule is stripped
            return f'<img class="{self._classes[data_uri]}" alt="{escape(alt)}" style="max-width:{self.px}px">'
        return f'<img src="{data_uri}" alt="{escape(alt)}">'

    def style(self) -> str:
        """The ``<style>`` element of the repeated images, or nothing."""
        rules = "".join(f".{self._classes[uri]}{{content:url({uri})}}" for uri in self._repeated)
        return f"<style>{rules}</style>" if rules else ""


def _class_name(data_uri: str) -> str:
    return "bqml-" + hashlib.blake2b(data_uri.encode("ascii"), digest_size=8).hexdigest()


@dataclass
class Column:
    """A column as shown: its header and cells as HTML; a preview column is fixed and left-aligned."""

    header: str
    cells: list[str]
    preview: bool = False


def table(columns: Sequence[Column], index: Sequence[str]) -> str:
    """The ``<table>``: ``index`` (already HTML) heads each row, as in pandas' tables."""
    head = "".join(f"<th{_HEAD_LEFT if c.preview else ''}>{c.header}</th>" for c in columns)
    rows = []
    for i, label in enumerate(index):
        cells = "".join(f"<td{_CELL_LEFT if c.preview else _CELL}>{c.cells[i]}</td>" for c in columns)
        rows.append(f"<tr><th>{label}</th>{cells}</tr>")
    return (
        f'<table class="bqml-result" style="white-space:nowrap">'
        f"<thead><tr><th></th>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"
    )
