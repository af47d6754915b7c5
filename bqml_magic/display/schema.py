"""The schema inspector: a model's features and labels, as BigQuery's Schema tab shows them.

Knowing the exact input name, type and shape is what makes ``ML.PREDICT`` work on the first
try. The inspector is plain HTML whose Features / Labels / Details tabs switch by CSS alone
(hidden radio inputs, their labels, ``:checked +`` selectors), with no widget and no script:
a widget's state is not saved with a notebook by default, so a reopened notebook would show
"model not found" where the schema was, and GitHub shows no widget at all
(docs/behaviour.md#saved-notebooks).
Where a sanitizer drops the ``<style>`` or the inputs, the three panes stand stacked under
their headings; a terminal gets the same content as text.
"""

from __future__ import annotations

import html
import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bqml_magic.model_info import ModelInfo
    from bqml_magic.runtimes.base import TensorSpec

_COLUMNS = ("name", "BigQuery type", "dtype", "shape")
_LEFT = " style='text-align:left'"
"""Inline, not in the ``<style>``: JupyterLab right-aligns table cells, and keeps inline styles."""

# Every rule is scoped by the display's own id (``#{id}``), so two inspectors on a page (or a
# notebook's other outputs) never interfere. Panes are hidden only when an input precedes their
# heading: with the inputs stripped, the CSS leaves headings and panes stacked, as without it.
_CSS = """
#{id} > .bqml-tabs {{display: flex; flex-wrap: wrap; align-items: flex-end}}
#{id} > .bqml-tabs > h4, #{id} > .bqml-tabs > .bqml-pane {{flex-basis: 100%}}
#{id} > .bqml-tabs > input {{display: block; position: absolute; opacity: 0; width: 0; height: 0; margin: 0}}
#{id} > .bqml-tabs > input + h4 {{
  flex-basis: auto; order: 0; margin: 0 2px -1px 0; padding: 0; position: relative; font-weight: normal;
  border: 1px solid var(--jp-border-color1, #ccc); background: var(--jp-layout-color2, #eee)}}
#{id} > .bqml-tabs > input + h4 > label {{display: block; padding: 4px 12px; cursor: pointer}}
#{id} > .bqml-tabs > input:checked + h4 {{
  background: var(--jp-layout-color1, #fff); border-top: 2px solid var(--jp-brand-color1, #1976d2);
  border-bottom-color: var(--jp-layout-color1, #fff)}}
#{id} > .bqml-tabs > input:focus-visible + h4 {{outline: 2px solid var(--jp-brand-color1, #1976d2)}}
#{id} > .bqml-tabs > input + h4 + .bqml-pane {{
  order: 1; display: none; padding-top: 6px; border-top: 1px solid var(--jp-border-color1, #ccc)}}
#{id} > .bqml-tabs > input:checked + h4 + .bqml-pane {{display: block}}
"""


class SchemaInspector:
    """Display it (last expression of a cell, or ``display()``); ``%bqml model NAME`` does."""

    def __init__(self, info: ModelInfo):
        self.info = info

    def details(self) -> list[tuple[str, str]]:
        """The Details tab: the model's facts, then the runtime's (serving signature, method, versions)."""
        info = self.info
        return [
            ("model", info.name),
            ("model type", info.model_type),
            ("model path", info.source_path),
            ("size", human_size(info.size_bytes)),
            ("created", info.created.isoformat(timespec="seconds")),
            *((key.replace("_", " "), value) for key, value in info.schema.extra.items()),
        ]

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        return {"text/plain": self.text(), "text/html": self.html()}

    def __repr__(self) -> str:
        return self.text()

    def html(self) -> str:
        """Tabs in a live notebook and in exported HTML; stacked sections where sanitized.

        Each call gets a fresh id: the same inspector shown twice on one page is two sets of tabs.
        """
        scope = f"bqml-inspector-{uuid.uuid4().hex[:12]}"
        schema = self.info.schema
        note = search_note(schema.labels)
        panes = (
            ("Features", _tensor_table(schema.features)),
            ("Labels", _tensor_table(schema.labels) + (f"<p>{html.escape(note)}</p>" if note else "")),
            ("Details", self._details_html()),
        )
        tabs = "".join(_tab(scope, title, body, checked=number == 0) for number, (title, body) in enumerate(panes))
        return (
            f"<div class='bqml-inspector' id='{scope}'><style>{_CSS.format(id=scope)}</style>"
            f"{self._title_html()}<div class='bqml-tabs'>{tabs}</div></div>"
        )

    def text(self) -> str:
        """Plain text: the terminal's view, and the fallback of every other; the raw signature last."""
        schema = self.info.schema
        lines = [f"Model {self.info.name} ({self.info.model_type})"]
        for title, specs in (("Features", schema.features), ("Labels", schema.labels)):
            lines += ["", title, *_text_table([_COLUMNS] + [_tensor_row(s) for s in specs])]
        note = search_note(schema.labels)
        lines += [f"  {note}"] if note else []
        lines += ["", "Details", *_text_table(self.details())]
        if schema.signature_text:
            lines += ["", "Raw signature", schema.signature_text.rstrip()]
        return "\n".join(lines)

    def _title_html(self) -> str:
        name, model_type = html.escape(self.info.name), html.escape(self.info.model_type)
        return f"<div class='bqml-title'><b>Model {name}</b> ({model_type})</div>"

    def _details_html(self) -> str:
        """The facts in a table; the runtime's raw listing (every signature, including ones
        ``ML.PREDICT`` never calls, like ``__saved_model_init_op``) folded away below."""
        rows = "".join(
            f"<tr><th{_LEFT}>{html.escape(k)}</th><td{_LEFT}>{html.escape(v)}</td></tr>" for k, v in self.details()
        )
        signature = self.info.schema.signature_text
        raw = (
            f"<details><summary>Raw signature</summary><pre>{html.escape(signature)}</pre></details>"
            if signature
            else ""
        )
        return f"<table>{rows}</table>{raw}"


