"""The ``device`` setting: which provider or device each runtime is given, and the errors on a
machine without the GPU asked for (this one: no GPU, onnxruntime and tensorflow-cpu).

docs/behaviour.md#devices says what is expected.
"""

from __future__ import annotations

import pytest

from bqml_magic import Engine, context, samples
from bqml_magic.errors import ModelError
from bqml_magic.runtimes.devices import (
    CPU,
    Device,
    onnx_providers,
    parse_device,
    tensorflow_device,
    tflite_device,
)

CPU_ONLY = ["CPUExecutionProvider"]
WITH_CUDA = ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"]


@pytest.mark.parametrize(
    ("text", "device"),
    [
        ("cpu", CPU),
        ("CUDA", Device("cuda")),
        ("cuda:1", Device("cuda", 1)),
        (" rocm:0 ", Device("rocm")),
        ("openvino", Device("openvino")),
    ],
)
def test_device_names(text, device):
    assert parse_device(text) == device


@pytest.mark.parametrize("text", ["tpu", "gpu", "cpu:1", "coreml:2", "cuda:x", ""])
def test_unknown_device_lists_the_choices(text):
    with pytest.raises(ModelError, match=r"Unknown device .*'cpu', 'cuda'"):
        parse_device(text)


def test_cpu_is_the_cpu_provider_alone():
    assert onnx_providers(CPU, CPU_ONLY) == ["CPUExecutionProvider"]


def test_a_gpu_provider_comes_first_with_its_device_number_and_the_cpu_behind_it():
    assert onnx_providers(parse_device("cuda:1"), WITH_CUDA) == [
        ("CUDAExecutionProvider", {"device_id": "1"}),
        "CPUExecutionProvider",
    ]
    assert onnx_providers(parse_device("openvino"), ["OpenVINOExecutionProvider", *CPU_ONLY]) == [
        ("OpenVINOExecutionProvider", {}),
        "CPUExecutionProvider",
    ]


def test_a_missing_provider_says_what_is_installed_and_what_to_install():
    with pytest.raises(ModelError) as caught:
        onnx_providers(parse_device("cuda"), CPU_ONLY)
    message = str(caught.value)
    assert "CUDAExecutionProvider" in message and "offers CPUExecutionProvider" in message
    assert "onnxruntime-gpu" in message and "device='cpu'" in message


def test_tensorflow_devices():
    assert tensorflow_device(CPU, 0) == "/CPU:0"
    assert tensorflow_device(parse_device("cuda:1"), 2) == "/GPU:1"
    with pytest.raises(ModelError, match=r"TensorFlow sees 0 GPU\(s\)"):
        tensorflow_device(parse_device("cuda"), 0)
    with pytest.raises(ModelError, match="not one TensorFlow runs on"):
        tensorflow_device(parse_device("openvino"), 1)


def test_tflite_runs_on_the_cpu_only():
    tflite_device(CPU)
    with pytest.raises(ModelError, match="TENSORFLOW_LITE models run on the CPU here"):
        tflite_device(parse_device("cuda"))


def test_engine_refuses_an_unknown_device_before_opening_anything(tmp_path):
    with pytest.raises(ModelError, match="Unknown device 'tpu'"):
        Engine(workspace=tmp_path / "ws", device="tpu")
    assert not (tmp_path / "ws").exists()


def test_context_device_reaches_the_engine(monkeypatch):
    monkeypatch.setattr(context, "device", "cuda")
    try:
        assert context.engine()._services.models.device == Device("cuda")
    finally:
        context.close()


PREDICT = """SELECT * FROM ML.PREDICT(MODEL d.m,
  (SELECT uri, ML.RESIZE_IMAGE(ML.DECODE_IMAGE(data), 224, 224, FALSE) AS {feature} FROM d.photos))"""


@pytest.mark.integration
@pytest.mark.parametrize(
    ("model_type", "expected"),
    [
        ("ONNX", r"needs ONNX Runtime's CUDAExecutionProvider.*onnxruntime-gpu"),
        ("TENSORFLOW_LITE", "TENSORFLOW_LITE models run on the CPU here"),
        ("TENSORFLOW", r"TensorFlow sees 0 GPU\(s\)"),
    ],
)
def test_a_missing_gpu_is_a_clear_error(sample_set: samples.Samples, tmp_path, model_type, expected):
    """A model made on the CPU, then its workspace opened with device='cuda': ML.PREDICT and
    CREATE MODEL (which loads the model it imports) both say what is missing."""
    buckets = {"b": sample_set.bucket, "m": sample_set.root / "models"}
    create = (
        f"CREATE OR REPLACE MODEL d.m OPTIONS (model_type = '{model_type}', "
        f"model_path = '{sample_set.model_uri(model_type, 'classifier', bucket='m')}')"
    )
    engine = Engine(workspace=tmp_path, buckets=buckets)
    engine.query(
        "CREATE SCHEMA d; CREATE EXTERNAL TABLE d.photos WITH CONNECTION DEFAULT "
        f"OPTIONS (object_metadata = 'SIMPLE', uris = ['gs://b/photos/*']); {create}"
    )
    engine.close()
    engine = Engine(workspace=tmp_path, buckets=buckets, device="cuda")
    try:
        with pytest.raises(ModelError, match=expected):
            engine.query(PREDICT.format(feature="input_1"))
        with pytest.raises(ModelError, match=expected):
            engine.query(create)
        assert engine.describe_model("d.m").model_type == model_type  # the failed replace kept the model
    finally:
        engine.close()
