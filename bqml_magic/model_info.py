"""What a model is, as a plain value: the Schema tab's content, free of storage and display.

The catalog makes these, the engine returns them (``Engine.describe_model``), the display
shows them; none of them needs the others to read one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from bqml_magic.runtimes.base import ModelSchema


@dataclass(frozen=True)
class ModelInfo:
    """An imported model: its name, type, the ``model_path`` it was imported from, the size of
    its files and its features and labels (``schema``)."""

    name: str
    model_type: str
    source_path: str
    size_bytes: int
    created: datetime
    schema: ModelSchema
