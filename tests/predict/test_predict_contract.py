"""CREATE MODEL and ML.PREDICT behaviour (docs/behaviour.md#create-model, #ml-predict) on tiny, exact models."""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest

from bqml_magic import Engine
from bqml_magic.errors import AlreadyExistsError, ModelError, NotFoundError, SQLError
from bqml_magic.images import decode_image, resize_image

IMAGES = """(SELECT uri, ML.RESIZE_IMAGE(ML.DECODE_IMAGE(data), 8, 8, FALSE) AS image, 0.5 AS bias
             FROM my_dataset.object_table WHERE content_type LIKE 'image/%')"""


def test_outputs_first_then_every_input_column(scorer: Engine, photos):
    df = scorer.query(f"SELECT * FROM ML.PREDICT(MODEL `my_dataset.scorer`, {IMAGES}) ORDER BY uri")
    assert list(df.columns) == ["score", "doubled", "uri", "image", "bias"]
    image = resize_image(decode_image((photos / "photos" / "grace_hopper.jpg").read_bytes()), 8, 8, False)
    assert df.score[0] == pytest.approx(float(image.as_float32().mean()) + 0.5, abs=1e-6)
    np.testing.assert_allclose(df.doubled[0], image.as_float32().reshape(-1) * 2, atol=1e-6)
    assert len(df.doubled[0]) == 8 * 8 * 3


def test_features_match_columns_case_insensitively(scorer: Engine):
    df = scorer.query(
        "SELECT score FROM ML.PREDICT(MODEL my_dataset.scorer, "
        "(SELECT ML.RESIZE_IMAGE(ML.DECODE_IMAGE(data), 8, 8, FALSE) AS IMAGE, "
        "1.0 AS Bias FROM my_dataset.object_table WHERE content_type = 'image/png'))"
    )
    assert len(df) == 1


def test_table_input_sql_on_the_output_and_ctas(scorer: Engine):
    scorer.query(f"CREATE TABLE my_dataset.inputs AS {IMAGES}")
    df = scorer.query(
        """CREATE TABLE my_dataset.scores AS (
             SELECT p.uri, p.score, o.size FROM ML.PREDICT(MODEL my_dataset.scorer, TABLE my_dataset.inputs) AS p
             JOIN my_dataset.object_table AS o USING (uri) WHERE p.score > 0);
           SELECT uri, size FROM my_dataset.scores ORDER BY score DESC"""
    )
    assert len(df) == 2 and df["size"].notna().all()


@pytest.mark.parametrize(
    "cte, source",
    [
        (f"imgs AS {IMAGES}", "TABLE imgs"),
        (f"imgs AS {IMAGES}", "(SELECT * FROM imgs WHERE uri LIKE '%.jpg')"),
        (
            "files AS (SELECT uri, data FROM my_dataset.object_table WHERE content_type LIKE 'image/%'), "
            "imgs AS (SELECT uri, ML.RESIZE_IMAGE(ML.DECODE_IMAGE(data), 8, 8, FALSE) AS image, 0.5 AS bias "
            "FROM files)",
            "TABLE imgs",
        ),
    ],
)
def test_a_cte_feeds_ml_predict(scorer: Engine, cte, source):
    where = " WHERE uri LIKE '%.jpg'"
    direct = scorer.query(f"SELECT uri, score FROM ML.PREDICT(MODEL my_dataset.scorer, {IMAGES}){where}")
    via_cte = scorer.query(f"WITH {cte} SELECT uri, score FROM ML.PREDICT(MODEL my_dataset.scorer, {source}){where}")
    assert len(direct) == 1
    pd.testing.assert_frame_equal(via_cte, direct)


