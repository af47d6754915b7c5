"""What a notebook shows: result tables with image previews, the schema inspector.

Nothing here runs SQL; each view takes what the engine returned and renders it as HTML for
notebooks and as plain text for terminals and logs.
"""

from __future__ import annotations


def in_kernel() -> bool:
    """True in a Jupyter kernel, where widgets can render; False in a terminal IPython."""
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and getattr(shell, "kernel", None) is not None
