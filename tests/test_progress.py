"""Progress bars: opened with the first rows done, ended as a line a saved notebook keeps
(docs/behaviour.md#saved-notebooks), red where the work stopped, totals that follow max_results."""

from __future__ import annotations

import pytest
from IPython.utils.capture import capture_output

from bqml_magic.errors import Cancelled, ModelError
from bqml_magic.progress import Progress, Summary

WIDGET_MIME = "application/vnd.jupyter.widget-view+json"
IMAGES = """(SELECT uri, ML.RESIZE_IMAGE(ML.DECODE_IMAGE(data), 8, 8, FALSE) AS image, 0.5 AS bias
             FROM my_dataset.object_table WHERE content_type LIKE 'image/%')"""
PREDICT = f"SELECT uri, score FROM ML.PREDICT(MODEL my_dataset.scorer, {IMAGES})"


@pytest.mark.parametrize(
    ("summary", "text"),
    [
        (Summary("ML.PREDICT d.model", 160, 160, 1.84), "ML.PREDICT d.model: 160 rows in 1.8 s"),
        (Summary("ML.PREDICT d.model", 1, None, 0.04), "ML.PREDICT d.model: 1 row in 0.0 s"),
        (
            Summary("ML.PREDICT d.model", 30, 160, 0.5, ModelError("bad")),
            "ML.PREDICT d.model: stopped after 30 of 160 rows (error)",
        ),
        (
            Summary("ML.PREDICT d.model", 1_200, None, 9.0, Cancelled("Query cancelled")),
            "ML.PREDICT d.model: stopped after 1,200 rows (interrupted)",
        ),
    ],
)
def test_summary_line(summary, text):
    bundle = summary._repr_mimebundle_()
    assert set(bundle) == {"text/plain", "text/html"} and bundle["text/plain"] == text
    assert (" style='color:" in bundle["text/html"]) == (summary.error is not None)


def test_a_notebook_bar_is_replaced_by_its_finished_line(scorer_batches, shell):
    with capture_output() as cap:
        scorer_batches.run_script(PREDICT, progress_bar_type="tqdm_notebook")
    shown, *updates = cap.outputs
    display_id = shown.transient["display_id"]
    assert WIDGET_MIME in shown.data and not shown.update
    (final,) = updates
    assert final.update and final.transient["display_id"] == display_id
    assert set(final.data) == {"text/plain", "text/html"}
    assert final.data["text/plain"].startswith("ML.PREDICT my_dataset.scorer: 11 rows in ")


def test_a_notebook_bar_ends_red_where_the_work_stopped(scorer_batches, shell):
    """The third batch has an image the model cannot take: two batches were done by then."""
    image = "IF(uri LIKE '%copy07%', ML.DECODE_IMAGE(data), ML.RESIZE_IMAGE(ML.DECODE_IMAGE(data), 8, 8, FALSE))"
    failing = PREDICT.replace("ML.RESIZE_IMAGE(ML.DECODE_IMAGE(data), 8, 8, FALSE)", image)
    with capture_output() as cap, pytest.raises(ModelError, match="copy07"):
        scorer_batches.run_script(failing, progress_bar_type="tqdm_notebook")
    final = cap.outputs[-1]
    assert final.update and final.transient["display_id"] == cap.outputs[0].transient["display_id"]
    assert final.data["text/plain"].startswith("ML.PREDICT my_dataset.scorer: stopped after ")
    assert final.data["text/plain"].endswith(" of 11 rows (error)")
    assert "color:" in final.data["text/html"]


def test_a_finished_statement_stays_finished_when_a_later_one_fails(scorer_batches, shell):
    with capture_output() as cap, pytest.raises(Exception, match="nothing"):
        scorer_batches.run_script(f"{PREDICT}; SELECT * FROM my_dataset.nothing", progress_bar_type="tqdm_notebook")
    assert cap.outputs[-1].data["text/plain"].startswith("ML.PREDICT my_dataset.scorer: 11 rows in ")


@pytest.mark.parametrize(
    ("sql", "error"),
    [
        (PREDICT.replace("AS image", "AS picture"), "needs an input column named 'image'"),  # checked before any row
        (PREDICT.replace("8, 8, FALSE", "9, 9, FALSE"), "image"),  # fails on the first batch
    ],
)
def test_no_bar_when_the_statement_fails_before_its_first_batch(scorer_batches, shell, sql, error):
    with capture_output() as cap, pytest.raises(ModelError, match=error):
        scorer_batches.run_script(sql, progress_bar_type="tqdm_notebook")
    assert cap.outputs == []


@pytest.mark.parametrize(("max_results", "shown"), [(5, "5/5"), (None, "11/11"), (50, "11/11")])
def test_the_total_follows_max_results(scorer_batches, capsys, max_results, shown):
    """Batches of 3: DuckDB takes 6 rows to keep 5, the bar stops at the 5 the result holds."""
    frame = scorer_batches.query(PREDICT, progress_bar_type="tqdm", max_results=max_results)
    assert len(frame) == min(11, max_results or 11)
    last = capsys.readouterr().err.split("\r")[-1]
    assert last.startswith("ML.PREDICT my_dataset.scorer: 100%") and f"| {shown} [" in last


def test_a_text_bar_says_where_it_stopped(capsys):
    progress = Progress("tqdm")
    progress.start(160, "ML.PREDICT d.model")
    progress.update(30)
    progress.close(KeyboardInterrupt())
    progress.close()  # once closed, closing again shows nothing more
    last = capsys.readouterr().err.rstrip("\n").split("\r")[-1]
    assert last.startswith("ML.PREDICT d.model:  19%") and last.endswith(", stopped: interrupted]")


def test_no_bar_type_is_silent(capsys):
    progress = Progress(None)
    progress.start(10, "ML.PREDICT d.model")
    progress.update(10)
    progress.close()
    assert capsys.readouterr() == ("", "")
