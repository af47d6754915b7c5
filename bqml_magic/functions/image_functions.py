"""ML.DECODE_IMAGE, ML.RESIZE_IMAGE, ML.CONVERT_COLOR_SPACE, ML.CONVERT_IMAGE_TYPE."""

from __future__ import annotations

from bqml_magic import images
from bqml_magic.functions.base import SAME_AS_INPUT, MLFunction, image_arg

DECODE_IMAGE = MLFunction("ML.DECODE_IMAGE", ("bytes",), "image", lambda data: images.decode_image(data))
RESIZE_IMAGE = MLFunction(
    "ML.RESIZE_IMAGE",
    ("image", "int", "int", "bool"),
    SAME_AS_INPUT,
    lambda img, h, w, keep: images.resize_image(image_arg(img), int(h), int(w), bool(keep)),
)
CONVERT_COLOR_SPACE = MLFunction(
    "ML.CONVERT_COLOR_SPACE",
    ("image", "string"),
    "image",
    lambda img, target: images.convert_color_space(image_arg(img), target),
)
CONVERT_IMAGE_TYPE = MLFunction(
    "ML.CONVERT_IMAGE_TYPE", ("image",), "int_image", lambda img: images.convert_image_type(image_arg(img))
)