def test_max_results_stops_the_work_once_it_has_the_rows(scorer_over_copies, monkeypatch):
    """A preview of a long ML.PREDICT decodes and scores a few batches, not the whole table."""
    engine = scorer_over_copies(40, 4)
    sql = f"SELECT uri, score FROM ML.PREDICT(MODEL my_dataset.scorer, {IMAGES})"
    everything = engine.query(sql)
    reads: list[str] = []
    objects = engine._services.objects
    read = objects.read
    monkeypatch.setattr(objects, "read", lambda uri: reads.append(uri) or read(uri))
    preview = engine.query(sql, max_results=3)
    pd.testing.assert_frame_equal(preview, everything.head(3))
    # the 3 rows shown were read; at most the batches DuckDB pulled ahead (4 rows each), not all 42
    assert len(everything) == 42 and 3 <= len(reads) <= 16, len(reads)
    assert engine.query(sql + " ORDER BY uri DESC", max_results=2).uri.tolist() == sorted(everything.uri)[::-1][:2]
    assert engine.query("SELECT 1 AS x", max_results=0).empty


def test_missing_feature_names_the_columns(scorer: Engine):
    with pytest.raises(ModelError, match=r"'bias'.*the input has: uri, image"):
        scorer.query(
            "SELECT * FROM ML.PREDICT(MODEL my_dataset.scorer, (SELECT uri, "
            "ML.RESIZE_IMAGE(ML.DECODE_IMAGE(data), 8, 8, FALSE) AS image FROM my_dataset.object_table))"
        )


def test_wrong_image_size_says_expected_and_got(scorer: Engine):
    with pytest.raises(ModelError, match=r"8x8x3.*got 9x8x3.*uri: gs://my_bucket/photos"):
        scorer.query(
            IMAGES.replace("8, 8, FALSE", "9, 8, FALSE").join(
                ("SELECT * FROM ML.PREDICT(MODEL my_dataset.scorer, ", ")")
            )
        )


def test_values_outside_zero_one_are_refused(scorer: Engine):
    sql = IMAGES.replace("ML.RESIZE_IMAGE(", "ML.CONVERT_COLOR_SPACE(ML.RESIZE_IMAGE(").replace(
        "FALSE)", "FALSE), 'YIQ')"
    )
    with pytest.raises(ModelError, match=r"values in \[0, 1\], got \[-"):
        scorer.query(f"SELECT * FROM ML.PREDICT(MODEL my_dataset.scorer, {sql})")


def test_uint8_models_take_converted_images(engine: Engine, uint8_model, photos):
    engine.query(
        "CREATE MODEL my_dataset.summer OPTIONS(model_type = 'ONNX', model_path = 'gs://my_bucket/models/summer.onnx')"
    )
    inner = "SELECT uri, {} AS pixels FROM my_dataset.object_table WHERE content_type = 'image/png'"
    resized = "ML.RESIZE_IMAGE(ML.DECODE_IMAGE(data), 4, 4, FALSE)"
    with pytest.raises(ModelError, match=r"ML.CONVERT_IMAGE_TYPE"):
        engine.query(f"SELECT * FROM ML.PREDICT(MODEL my_dataset.summer, ({inner.format(resized)}))")
    df = engine.query(
        f"SELECT total FROM ML.PREDICT(MODEL my_dataset.summer, ({inner.format(f'ML.CONVERT_IMAGE_TYPE({resized})')}))"
    )
    image = resize_image(decode_image((photos / "photos" / "more" / "coffee.png").read_bytes()), 4, 4, False)
    expected = np.clip(np.floor(image.values() * 255.5), 0, 255).sum()
    assert df.total[0] == expected


def test_create_model_rules(engine: Engine, scorer_model):
    create = (
        "CREATE {} MODEL my_dataset.m OPTIONS(model_type = 'ONNX', model_path = 'gs://my_bucket/models/scorer.onnx')"
    )
    engine.query(create.format(""))
    with pytest.raises(AlreadyExistsError):
        engine.query(create.format(""))
    engine.query(
        create.replace("CREATE {}", "CREATE MODEL IF NOT EXISTS").replace(" MODEL my_dataset", " my_dataset", 1)
    )
    engine.query(create.format("OR REPLACE"))
    with pytest.raises(SQLError, match="together"):
        engine.query(create.replace("CREATE {} MODEL", "CREATE OR REPLACE MODEL IF NOT EXISTS"))
    with pytest.raises(AlreadyExistsError, match="same name"):
        engine.query("CREATE TABLE my_dataset.m AS (SELECT 1 AS x)")
    with pytest.raises(AlreadyExistsError, match="same name"):
        engine.query(create.format("").replace("my_dataset.m ", "my_dataset.object_table "))
    with pytest.raises(SQLError, match="is a model"):
        engine.query("SELECT * FROM my_dataset.m")
    with pytest.raises(SQLError, match=r"drop it with DROP MODEL my_dataset.m"):
        engine.query("DROP TABLE my_dataset.m")
    engine.query("DROP MODEL my_dataset.m; DROP MODEL IF EXISTS my_dataset.m")
    with pytest.raises(NotFoundError, match=r"Model my_dataset.m"):
        engine.query("DROP MODEL my_dataset.m")


