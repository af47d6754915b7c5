"""Dry runs: the SQL, names, files and each ML.PREDICT's input contract, with nothing run or created."""

from __future__ import annotations

import pytest

from bqml_magic import Engine
from bqml_magic.errors import NotFoundError

IMAGES = """(SELECT uri, ML.RESIZE_IMAGE(ML.DECODE_IMAGE(data), {h}, {w}, FALSE) AS image{extra}
   FROM my_dataset.object_table WHERE content_type LIKE 'image/%')"""


def predict(source: str) -> str:
    return f"SELECT * FROM ML.PREDICT(MODEL my_dataset.scorer, {source})"


def test_a_valid_query_reports_files_and_the_model(scorer: Engine, photos):
    report = scorer.dry_run(predict(IMAGES.format(h=8, w=8, extra=", 0.5 AS bias")))
    assert report.problems == [] and report.summary().endswith("The script is valid.")
    files = [f for f in photos.rglob("*") if f.is_file()]  # two photos, a text file, the model
    assert report.files["my_dataset.object_table"] == {
        "files": len(files),
        "bytes": sum(f.stat().st_size for f in files),
        "images": 2,
        "over_20mb": 0,
    }
    assert "ML.PREDICT with ONNX model my_dataset.scorer (image, bias -> score, doubled)" in report.summary()


@pytest.mark.parametrize(
    ("h", "w", "extra", "problem"),
    [
        (9, 8, ", 0.5 AS bias", "feature 'image' expects 8x8 images; the query resizes to 9x8"),
        (8, 8, "", "needs an input column named 'bias'"),
    ],
)
def test_contract_problems_are_reported_not_run(scorer: Engine, h, w, extra, problem):
    report = scorer.dry_run(predict(IMAGES.format(h=h, w=w, extra=extra)))
    assert len(report.problems) == 1 and problem in report.problems[0]
    assert "would fail" in report.summary()


def test_an_input_from_a_cte_is_checked_too(scorer: Engine):
    report = scorer.dry_run(f"WITH imgs AS {IMAGES.format(h=9, w=8, extra=', 0.5 AS bias')} {predict('TABLE imgs')}")
    assert report.problems and "the query resizes to 9x8" in report.problems[0]


def test_a_script_that_creates_what_it_reads_is_checked_as_far_as_possible(scorer: Engine):
    report = scorer.dry_run("""CREATE SCHEMA fresh;
        CREATE EXTERNAL TABLE fresh.files OPTIONS(object_metadata = 'SIMPLE', uris = ['gs://my_bucket/*']);
        SELECT uri FROM fresh.files""")
    assert report.unchecked == 1 and "fresh.files, created earlier in this script: not checked" in report.summary()
    assert "as far as it can be checked before it runs" in report.summary()
    assert scorer.table_kind("fresh.files") is None  # nothing was created


def test_unknown_names_fail_the_dry_run(scorer: Engine):
    with pytest.raises(NotFoundError, match=r"my_dataset.nope"):
        scorer.dry_run("SELECT * FROM my_dataset.nope")


def test_create_model_reports_what_it_would_copy(scorer: Engine, photos):
    size = (photos / "models" / "scorer.onnx").stat().st_size
    sql = "CREATE MODEL my_dataset.again OPTIONS(model_type = 'ONNX', model_path = 'gs://my_bucket/models/{}')"
    report = scorer.dry_run(sql.format("scorer.onnx"))
    assert (
        report.problems == []
        and f"copies gs://my_bucket/models/scorer.onnx: 1 file(s), {size / 2**20:,.1f} MiB" in (report.summary())
    )
    missing = scorer.dry_run(sql.format("nope.onnx"))
    assert missing.problems == [
        "model_path 'gs://my_bucket/models/nope.onnx': file gs://my_bucket/models/nope.onnx does not exist"
    ]
    assert scorer.table_kind("my_dataset.again") is None
