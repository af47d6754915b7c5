"""bqml_magic: BigQuery ML image inference on your own machine, in a Jupyter notebook.

``%load_ext bqml_magic`` registers the ``%%bqml`` magic; ``Engine`` runs BigQuery SQL from
Python. Only these names are public; heavy modules are imported when first used, so loading
the extension stays fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from bqml_magic.errors import BQMLError

__version__ = "0.2.0"

if TYPE_CHECKING:
    from bqml_magic.config import context
    from bqml_magic.engine import Engine

__all__ = ["BQMLError", "Engine", "__version__", "context", "load_ipython_extension", "unload_ipython_extension"]


def __getattr__(name: str) -> Any:
    if name == "Engine":
        from bqml_magic.engine import Engine

        return Engine
    if name == "context":
        from bqml_magic.config import context

        return context
    raise AttributeError(f"module 'bqml_magic' has no attribute {name!r}")


def load_ipython_extension(ipython: Any) -> None:
    """``%load_ext bqml_magic``: register %%bqml / %bqml, complete SQL names in their cells, and show
    a model's description (``Engine.describe_model``) as its schema inspector."""
    from bqml_magic.completion import register as register_completion
    from bqml_magic.display.schema import SchemaInspector
    from bqml_magic.errors import speak_notebook
    from bqml_magic.magic import BQMLMagics
    from bqml_magic.model_info import ModelInfo

    ipython.register_magics(BQMLMagics)
    register_completion(ipython)
    speak_notebook()
    formatter = ipython.display_formatter.mimebundle_formatter
    formatter.for_type(ModelInfo, lambda info, include=None, exclude=None: SchemaInspector(info)._repr_mimebundle_())


def unload_ipython_extension(ipython: Any) -> None:
    """Nothing to tear down: engines close with their workspace."""