_CLASSIFIER_WORDS = ("pred", "logit", "prob", "score", "class")
"""Label names of a classifier's scores: a vector, but not one to search by distance."""


def search_note(labels: tuple[TensorSpec, ...]) -> str:
    """For a feature-vector model: its vector labels can be searched (docs/behaviour.md#vector-search)."""
    vectors = [
        spec.name
        for spec in labels
        if spec.bq_type == "ARRAY<FLOAT64>" and not any(word in spec.name.lower() for word in _CLASSIFIER_WORDS)
    ]
    if not vectors:
        return ""
    name = vectors[0]
    return (
        f"{', '.join(vectors)}: feature vectors. Keep them with CREATE TABLE ... AS, then find the nearest rows "
        f"with VECTOR_SEARCH(TABLE my_dataset.t, '{name}', (query), top_k => 5) (and CREATE VECTOR INDEX for speed)."
    )


def shape_text(shape: tuple[int | None, ...]) -> str:
    """``[-1, 224, 224, 3]``: -1 for a dynamic dimension, as ``saved_model_cli`` writes it."""
    return "[" + ", ".join("-1" if d is None else str(d) for d in shape) + "]"


def human_size(size: int) -> str:
    """``16.9 MB``, in the decimal units BigQuery's limits are written in."""
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("KB", 1e3)):
        if size >= scale:
            return f"{size / scale:.1f} {unit}"
    return f"{size:,} bytes"


def _tab(scope: str, title: str, body: str, *, checked: bool) -> str:
    """One tab: a radio, its label as the pane's heading, the pane.

    ``hidden`` keeps the radio out of sight where the ``<style>`` is stripped but inputs are kept
    (JupyterLab's sanitizer, for an untrusted notebook: it drops a bare ``hidden``, so it has a
    value); the CSS makes it focusable again.
    """
    key = f"{scope}-{title.lower()}"
    return (
        f"<input type='radio' name='{scope}' id='{key}' hidden='hidden'{' checked' if checked else ''}>"
        f"<h4><label for='{key}'>{title}</label></h4>"
        f"<div class='bqml-pane bqml-pane-{title.lower()}'>{body}</div>"
    )


def _tensor_row(spec: TensorSpec) -> tuple[str, str, str, str]:
    return spec.name, spec.bq_type, spec.dtype, shape_text(spec.shape)


def _tensor_table(specs: tuple[TensorSpec, ...]) -> str:
    head = "".join(f"<th{_LEFT}>{c}</th>" for c in _COLUMNS)
    body = "".join(
        "<tr>" + "".join(f"<td{_LEFT}><code>{html.escape(v)}</code></td>" for v in _tensor_row(s)) + "</tr>"
        for s in specs
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _text_table(rows: Sequence[tuple[str, ...]]) -> list[str]:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return ["  " + "  ".join(v.ljust(w) for v, w in zip(row, widths)).rstrip() for row in rows]
