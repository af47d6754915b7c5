"""ML.DECODE_IMAGE, ML.RESIZE_IMAGE, ML.CONVERT_COLOR_SPACE, ML.CONVERT_IMAGE_TYPE."""

from __future__ import annotations

from bqml_magic import images
from bqml_magic.functions.base import SAME_AS_INPUT, MLFunction, image_arg
from bqml_magic.images.cost import decode_cost, per_pixel_cost, resize_cost

DECODE_IMAGE = MLFunction(
    "ML.DECODE_IMAGE", ("bytes",), "image", lambda data: images.decode_image(data), cost=decode_cost
)
RESIZE_IMAGE = MLFunction(
    "ML.RESIZE_IMAGE",
    ("image", "int", "int", "bool"),
    SAME_AS_INPUT,
    lambda img, h, w, keep: images.resize_image(image_arg(img), h, w, keep),
    cost=resize_cost,
)
CONVERT_COLOR_SPACE = MLFunction(
    "ML.CONVERT_COLOR_SPACE",
    ("image", "string"),
    "image",
    lambda img, target: images.convert_color_space(image_arg(img), target),
    cost=per_pixel_cost,
)
CONVERT_IMAGE_TYPE = MLFunction(
    "ML.CONVERT_IMAGE_TYPE",
    ("image",),
    "int_image",
    lambda img: images.convert_image_type(image_arg(img)),
    cost=per_pixel_cost,
)
