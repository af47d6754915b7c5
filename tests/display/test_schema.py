"""The schema inspector: a widget in Jupyter, readable HTML and text everywhere else."""

from __future__ import annotations

import pytest

from bqml_magic.display import schema
from bqml_magic.display.schema import SchemaInspector, human_size, shape_text

WIDGET_MIME = "application/vnd.jupyter.widget-view+json"


def test_text_lists_features_labels_and_details(model_info):
    text = repr(SchemaInspector(model_info))
    lines = text.splitlines()
    assert lines[0] == "Model my_dataset.classifier (TENSORFLOW)"
    assert "  input_1  ARRAY<FLOAT64>  float32  [-1, 224, 224, 3]" in lines
    assert "  predictions  ARRAY<FLOAT64>  float32  [-1, 1001]" in lines
    assert "  model path  gs://my_bucket/models/classifier/*" in lines
    assert "  size        16.9 MB" in lines
    assert "signature_def['serving_default']:" in text


def test_html_has_the_three_sections(model_info):
    page = SchemaInspector(model_info).html()
    for title in ("Features", "Labels", "Details"):
        assert f"<h4>{title}</h4>" in page
    assert "<code>input_1</code>" in page and "<code>[-1, 1001]</code>" in page
    assert "signature_def[&#x27;serving_default&#x27;]" in page


def test_outside_a_kernel_the_bundle_is_html_and_text(model_info):
    bundle = SchemaInspector(model_info)._repr_mimebundle_()
    assert set(bundle) == {"text/plain", "text/html"}


def test_a_model_shows_as_its_inspector(model_info, shell):
    """``engine.describe_model(name)`` as a cell's last line shows the inspector, not a dataclass."""
    bundle, _ = shell.display_formatter.format(model_info)
    assert bundle["text/html"] == SchemaInspector(model_info).html()
    assert bundle["text/plain"] == SchemaInspector(model_info).text()


def test_in_a_kernel_the_bundle_adds_a_tab_widget(model_info, monkeypatch):
    monkeypatch.setattr(schema, "in_kernel", lambda: True)
    inspector = SchemaInspector(model_info)
    bundle = inspector._repr_mimebundle_()
    assert WIDGET_MIME in bundle
    assert bundle["text/plain"].startswith("Model my_dataset.classifier")  # not "VBox(children=..."
    assert "<h4>Features</h4>" in bundle["text/html"]  # front ends without widgets
    _title, tab = inspector.widget().children
    assert [tab.get_title(i) for i in range(3)] == ["Features", "Labels", "Details"]
    assert "input_1" in tab.children[0].value and "predictions" in tab.children[1].value
    assert inspector.widget() is inspector.widget()  # made once, shown again


@pytest.mark.parametrize(
    ("size", "text"), [(512, "512 bytes"), (1_500, "1.5 KB"), (16_900_000, "16.9 MB"), (2_000_000_000, "2.0 GB")]
)
def test_human_size(size, text):
    assert human_size(size) == text


@pytest.mark.parametrize(("shape", "text"), [((None, 224, 224, 3), "[-1, 224, 224, 3]"), ((), "[]")])
def test_shape_text(shape, text):
    assert shape_text(shape) == text
