"""ML.DECODE_IMAGE, ML.RESIZE_IMAGE, ML.CONVERT_COLOR_SPACE, ML.CONVERT_IMAGE_TYPE."""
from __future__ import annotations

from bqml_magic import images
from bqml_magic.functions.base import MLFunction

DECODE_IMAGE = MLFunction("ML.DECODE_IMAGE", ("bytes",), "image", images.decode_image)
RESIZE_IMAGE = MLFunction(
    "ML.RESIZE_IMAGE", ("image", "int", "int", "bool"), "image",
    lambda img, h, w, keep: images.resize_image(img, int(h), int(w), bool(keep)),
)
CONVERT_COLOR_SPACE = MLFunction("ML.CONVERT_COLOR_SPACE", ("image", "string"), "image", images.convert_color_space)
CONVERT_IMAGE_TYPE = MLFunction("ML.CONVERT_IMAGE_TYPE", ("image",), "image", images.convert_image_type)
