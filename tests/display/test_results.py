"""Result tables: thumbnails for files and image values, short arrays, bounded rows, escaping."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
from conftest import decode_data_uri, image_value

from bqml_magic.display.results import ResultView, format_value

IMG = re.compile(r'src="(data:image/png;base64,[^"]+)"')


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (np.arange(1001) / 100, "[0, 0.01, 0.02, 0.03, 0.04, … 1,001 items]"),
        ([1, 2, 3], "[1, 2, 3]"),
        (np.array([0.123456789]), "[0.1235]"),
        ({"name": "k", "value": np.arange(8)}, "{name: k, value: [0, 1, 2, 3, 4, … 8 items]}"),
        ([{"a": 1}, {"a": 2}], "[{a: 1}, {a: 2}]"),
        (None, "NULL"),
        (float("nan"), "NULL"),
        (pd.NA, "NULL"),
        (b"\x00" * 2048, "<2,048 bytes>"),
        ("gs://b/x.png", "gs://b/x.png"),
        (image_value(np.zeros((224, 224, 3))), "image 224×224×3 FLOAT64"),
        (image_value(np.zeros((4, 5, 1), dtype=np.int64)), "image 4×5×1 INT64"),
        ({"dimensions": None, "values": None}, "image NULL image"),
    ],
)
def test_format_value(value, text):
    assert format_value(value, 5) == text


def test_uri_column_shows_a_thumbnail_of_each_image_file(reader):
    frame = pd.DataFrame(
        {"uri": ["gs://b/red.png", "gs://b/blue.jpg", "gs://b/notes.txt", "gs://b/missing.png", "gs://b/broken.png"]}
    )
    page = ResultView(frame, reader)._repr_html_()
    previews = IMG.findall(page)
    assert len(previews) == 2
    assert decode_data_uri(previews[0]).convert("RGB").getpixel((5, 5)) == (255, 0, 0)
    assert max(decode_data_uri(previews[1]).size) <= 96
    assert "gs://b/notes.txt" not in reader.reads  # not an image: never read
    for uri in frame["uri"]:
        assert uri in page  # every row still names its file


def test_content_type_decides_which_files_are_read(reader):
    frame = pd.DataFrame({"uri": ["gs://b/red.png", "gs://b/notes.txt"], "content_type": ["text/plain", "image/png"]})
    ResultView(frame, reader)._repr_html_()
    assert reader.reads == ["gs://b/notes.txt"]


def test_thumbnails_are_cached_per_uri(reader):
    frame = pd.DataFrame({"uri": ["gs://b/red.png", "gs://b/red.png", "gs://b/blue.jpg"]})
    first = ResultView(frame, reader)._repr_html_()
    second = ResultView(frame, reader)._repr_html_()
    assert first == second
    assert sorted(reader.reads) == ["gs://b/blue.jpg", "gs://b/red.png"]


def test_thumbnail_size_follows_the_setting(reader):
    page = ResultView(pd.DataFrame({"uri": ["gs://b/red.png"]}), reader, thumbnail_px=10)._repr_html_()
    assert decode_data_uri(IMG.findall(page)[0]).size == (10, 5)


def test_without_a_reader_uris_are_text(reader):
    page = ResultView(pd.DataFrame({"uri": ["gs://b/red.png"]}))._repr_html_()
    assert "<img" not in page and "gs://b/red.png" in page


@pytest.mark.parametrize(
    ("pixels", "expected"),
    [
        (np.full((8, 6, 3), [1.0, 0.5, 0.0]), (255, 128, 0)),
        (np.full((8, 6, 3), [255, 0, 10], dtype=np.int64), (255, 0, 10)),
        (np.full((8, 6, 1), 0.2), (51, 51, 51)),
        (np.full((8, 6, 3), [-0.3, 1.7, 0.5]), (0, 255, 128)),  # YIQ-like values are clipped
    ],
)
def test_image_values_show_as_thumbnails_not_numbers(pixels, expected):
    frame = pd.DataFrame({"uri": ["gs://b/x.png"], "image": [image_value(pixels)]})
    page = ResultView(frame)._repr_html_()
    (preview,) = IMG.findall(page)
    assert decode_data_uri(preview).convert("RGB").getpixel((2, 2)) == expected
    assert "8×6×" in page
    assert "0.5," not in page and "255," not in page


def test_a_large_image_value_becomes_a_small_preview():
    frame = pd.DataFrame({"image": [image_value(np.random.default_rng(0).random((480, 640, 3)))]})
    view = ResultView(frame)
    page = view._repr_html_()
    assert decode_data_uri(IMG.findall(page)[0]).size == (96, 72)
    assert len(page) < 40_000
    assert "480×640×3 FLOAT64" in repr(view) and len(repr(view)) < 300


def test_unpreviewable_image_values_are_described():
    frame = pd.DataFrame({"image": [image_value(np.zeros((2, 2, 5))), {"dimensions": None, "values": None}]})
    page = ResultView(frame)._repr_html_()
    assert "<img" not in page
    assert "2×2×5 FLOAT64" in page and "NULL image" in page


def test_long_arrays_are_shortened():
    frame = pd.DataFrame({"predictions": [np.linspace(0, 1, 1001)], "n": [3]})
    view = ResultView(frame, array_items=2)
    assert "[0, 0.001, … 1,001 items]" in view._repr_html_()
    assert "[0, 0.001, … 1,001 items]" in repr(view)


def test_large_results_are_limited_and_say_so():
    view = ResultView(pd.DataFrame({"n": range(120)}), max_rows=50)
    page = view._repr_html_()
    assert page.count("<tr>") == 50  # body rows; the header row has a style
    assert "Showing the first 50 of 120 rows × 1 column." in page
    assert "Showing the first 50 of 120 rows" in repr(view)
    assert ResultView(pd.DataFrame({"n": [1]})).footer() == "1 row × 1 column."


def test_text_and_names_are_escaped():
    frame = pd.DataFrame({"<b>": ["<script>alert(1)</script>"], "n": [1.5]})
    page = ResultView(frame)._repr_html_()
    assert "<script>" not in page and "&lt;script&gt;" in page
    assert "&lt;b&gt;" in page
