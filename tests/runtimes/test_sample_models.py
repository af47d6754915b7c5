"""The real MobileNet v1 in all three formats: schema, batching, known ImageNet answers."""

from __future__ import annotations

import numpy as np
import pytest

from bqml_magic import samples
from bqml_magic.runtimes.registry import inspect_model

FORMATS = tuple(samples.MODEL_FILES)

pytestmark = pytest.mark.integration

SIGNATURES = {
    "classifier": (("input_1", (None, 224, 224, 3)), ("predictions", (None, 1001))),
    "features": (("inputs", (None, 224, 224, 3)), ("feature_vector", (None, 1024))),
}


@pytest.mark.parametrize("variant", SIGNATURES)
@pytest.mark.parametrize("model_type", FORMATS)
def test_schema(sample_set, model_type, variant):
    schema = inspect_model(model_type, sample_set.model_path(model_type, variant))
    (feature, feature_shape), (label, label_shape) = SIGNATURES[variant]
    assert [(f.name, f.dtype, f.shape, f.bq_type) for f in schema.features] == [
        (feature, "float32", feature_shape, "ARRAY<FLOAT64>")
    ]
    assert [(s.name, s.dtype, s.shape, s.bq_type) for s in schema.labels] == [
        (label, "float32", label_shape, "ARRAY<FLOAT64>")
    ]
    assert feature in schema.signature_text and label in schema.signature_text


@pytest.mark.parametrize("model_type", FORMATS)
def test_batch_equals_single_calls(loaded, known_photos, model_type):
    runtime = loaded(model_type, "classifier")
    assert runtime.max_batch is None
    images = np.stack(list(known_photos.values()))
    batch = runtime.run({"input_1": images})["predictions"]
    singles = np.concatenate([runtime.run({"input_1": image[None]})["predictions"] for image in images])
    assert batch.shape == (3, 1001)
    np.testing.assert_allclose(batch, singles, atol=1e-5)


@pytest.mark.parametrize("model_type", FORMATS)
def test_known_imagenet_answers(sample_set, loaded, known_photos, model_type):
    probabilities = loaded(model_type, "classifier").run({"input_1": np.stack(list(known_photos.values()))})
    top = [sample_set.labels[i] for i in probabilities["predictions"].argmax(axis=1)]
    for (photo, expected), label in zip(samples.KNOWN_CLASSES.items(), top):
        assert label in expected, (photo, label)


@pytest.mark.parametrize("variant", SIGNATURES)
def test_formats_agree(loaded, known_photos, variant):
    (feature, _), (label, _) = SIGNATURES[variant]
    images = np.stack(list(known_photos.values()))
    results = [loaded(model_type, variant).run({feature: images})[label] for model_type in FORMATS]
    for other in results[1:]:
        np.testing.assert_allclose(other, results[0], atol=1e-4)
