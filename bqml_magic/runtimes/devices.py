"""Where models run: ``'cpu'``, the default, or an accelerator the installed runtime offers.

On the CPU the numbers are BigQuery's (docs/behaviour.md#devices). A GPU is faster for big
models and batches, and its kernels round differently: results may differ in the last bits.
Asking for a device the runtime does not offer is an error that says what it offers and
what to install, never a silent fall back to the CPU.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from bqml_magic.errors import ModelError

#: device kind -> (ONNX Runtime execution provider, the package that brings it)
ONNX_PROVIDERS = {
    "cpu": ("CPUExecutionProvider", "onnxruntime"),
    "cuda": ("CUDAExecutionProvider", "onnxruntime-gpu"),
    "tensorrt": ("TensorrtExecutionProvider", "onnxruntime-gpu"),
    "rocm": ("ROCMExecutionProvider", "onnxruntime-rocm"),
    "migraphx": ("MIGraphXExecutionProvider", "onnxruntime-migraphx"),
    "dml": ("DmlExecutionProvider", "onnxruntime-directml"),
    "openvino": ("OpenVINOExecutionProvider", "onnxruntime-openvino"),
    "coreml": ("CoreMLExecutionProvider", "onnxruntime (on macOS)"),
}
#: kinds whose provider takes a ``device_id`` option (``'cuda:1'``)
_INDEXED = {"cuda", "tensorrt", "rocm", "migraphx", "dml"}
#: kinds TensorFlow runs as its ``/GPU:n`` devices (its CUDA and ROCm builds)
_TENSORFLOW_GPUS = {"cuda", "rocm"}


@dataclass(frozen=True)
class Device:
    """``kind`` is a key of ``ONNX_PROVIDERS``; ``index`` picks one of several GPUs."""

    kind: str = "cpu"
    index: int = 0

    def __str__(self) -> str:
        return self.kind if self.index == 0 and self.kind not in _INDEXED else f"{self.kind}:{self.index}"

    @property
    def is_cpu(self) -> bool:
        return self.kind == "cpu"


CPU = Device()


def parse_device(value: str | Device) -> Device:
    """``'cpu'``, ``'cuda'``, ``'cuda:1'``, ``'rocm'``...: a Device, or an error listing the choices."""
    if isinstance(value, Device):
        return value
    found = re.fullmatch(r"\s*([a-z]+)(?::(\d+))?\s*", str(value).lower())
    if found is None or found[1] not in ONNX_PROVIDERS or (found[2] and found[1] not in _INDEXED):
        kinds = ", ".join(f"'{k}'" for k in ONNX_PROVIDERS)
        raise ModelError(f"Unknown device {value!r}: use one of {kinds} (a GPU number as in 'cuda:1')")
    return Device(found[1], int(found[2] or 0))


def onnx_providers(device: Device, available: list[str]) -> list[str | tuple[str, dict[str, str]]]:
    """The session's providers: the device's, then the CPU for any operator it lacks."""
    provider, package = ONNX_PROVIDERS[device.kind]
    if provider not in available:
        raise ModelError(
            f"device '{device}' needs ONNX Runtime's {provider}; the installed ONNX Runtime offers "
            f"{', '.join(available)}. Install {package} in place of onnxruntime, or use device='cpu'"
        )
    if device.is_cpu:
        return [provider]
    options = {"device_id": str(device.index)} if device.kind in _INDEXED else {}
    return [(provider, options), "CPUExecutionProvider"]


def tensorflow_device(device: Device, gpus: int) -> str:
    """The ``tf.device`` name to run under: the CPU unless a GPU is asked for and seen."""
    if device.is_cpu:
        return "/CPU:0"
    if device.kind not in _TENSORFLOW_GPUS:
        raise ModelError(f"device '{device}' is not one TensorFlow runs on: use 'cpu', 'cuda' or 'rocm'")
    if device.index >= gpus:
        raise ModelError(
            f"device '{device}': TensorFlow sees {gpus} GPU(s) on this machine (tensorflow-cpu sees none; "
            "install the 'tensorflow' package built for your GPU), or use device='cpu'"
        )
    return f"/GPU:{device.index}"


def tflite_device(device: Device) -> None:
    """LiteRT's GPU delegate is for Android and iOS: TFLite models run on the CPU here."""
    if not device.is_cpu:
        raise ModelError(
            f"device '{device}': TENSORFLOW_LITE models run on the CPU here (LiteRT's GPU delegate is for "
            "Android and iOS); use device='cpu', or import the model as ONNX or TENSORFLOW"
        )