@pytest.mark.parametrize(
    ("options", "error", "message"),
    [
        (
            "model_type = 'ONNX', model_path = 'gs://my_bucket/models/none.onnx'",
            NotFoundError,
            r"model_path 'gs://my_bucket/models/none.onnx'\): file .*none.onnx does not exist",
        ),
        (
            "model_type = 'ONNX', model_path = 'gs://my_bucket/notes.txt'",
            ModelError,
            r"my_dataset.bad \(model_path 'gs://my_bucket/notes.txt'\): ONNX model file notes.txt should end in .onnx",
        ),
        (
            "model_type = 'ONNX', model_path = 'gs://my_bucket/photos/*'",
            ModelError,
            r"exactly one .onnx file; found none among: grace_hopper.jpg, more/coffee.png",
        ),
        (
            "model_type = 'TENSORFLOW', model_path = 'gs://my_bucket/models/scorer.onnx'",
            ModelError,
            r"SavedModel folders: write model_path as 'gs://bucket/folder/\*'",
        ),
        ("model_type = 'PYTORCH', model_path = 'gs://my_bucket/models/scorer.onnx'", ModelError, "TENSORFLOW_LITE"),
        ("model_type = 'ONNX'", SQLError, "model_path"),
        ("model_path = 'gs://my_bucket/models/scorer.onnx'", SQLError, "model_type"),
    ],
)
def test_bad_models_create_nothing(engine: Engine, scorer_model, options, error, message):
    with pytest.raises(error, match=message) as raised:
        engine.query(f"CREATE MODEL my_dataset.bad OPTIONS({options})")
    assert "bqml_models_" not in str(raised.value)  # the user's path, never the engine's frozen copy
    assert engine.table_kind("my_dataset.bad") is None


def test_models_are_frozen_and_persist(photos, scorer_model, uint8_model, tmp_path):
    workspace = tmp_path / "ws"
    first = Engine(workspace=workspace, buckets={"my_bucket": photos})
    first.query(
        "CREATE SCHEMA d; CREATE MODEL d.m OPTIONS(model_type = 'ONNX', model_path = 'gs://my_bucket/models/scorer.onnx')"
    )
    first.close()
    scorer_model.write_bytes(uint8_model.read_bytes())  # editing the source changes nothing
    second = Engine(workspace=workspace, buckets={"my_bucket": photos})
    assert [f.name for f in second.describe_model("d.m").schema.features] == ["image", "bias"]


def test_a_model_whose_frozen_copy_is_gone_says_how_to_recover(photos, scorer_model, tmp_path):
    workspace = tmp_path / "ws"
    with_model = Engine(workspace=workspace, buckets={"my_bucket": photos})
    with_model.query("""CREATE SCHEMA my_dataset;
        CREATE EXTERNAL TABLE my_dataset.object_table OPTIONS(object_metadata = 'SIMPLE', uris = ['gs://my_bucket/*']);
        CREATE MODEL my_dataset.scorer OPTIONS(model_type = 'ONNX', model_path = 'gs://my_bucket/models/scorer.onnx')""")
    with_model.close()
    shutil.rmtree(workspace / "models")
    engine = Engine(workspace=workspace, buckets={"my_bucket": photos})
    with pytest.raises(
        ModelError,
        match=r"my_dataset.scorer: its frozen copy .* is gone .* CREATE OR REPLACE MODEL "
        r"\(model_path 'gs://my_bucket/models/scorer.onnx'\)",
    ):
        engine.query(f"SELECT * FROM ML.PREDICT(MODEL my_dataset.scorer, {IMAGES})")
