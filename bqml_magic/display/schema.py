"""The schema inspector: a model's features and labels, as BigQuery's Schema tab shows them.

Knowing the exact input name, type and shape is what makes ``ML.PREDICT`` work on the first
try. In JupyterLab the inspector is an ipywidgets ``Tab`` (Features / Labels / Details);
front ends without widgets (nbviewer, GitHub, a terminal) pick the HTML or text table from the
same display bundle, so the information is never lost to ``Tab(children=...)``.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from bqml_magic.display import in_kernel

if TYPE_CHECKING:
    from bqml_magic.model_info import ModelInfo
    from bqml_magic.runtimes.base import TensorSpec

_COLUMNS = ("name", "BigQuery type", "dtype", "shape")
_TABS = ("Features", "Labels", "Details")


class SchemaInspector:
    """Display it (last expression of a cell, or ``display()``); ``%bqml model NAME`` does."""

    def __init__(self, info: ModelInfo):
        self.info = info
        self._widget: Any = None

    def details(self) -> list[tuple[str, str]]:
        info = self.info
        return [
            ("model", info.name),
            ("model type", info.model_type),
            ("model path", info.source_path),
            ("size", human_size(info.size_bytes)),
            ("created", info.created.isoformat(timespec="seconds")),
        ]

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        bundle: dict[str, Any] = {"text/plain": self.text(), "text/html": self.html()}
        widget = self.widget()
        if widget is not None:
            bundle.update(widget._repr_mimebundle_(include=include, exclude=exclude))
            bundle["text/plain"] = self.text()  # not the widget's "VBox(children=...)"
        return bundle

    def __repr__(self) -> str:
        return self.text()

    def widget(self) -> Any:
        """The Tab widget, made once; None outside a Jupyter kernel or without ipywidgets."""
        if self._widget is None and in_kernel():
            try:
                import ipywidgets as w
            except ImportError:
                return None
            children = [
                w.HTML(_tensor_table(self.info.schema.features)),
                w.HTML(_tensor_table(self.info.schema.labels)),
                w.HTML(self._details_html()),
            ]
            tab = w.Tab(children=children, titles=_TABS)
            self._widget = w.VBox([w.HTML(self._title_html()), tab])
        return self._widget

    def html(self) -> str:
        """The same content as three stacked tables, for front ends without widgets."""
        schema = self.info.schema
        parts = [
            self._title_html(),
            "<h4>Features</h4>",
            _tensor_table(schema.features),
            "<h4>Labels</h4>",
            _tensor_table(schema.labels),
            "<h4>Details</h4>",
            self._details_html(),
        ]
        return "<div>" + "".join(parts) + "</div>"

    def text(self) -> str:
        """Plain text: the terminal's view, and the fallback of every other."""
        schema = self.info.schema
        lines = [f"Model {self.info.name} ({self.info.model_type})"]
        for title, specs in (("Features", schema.features), ("Labels", schema.labels)):
            lines += ["", title, *_text_table([_COLUMNS] + [_tensor_row(s) for s in specs])]
        lines += ["", "Details", *_text_table(self.details())]
        if schema.signature_text:
            lines += ["", schema.signature_text.rstrip()]
        return "\n".join(lines)

    def _title_html(self) -> str:
        return f"<b>Model {html.escape(self.info.name)}</b> ({html.escape(self.info.model_type)})"

    def _details_html(self) -> str:
        rows = "".join(
            f"<tr><th style='text-align:left'>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>"
            for k, v in self.details()
        )
        signature = self.info.schema.signature_text
        pre = f"<pre>{html.escape(signature)}</pre>" if signature else ""
        return f"<table>{rows}</table>{pre}"


def shape_text(shape: tuple[int | None, ...]) -> str:
    """``[-1, 224, 224, 3]``: -1 for a dynamic dimension, as ``saved_model_cli`` writes it."""
    return "[" + ", ".join("-1" if d is None else str(d) for d in shape) + "]"


def human_size(size: int) -> str:
    """``16.9 MB``, in the decimal units BigQuery's limits are written in."""
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("KB", 1e3)):
        if size >= scale:
            return f"{size / scale:.1f} {unit}"
    return f"{size:,} bytes"


def _tensor_row(spec: TensorSpec) -> tuple[str, str, str, str]:
    return spec.name, spec.bq_type, spec.dtype, shape_text(spec.shape)


def _tensor_table(specs: tuple[TensorSpec, ...]) -> str:
    head = "".join(f"<th style='text-align:left'>{c}</th>" for c in _COLUMNS)
    body = "".join(
        "<tr>" + "".join(f"<td><code>{html.escape(v)}</code></td>" for v in _tensor_row(s)) + "</tr>" for s in specs
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _text_table(rows: Sequence[tuple[str, ...]]) -> list[str]:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return ["  " + "  ".join(v.ljust(w) for v, w in zip(row, widths)).rstrip() for row in rows]
