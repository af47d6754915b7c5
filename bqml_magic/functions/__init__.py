"""The ML.* scalar functions, by their SQL name. Adding one: a module and a line here."""

from __future__ import annotations

from bqml_magic.functions.base import MLFunction
from bqml_magic.functions.distance import DISTANCE
from bqml_magic.functions.image_functions import CONVERT_COLOR_SPACE, CONVERT_IMAGE_TYPE, DECODE_IMAGE, RESIZE_IMAGE

REGISTRY: dict[str, MLFunction] = {
    f.name: f for f in (DECODE_IMAGE, RESIZE_IMAGE, CONVERT_COLOR_SPACE, CONVERT_IMAGE_TYPE, DISTANCE)
}

__all__ = ["REGISTRY", "MLFunction"]
