"""Result tables: previews first, each image once and small, short arrays, bounded rows, escaping."""

from __future__ import annotations

import base64

import numpy as np
import pandas as pd
import pytest
from conftest import data_uris, decode_data_uri, image_value, table_of

from bqml_magic.display.html_table import LONG_TEXT, MAX_TEXT
from bqml_magic.display.results import ResultView, format_value


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


def test_each_image_file_gets_a_preview_and_every_other_object_a_marker(reader):
    uris = ["gs://b/red.png", "gs://b/blue.jpg", "gs://b/notes.txt", "gs://b/missing.png", "gs://b/broken.png"]
    page = ResultView(pd.DataFrame({"uri": uris}), reader)._repr_html_()
    headers, rows = table_of(page)
    assert headers == ["preview uri", "uri"]
    previews = [row[0] for row in rows]
    red = decode_data_uri(data_uris(previews[0])[0]).convert("RGB").getpixel((5, 5))
    assert red[0] > 250 and red[1] < 5 and red[2] < 5
    assert max(decode_data_uri(data_uris(previews[1])[0]).size) <= 96
    assert "not an image" in previews[2] and "unreadable" in previews[3] and "unreadable" in previews[4]
    assert "gs://b/notes.txt" not in reader.reads  # not an image: never read
    assert [uri in row[1] for uri, row in zip(uris, rows)] == [True] * 5  # every row still names its file


def test_content_type_decides_which_files_are_read(reader):
    frame = pd.DataFrame({"uri": ["gs://b/red.png", "gs://b/notes.txt"], "content_type": ["text/plain", "image/png"]})
    ResultView(frame, reader)._repr_html_()
    assert reader.reads == ["gs://b/notes.txt"]


@pytest.mark.parametrize(
    ("values", "previewed"),
    [
        (
            ["gs://b/red.png", None, "gs://b/notes.txt"],
            True,
        ),  # object URIs, one an image: a similarity search's `nearest`
        (["s3://b/red.png", "file:///data/red.png", "/data/red.png", "~/red.png"], True),
        (["gs://b/notes.txt", "gs://b/data.csv"], False),  # objects, none an image
        (["red.png", "blue.jpg"], False),  # file names, not objects
        (["gs://b/red.png", "a red square"], False),  # not every value names an object
    ],
)
def test_any_column_of_image_uris_gets_previews(reader, values, previewed):
    page = ResultView(pd.DataFrame({"nearest": values, "n": range(len(values))}), reader)._repr_html_()
    headers, _ = table_of(page)
    assert (headers[0] == "preview nearest") is previewed
    assert headers[-2:] == ["nearest", "n"]


def test_image_columns_come_first_then_the_query_order(reader):
    frame = pd.DataFrame(
        {
            "predictions": [np.linspace(0, 1, 1001)],
            "uri": ["gs://b/red.png"],
            "score": [0.5],
            "nearest": ["gs://b/blue.jpg"],
            "input_1": [image_value(np.full((8, 6, 3), 0.5))],
        }
    )
    view = ResultView(frame, reader)
    headers, _ = table_of(view._repr_html_())
    assert headers == ["preview uri", "preview nearest", "input_1", "predictions", "uri", "score", "nearest"]
    text_headers = repr(view).splitlines()[0].split()
    assert text_headers == ["input_1", "predictions", "uri", "score", "nearest"]
    assert "<" not in repr(view)


def test_preview_columns_are_fixed_width_and_left_aligned(reader):
    page = ResultView(pd.DataFrame({"uri": ["gs://b/red.png"]}), reader, thumbnail_px=64)._repr_html_()
    assert '<th style="text-align:left;vertical-align:bottom"><small' in page
    assert 'title="preview of uri" style="width:64px;' in page
    assert '<td style="text-align:left;vertical-align:top;white-space:nowrap"><img src="data:image/webp;base64,' in page


def test_a_repeated_image_is_embedded_once(reader):
    reader.files["gs://b/copy_of_red.png"] = reader.files["gs://b/red.png"]  # another uri, the same thumbnail
    frame = pd.DataFrame(
        {
            "uri": ["gs://b/red.png"] * 5 + ["gs://b/copy_of_red.png", "gs://b/blue.jpg"],
            "nearest": ["gs://b/red.png"] * 7,
        }
    )
    page = ResultView(frame, reader)._repr_html_()
    red_uri, blue_uri = data_uris(page)  # each once: red in the <style> rule, blue inline
    assert page.index("<style>") < page.index(red_uri) < page.index("</style>") < page.index(blue_uri)
    assert page.count('alt="gs://b/red.png"') == 12 and page.count('<img class="bqml-') == 13
    assert sorted(reader.reads) == ["gs://b/blue.jpg", "gs://b/copy_of_red.png", "gs://b/red.png"]


def test_without_repeats_there_is_no_style_element(reader):
    page = ResultView(pd.DataFrame({"uri": ["gs://b/red.png", "gs://b/blue.jpg"]}), reader)._repr_html_()
    assert "<style" not in page and page.count('<img src="data:image/webp;base64,') == 2


