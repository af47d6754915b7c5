"""The schema inspector: tabs by CSS alone, readable wherever the CSS or the inputs are stripped,
and text everywhere else (docs/behaviour.md#saved-notebooks)."""

from __future__ import annotations

import dataclasses
import re

import pytest

from bqml_magic.display.schema import SchemaInspector, human_size, shape_text
from bqml_magic.runtimes.base import TensorSpec

RAW_SIGNATURE = """MetaGraphDef with tag-set: 'serve' contains the following SignatureDefs:

signature_def['__saved_model_init_op']:
  The given SavedModel SignatureDef contains the following output(s):
    outputs['__saved_model_init_op'] tensor_info:
        dtype: DT_INVALID
        shape: unknown_rank
        name: NoOp
  Method name is:

signature_def['serving_default']:
  The given SavedModel SignatureDef contains the following input(s):
    inputs['input_1'] tensor_info:
        dtype: DT_FLOAT
        shape: (-1, 224, 224, 3)
        name: serving_default_input_1:0
  Method name is: tensorflow/serving/predict"""
SCOPE = re.compile(r"bqml-inspector-[0-9a-f]{12}")
DETAILS = re.compile(r"<details>.*?</details>", re.S)


@pytest.fixture
def saved_model_info(model_info):
    """A TensorFlow model as CREATE MODEL records it: the serving signature's facts, the raw listing."""
    schema = dataclasses.replace(
        model_info.schema,
        signature_text=RAW_SIGNATURE,
        extra={"signature": "serving_default", "method": "tensorflow/serving/predict", "tensorflow_version": "2.18.0"},
    )
    return dataclasses.replace(model_info, schema=schema)


def stripped(page: str, *tags: str) -> str:
    """The page as a sanitizer leaves it: each of ``tags`` gone (``<style>`` with its rules)."""
    for tag in tags:
        page = re.sub(r"<style>.*?</style>" if tag == "style" else rf"</?{tag}\b[^>]*>", "", page, flags=re.S)
    return page


def test_text_lists_features_labels_and_details(model_info):
    text = repr(SchemaInspector(model_info))
    lines = text.splitlines()
    assert lines[0] == "Model my_dataset.classifier (TENSORFLOW)"
    assert "  input_1  ARRAY<FLOAT64>  float32  [-1, 224, 224, 3]" in lines
    assert "  predictions  ARRAY<FLOAT64>  float32  [-1, 1001]" in lines
    assert "  model path  gs://my_bucket/models/classifier/*" in lines
    assert "  size        16.9 MB" in lines
    assert "signature_def['serving_default']:" in text


def test_html_is_three_tabs_switched_by_css(model_info):
    page = SchemaInspector(model_info).html()
    (scope,) = set(SCOPE.findall(page))
    radios = re.findall(r"<input type='radio' name='([^']+)' id='([^']+)' hidden='hidden'( checked)?>", page)
    assert [(name, key, checked) for name, key, checked in radios] == [
        (scope, f"{scope}-features", " checked"),
        (scope, f"{scope}-labels", ""),
        (scope, f"{scope}-details", ""),
    ]
    assert re.findall(r"<h4><label for='([^']+)'>(\w+)</label></h4>", page) == [
        (f"{scope}-features", "Features"),
        (f"{scope}-labels", "Labels"),
        (f"{scope}-details", "Details"),
    ]
    assert page.startswith(f"<div class='bqml-inspector' id='{scope}'><style>")
    assert "input:checked + h4 + .bqml-pane {display: block}" in page
    assert "<code>input_1</code></td>" in page and "<code>[-1, 1001]</code></td>" in page


def test_every_css_rule_is_scoped_to_its_own_display(model_info):
    """Two inspectors on one page (even of one model, shown twice) switch independently."""
    inspector = SchemaInspector(model_info)
    first, second = inspector.html(), inspector.html()
    assert SCOPE.findall(first)[0] != SCOPE.findall(second)[0]
    css = re.search(r"<style>(.*)</style>", first, re.S)[1]
    selectors = [rule.split("{")[0] for rule in css.split("}") if rule.strip()]
    assert selectors and all(
        part.strip().startswith(f"#{SCOPE.findall(first)[0]} ") for s in selectors for part in s.split(",")
    )


def test_no_widget_in_the_bundle(model_info):
    """A widget's state is not saved with the notebook: reopened, it would say 'model not found'."""
    bundle = SchemaInspector(model_info)._repr_mimebundle_()
    assert set(bundle) == {"text/plain", "text/html"}
    assert "<script" not in bundle["text/html"]


