"""ML.PREDICT through SQL on the real MobileNet v1, in all three formats.

docs/behaviour.md#create-model, #ml-predict and #sample-data say what is expected.

The runtime tests prove each format loads and answers; these prove the user's path: an object
table of real photos, CREATE MODEL from a gs:// path, ML.PREDICT in SQL, and SQL on its output.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest

from bqml_magic import Engine, demo, samples
from bqml_magic.errors import ModelError
from bqml_magic.images import decode_image, resize_image
from bqml_magic.samples.mobilenet import SIGNATURES

pytestmark = pytest.mark.integration

FORMATS = tuple(samples.MODEL_FILES)
PREDICT = """SELECT * FROM ML.PREDICT(MODEL `my_dataset.{model}`,
  (SELECT uri, ML.RESIZE_IMAGE(ML.DECODE_IMAGE(data), {size}, {size}, FALSE) AS {feature}
   FROM `my_dataset.object_table`))
ORDER BY uri"""


def model_name(variant: str, model_type: str) -> str:
    return f"{variant}_{model_type.lower()}"


@pytest.fixture(scope="module")
def models(sample_set: samples.Samples, tmp_path_factory) -> Engine:
    """An engine over the sample bucket with both variants imported in every format."""
    engine = Engine(
        workspace=tmp_path_factory.mktemp("workspace"),
        buckets={"my_bucket": sample_set.bucket, "my_models": sample_set.root / "models"},
    )
    engine.query(demo.SETUP)
    for model_type in FORMATS:
        for variant in samples.VARIANTS:
            engine.query(
                f"CREATE MODEL my_dataset.{model_name(variant, model_type)} OPTIONS("
                f"model_type = '{model_type}', model_path = '{sample_set.model_uri(model_type, variant)}')"
            )
    yield engine
    engine.close()


@pytest.mark.parametrize("model_type", FORMATS)
def test_top_class_in_sql_is_the_known_answer(models: Engine, sample_set, model_type):
    top = models.query(demo.TOP_CLASS.format(model=model_name("classifier", model_type)), {"labels": sample_set.labels})
    assert len(top) == len(list((sample_set.bucket / "photos").iterdir()))
    answers = dict(zip(top.uri, top.top_class))
    for photo, expected in samples.KNOWN_CLASSES.items():
        assert answers[f"gs://my_bucket/photos/{photo}"] in expected, photo


@pytest.mark.parametrize("variant", samples.VARIANTS)
def test_outputs_first_and_the_three_formats_agree(models: Engine, variant):
    feature, label = SIGNATURES[variant]
    frames = [models.query(PREDICT.format(model=model_name(variant, t), size=224, feature=feature)) for t in FORMATS]
    width = {"classifier": 1001, "features": 1024}[variant]
    for frame in frames:
        assert list(frame.columns) == [label, "uri", feature]
        assert {len(v) for v in frame[label]} == {width}
        assert frame[feature][0]["dimensions"].tolist() == [224, 224, 3]
    reference = np.stack(frames[0][label])
    for model_type, frame in zip(FORMATS[1:], frames[1:]):
        assert frame.uri.tolist() == frames[0].uri.tolist()
        np.testing.assert_allclose(np.stack(frame[label]), reference, atol=1e-4, err_msg=model_type)


def test_sql_gives_tensorflows_numbers_end_to_end(models: Engine, sample_set):
    """BigQuery's numbers are TensorFlow's: the images fed are TensorFlow's to the bit, and so are
    the scores for the same batch (TensorFlow's own results move by ~1e-6 with the batch's size)."""
    import tensorflow as tf

    frame = models.query(PREDICT.format(model=model_name("classifier", "TENSORFLOW"), size=224, feature="input_1"))
    assert len(frame) <= models.batch_rows  # the model saw one batch of every photo; so does TensorFlow below
    images = []
    for uri, fed in zip(frame.uri, frame.input_1):
        data = (sample_set.bucket / uri.removeprefix("gs://my_bucket/")).read_bytes()
        pixels = tf.cast(tf.io.decode_image(data, channels=3), tf.float32) / 255.0
        images.append(tf.image.resize(pixels, (224, 224), method="bilinear").numpy())
        np.testing.assert_array_equal(fed["values"], images[-1].reshape(-1), err_msg=uri)
    serve = tf.saved_model.load(str(sample_set.model_path("TENSORFLOW", "classifier"))).signatures["serving_default"]
    expected = serve(input_1=tf.constant(np.stack(images)))["predictions"].numpy()
    np.testing.assert_array_equal(np.stack(frame.predictions), expected)


@pytest.mark.parametrize("model_type", ["ONNX", "TENSORFLOW_LITE"])
def test_a_row_scores_the_same_in_any_batch(models: Engine, sample_set, model_type, tmp_path):
    """ONNX Runtime and LiteRT give a row the same bits whatever rows share its batch, which lets
    the engine cut a batch into small calls (docs/behaviour.md#ml-predict-throughput)."""
    sql = PREDICT.format(model=model_name("classifier", model_type), size=224, feature="input_1")
    buckets = {"my_bucket": sample_set.bucket, "my_models": sample_set.root / "models"}
    one_by_one = Engine(workspace=tmp_path, buckets=buckets, batch_rows=1)
    try:
        one_by_one.query(demo.SETUP)
        one_by_one.query(
            f"CREATE MODEL my_dataset.{model_name('classifier', model_type)} OPTIONS(model_type = '{model_type}', "
            f"model_path = '{sample_set.model_uri(model_type, 'classifier')}')"
        )
        single = one_by_one.query(sql)
    finally:
        one_by_one.close()
    together = models.query(sql)
    assert len(together) <= models.batch_rows  # one batch of every photo, against batches of one
    np.testing.assert_array_equal(np.stack(single.predictions), np.stack(together.predictions))


def test_a_fixed_size_model_refuses_other_sizes(models: Engine):
    with pytest.raises(
        ModelError,
        match=r"expects 'input_1' images of 224x224x3 \(HxWxC\), got 200x200x3 "
        r"\(uri: gs://my_bucket/photos/astronaut.png\)",
    ):
        models.query(PREDICT.format(model=model_name("classifier", "TENSORFLOW_LITE"), size=200, feature="input_1"))


def test_an_image_and_a_string_joined_from_another_table(engine: Engine, save_tagger, photos):
    save_tagger(photos / "models" / "tagger")
    df = engine.query("""
        CREATE MODEL my_dataset.tagger OPTIONS (model_type = 'TENSORFLOW', model_path = 'gs://my_bucket/models/tagger/*');
        CREATE TABLE my_dataset.tags AS
          SELECT 'gs://my_bucket/photos/grace_hopper.jpg' AS uri, 'admiral' AS tag
          UNION ALL SELECT 'gs://my_bucket/photos/more/coffee.png', 'espresso';
        SELECT * FROM ML.PREDICT(MODEL my_dataset.tagger,
          (SELECT o.uri, ML.RESIZE_IMAGE(ML.DECODE_IMAGE(o.data), 8, 8, FALSE) AS image, t.tag
           FROM my_dataset.object_table AS o JOIN my_dataset.tags AS t USING (uri)))
        ORDER BY uri""")
    assert list(df.columns) == ["bright", "length", "uri", "image", "tag"]
    assert df.length.tolist() == [7, 8] and df.tag.tolist() == ["admiral", "espresso"]
    means = [
        resize_image(decode_image((photos / uri.removeprefix("gs://my_bucket/")).read_bytes()), 8, 8, False)
        .as_float32()
        .mean()
        for uri in df.uri
    ]
    assert df.bright.tolist() == [bool(m > 0.5) for m in means]


def test_tensorflow_is_imported_only_for_tensorflow_models(sample_set, tmp_path):
    """ONNX and TFLite models run without TensorFlow: a fresh process must not import it."""
    script = textwrap.dedent("""
        import sys
        from bqml_magic import Engine, demo, samples
        built = samples.build()
        engine = Engine(buckets={"my_bucket": built.bucket, "my_models": built.root / "models"})
        engine.query(demo.SETUP)
        for model_type in ("ONNX", "TENSORFLOW_LITE"):
            demo.classify(engine, built, model_type)
        print("tensorflow" in sys.modules, end=" ")
        demo.classify(engine, built, "TENSORFLOW")
        print("tensorflow" in sys.modules)
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["False", "True"]