def test_photo_previews_are_small_webp(sample_photos):
    frame = pd.DataFrame({"uri": sorted(sample_photos.files)})
    previews = data_uris(ResultView(frame, sample_photos)._repr_html_())
    assert len(previews) == len(frame) == 10
    for preview in previews:
        assert preview.startswith("data:image/webp;base64,")
        assert len(base64.b64decode(preview.split(",", 1)[1])) < 6_000  # a PNG preview took 9-22 KB
        assert max(decode_data_uri(preview).size) == 96


def test_thumbnails_are_cached_per_uri(reader):
    frame = pd.DataFrame({"uri": ["gs://b/red.png", "gs://b/red.png", "gs://b/blue.jpg"]})
    first = ResultView(frame, reader)._repr_html_()
    second = ResultView(frame, reader)._repr_html_()
    assert first == second
    assert sorted(reader.reads) == ["gs://b/blue.jpg", "gs://b/red.png"]


def test_thumbnail_size_follows_the_setting(reader):
    page = ResultView(pd.DataFrame({"uri": ["gs://b/red.png"]}), reader, thumbnail_px=10)._repr_html_()
    assert decode_data_uri(data_uris(page)[0]).size == (10, 5)


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
    (preview,) = data_uris(page)
    shown = decode_data_uri(preview).convert("RGB").getpixel((2, 2))
    assert max(abs(a - b) for a, b in zip(shown, expected)) <= 4  # WebP is lossy, slightly
    assert "8×6×" in page
    assert "0.5," not in page and "255," not in page


def test_a_large_image_value_becomes_a_small_preview_with_a_one_line_caption():
    frame = pd.DataFrame({"image": [image_value(np.random.default_rng(0).random((480, 640, 3)))]})
    view = ResultView(frame)
    page = view._repr_html_()
    assert decode_data_uri(data_uris(page)[0]).size == (96, 72)
    assert len(page) < 6_000
    _, [[cell]] = table_of(page)
    assert cell.endswith("<div><small>480×640×3 FLOAT64</small></div>")
    assert '<table class="bqml-result" style="white-space:nowrap">' in page  # no cell wraps
    assert "480×640×3 FLOAT64" in repr(view) and len(repr(view)) < 300


def test_unpreviewable_image_values_are_described():
    frame = pd.DataFrame({"image": [image_value(np.zeros((2, 2, 5))), {"dimensions": None, "values": None}, None]})
    page = ResultView(frame)._repr_html_()
    assert "<img" not in page
    assert "2×2×5 FLOAT64" in page and "NULL image" in page and "NULL" in table_of(page)[1][2][0]


def test_long_arrays_are_shortened_not_cut():
    frame = pd.DataFrame({"predictions": [np.linspace(0, 1, 1001)], "n": [3]})
    view = ResultView(frame, array_items=2)
    assert '<td style="white-space:nowrap">[0, 0.001, … 1,001 items]</td>' in view._repr_html_()
    assert "[0, 0.001, … 1,001 items]" in repr(view)


def test_long_text_is_cut_to_one_line_with_the_whole_in_its_tooltip():
    long = "word " * 100
    frame = pd.DataFrame({"short": ["x" * LONG_TEXT], "long": [long], "huge": ["y" * (MAX_TEXT * 3)]})
    _, [[short, cut, huge]] = table_of(ResultView(frame)._repr_html_())
    assert short == "x" * LONG_TEXT
    assert (
        cut
        == f'<div title="{long}" style="max-width:{LONG_TEXT}em;overflow:hidden;text-overflow:ellipsis">{long}</div>'
    )
    assert len(huge) < 2 * MAX_TEXT + 200 and "y…" in huge


def test_large_results_are_limited_and_say_so_above_and_below():
    view = ResultView(pd.DataFrame({"n": range(120)}))
    page = view._repr_html_()
    assert len(table_of(page)[1]) == 20
    line = "<p>Showing the first 20 of 120 rows × 1 column.</p>"
    assert page.index(line) < page.index("<table") < page.rindex(line)
    text = repr(view).splitlines()
    assert text[0] == text[-1] == "Showing the first 20 of 120 rows × 1 column."
    small = ResultView(pd.DataFrame({"n": [1]}))
    assert small.footer() == "1 row × 1 column." and small._repr_html_().count("1 row × 1 column.") == 1


def test_text_names_and_uris_are_escaped(reader):
    hostile = 'gs://b/"><script>alert(1)</script>.png'
    frame = pd.DataFrame({"<b>": ["<script>alert(1)</script>"], "n": [1.5], '"><i>': [hostile], "<s>": [hostile]})
    page = ResultView(frame, reader)._repr_html_()
    assert hostile in reader.reads and len(data_uris(page)) == 1  # the file's preview, shown twice
    assert "<script" not in page and "<b>" not in page and "<i>" not in page and "<s>" not in page
    assert 'alt="gs://b/&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;.png"' in page
    assert 'title="preview of &quot;&gt;&lt;i&gt;"' in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "&lt;b&gt;" in page
