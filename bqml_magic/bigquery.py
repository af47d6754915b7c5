"""``%load_ext bqml_magic.bigquery``: ``%%bigquery`` itself runs on this machine, on bqml_magic.

One line at the top of a notebook written for BigQuery, and its cells run unedited: the ``%%bqml``
magic is registered a second time under the name ``bigquery`` (it accepts every ``%%bigquery`` flag,
``magic/options.py``), with ``%bqml`` beside it for mounts and the workspace. Opt-in and said once,
when loaded, because a notebook that quietly stopped talking to BigQuery would surprise its reader.
Google's magics (bigquery-magics, or google-cloud-bigquery's older copy) register ``%%bigquery`` as a
plain cell magic and no line magic; if they were loaded first, ours replaces theirs in this kernel
and ``%unload_ext bqml_magic.bigquery`` puts theirs back.
"""

from __future__ import annotations

from typing import Any

GOOGLE_MODULES = ("bigquery_magics", "google.cloud.bigquery")

_replaced: Any = None
"""The ``%%bigquery`` that was registered before ours (Google's), restored on unload."""


def load_ipython_extension(ipython: Any) -> None:
    """Register ``%%bqml`` / ``%bqml`` (as ``%load_ext bqml_magic``), then ``%%bqml`` as ``%%bigquery``."""
    global _replaced
    ipython.extension_manager.load_extension("bqml_magic")  # nothing to do if it is loaded already
    cell_magics = ipython.magics_manager.magics["cell"]
    ours = cell_magics["bqml"]
    previous = cell_magics.get("bigquery")
    _replaced = previous if previous is not ours else None
    ipython.register_magic_function(ours, magic_kind="cell", magic_name="bigquery")
    print(announcement(_replaced))


def unload_ipython_extension(ipython: Any) -> None:
    """``%%bigquery`` goes back to what it was: Google's magic, or none."""
    global _replaced
    cell_magics = ipython.magics_manager.magics["cell"]
    if _replaced is None:
        cell_magics.pop("bigquery", None)
    else:
        cell_magics["bigquery"] = _replaced
    _replaced = None


def announcement(replaced: Any) -> str:
    """The one line a notebook shows when it loads the drop-in: what changed, and how to go back."""
    if replaced is None:
        return (
            "%%bigquery now runs locally on bqml_magic, not in BigQuery; "
            "to go back: %unload_ext bqml_magic.bigquery, then %load_ext bigquery_magics"
        )
    module = getattr(replaced, "__module__", None) or "another extension"
    owner = "Google's BigQuery magics" if module.startswith(GOOGLE_MODULES) else f"the %%bigquery of {module}"
    return (
        f"%%bigquery now runs locally on bqml_magic, replacing {owner} in this kernel; "
        "to go back: %unload_ext bqml_magic.bigquery"
    )
