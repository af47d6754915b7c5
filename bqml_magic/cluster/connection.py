"""Joining a Ray cluster from the driver: Ray is imported here, on the first query that needs it."""

from __future__ import annotations

import logging
import threading
from types import ModuleType

from bqml_magic.errors import BQMLError

_lock = threading.Lock()
_joined: str | None = None


def ray_cluster(address: str) -> ModuleType:
    """The ``ray`` module, this process joined to the cluster at ``address`` (anything
    ``ray.init(address=...)`` takes: ``'auto'``, ``'ray://head:10001'``, ``'host:6379'``, or
    ``'local'`` for a cluster of this machine alone). A process is the driver of one cluster."""
    global _joined
    try:
        import ray
        import ray.data  # configures its logger on import: quietened below, once that is done
    except ImportError:
        raise BQMLError(
            f"ray_address={address!r} needs Ray: pip install 'bqml_magic[ray]' (and on every node of the cluster)"
        ) from None
    with _lock:
        if ray.is_initialized():
            if _joined not in (None, address):
                raise BQMLError(
                    f"This process already drives the Ray cluster at {_joined!r}; one process drives one cluster "
                    f"(ray_address={address!r} needs a new kernel)"
                )
            return ray
        try:
            ray.init(address=address, log_to_driver=False, include_dashboard=False, configure_logging=False)
        except (ConnectionError, RuntimeError, ValueError) as exc:
            raise BQMLError(f"Cannot join the Ray cluster at {address!r}: {exc}") from exc
        _joined = address
        logging.getLogger("ray.data").setLevel(logging.ERROR)  # its notes are for its own users; ours are errors
    return ray
