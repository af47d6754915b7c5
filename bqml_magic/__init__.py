"""bqml_magic: BigQuery ML image inference on your own machine, in a Jupyter notebook.

``%load_ext bqml_magic`` registers the ``%%bqml`` magic; ``Engine`` runs BigQuery SQL from
Python. Only these names are public; heavy modules are imported when first used, so loading
the extension stays fast.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from bqml_magic.errors import BQMLError

if TYPE_CHECKING:
    from bqml_magic.config import context
    from bqml_magic.engine import Engine

__all__ = ["BQMLError", "Engine", "context", "load_ipython_extension", "unload_ipython_extension"]


def __getattr__(name: str) -> Any:
    if name == "Engine":
        from bqml_magic.engine import Engine

        return Engine
    if name == "context":
        from bqml_magic.config import context

        return context
    raise AttributeError(f"module 'bqml_magic' has no attribute {name!r}")


def load_ipython_extension(ipython: Any) -> None:
    """``%load_ext bqml_magic``: register %%bqml / %bqml."""
    from bqml_magic.magic import BQMLMagics

    ipython.register_magics(BQMLMagics)


def unload_ipython_extension(ipython: Any) -> None:
    """Nothing to tear down: engines close with their workspace."""
