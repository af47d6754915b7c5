"""ML.CONVERT_IMAGE_TYPE: a FLOAT64 image in [0, 1] to INT64 values in 0..255.

The rule is ``tf.image.convert_image_dtype(x, tf.uint8, saturate=True)``:
``clamp(floor(x * 255.5), 0, 255)``, so decode then convert gives back every byte.
"""

from __future__ import annotations

import numpy as np

from bqml_magic.errors import ImageError
from bqml_magic.images.image import Image

_INT_SIGNATURE_ERROR = (
    "No matching signature for function ML.CONVERT_IMAGE_TYPE for argument types: "
    "STRUCT<dimensions ARRAY<INT64>, values ARRAY<INT64>>"
)


def convert_image_type(img: Image) -> Image:
    """The INT64 form of a FLOAT64 image (NULL handled by callers); INT64 input is an error."""
    if not img.is_float:
        raise ImageError(_INT_SIGNATURE_ERROR)
    if img.pixels.dtype == np.uint8:  # byte/255 converts back to the byte itself
        return Image(img.pixels, is_float=False)
    scaled = np.floor(img.pixels.astype(np.float64) * 255.5)
    return Image(np.clip(scaled, 0, 255).astype(np.uint8), is_float=False)