@pytest.mark.parametrize("removed", [("style",), ("input",), ("style", "input"), ("style", "input", "label")])
def test_sanitized_html_shows_the_three_panes_stacked(saved_model_info, removed):
    """GitHub drops the style, the inputs and the labels; JupyterLab (untrusted) the style."""
    page = stripped(SchemaInspector(saved_model_info).html(), *removed)
    headings = re.findall(r"<h4>(?:<label [^>]*>)?(\w+)(?:</label>)?</h4>", page)
    assert headings == ["Features", "Labels", "Details"]
    features, labels, details = re.split(r"<h4>.*?</h4>", page)[1:]
    assert "<code>input_1</code>" in features and "<table>" in features
    assert "<code>predictions</code>" in labels and "<table>" in labels
    assert ">serving_default</td>" in details
    if "input" not in removed:
        assert "<input type='radio'" in page and all(" hidden='hidden'" in i for i in re.findall(r"<input[^>]*>", page))


def test_details_show_the_serving_signature_and_fold_the_raw_listing(saved_model_info):
    page = SchemaInspector(saved_model_info).html()
    details = page.split("<h4><label", 3)[3]
    facts = re.findall(
        r"<tr><th style='text-align:left'>([^<]+)</th><td style='text-align:left'>([^<]*)</td></tr>", details
    )
    assert facts[:2] == [("model", "my_dataset.classifier"), ("model type", "TENSORFLOW")]
    assert ("signature", "serving_default") in facts and ("method", "tensorflow/serving/predict") in facts
    assert ("tensorflow version", "2.18.0") in facts
    (folded,) = DETAILS.findall(page)
    assert folded.startswith("<details><summary>Raw signature</summary><pre>")
    assert "__saved_model_init_op" in folded
    assert "__saved_model_init_op" not in DETAILS.sub("", page)


def test_text_puts_the_tidy_details_first_and_the_raw_listing_last(saved_model_info):
    text = SchemaInspector(saved_model_info).text()
    tidy, raw = text.split("\nRaw signature\n")
    assert "  signature           serving_default" in tidy.splitlines()
    assert "__saved_model_init_op" not in tidy
    assert raw.startswith("MetaGraphDef with tag-set: 'serve'") and "__saved_model_init_op" in raw


def test_hostile_names_are_escaped(model_info):
    hostile = "<img src=x onerror=alert(1)>"
    schema = dataclasses.replace(
        model_info.schema,
        features=(TensorSpec(hostile, "float32", (None, 3), "ARRAY<FLOAT64>"),),
        signature_text=f"inputs['{hostile}']</pre></details><script>",
        extra={"producer": "</td><style>body{display:none}</style>"},
    )
    info = dataclasses.replace(model_info, name="d.</b><script>x</script>", schema=schema)
    page = SchemaInspector(info).html()
    assert "<img" not in page and "<script" not in page and page.count("<style>") == 1
    assert "&lt;img src=x onerror=alert(1)&gt;" in page
    assert "d.&lt;/b&gt;&lt;script&gt;" in page
    assert page.count("</details>") == 1


def test_a_model_shows_as_its_inspector(model_info, shell):
    """``engine.describe_model(name)`` as a cell's last line shows the inspector, not a dataclass."""
    bundle, _ = shell.display_formatter.format(model_info)
    assert SCOPE.sub("X", bundle["text/html"]) == SCOPE.sub("X", SchemaInspector(model_info).html())
    assert bundle["text/plain"] == SchemaInspector(model_info).text()


@pytest.mark.parametrize(
    ("size", "text"), [(512, "512 bytes"), (1_500, "1.5 KB"), (16_900_000, "16.9 MB"), (2_000_000_000, "2.0 GB")]
)
def test_human_size(size, text):
    assert human_size(size) == text


@pytest.mark.parametrize(("shape", "text"), [((None, 224, 224, 3), "[-1, 224, 224, 3]"), ((), "[]")])
def test_shape_text(shape, text):
    assert shape_text(shape) == text


def test_a_feature_vector_model_says_its_vectors_can_be_searched(model_info):
    features = TensorSpec("feature_vector", "float32", (None, 1024), "ARRAY<FLOAT64>")
    info = dataclasses.replace(model_info, schema=dataclasses.replace(model_info.schema, labels=(features,)))
    inspector = SchemaInspector(info)
    assert "feature_vector: feature vectors" in inspector.text()
    assert "VECTOR_SEARCH(TABLE my_dataset.t, &#x27;feature_vector&#x27;" in inspector.html()
    assert "VECTOR_SEARCH" not in SchemaInspector(model_info).text()  # a classifier's predictions are scores
