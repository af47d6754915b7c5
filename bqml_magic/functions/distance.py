"""ML.DISTANCE(v1, v2 [, 'EUCLIDEAN' | 'MANHATTAN' | 'COSINE'])."""

from __future__ import annotations

from bqml_magic import images
from bqml_magic.functions.base import MLFunction

DISTANCE = MLFunction(
    "ML.DISTANCE",
    ("array", "array", "string"),
    "float",
    lambda a, b, metric="EUCLIDEAN": images.distance(a, b, metric),
    required=2,
)
