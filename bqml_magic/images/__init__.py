"""Image kernels of BigQuery ML's image functions: pure numpy, no SQL, no IPython.

Each kernel takes non-NULL values; NULL in gives NULL out is the caller's rule
(``bqml_magic.functions``). Errors are :class:`~bqml_magic.errors.ImageError` (or
``LimitError`` / ``SQLError``) with BigQuery's wording; callers add the function name and uri.
"""

from __future__ import annotations

from bqml_magic.images.batch import map_images
from bqml_magic.images.color import convert_color_space
from bqml_magic.images.convert import convert_image_type
from bqml_magic.images.decode import decode_image
from bqml_magic.images.distance import distance, distance_batch
from bqml_magic.images.image import Image, from_arrow, to_arrow
from bqml_magic.images.probe import probe_image
from bqml_magic.images.resize import resize_image

__all__ = [
    "Image",
    "convert_color_space",
    "convert_image_type",
    "decode_image",
    "distance",
    "distance_batch",
    "from_arrow",
    "map_images",
    "probe_image",
    "resize_image",
    "to_arrow",
]
