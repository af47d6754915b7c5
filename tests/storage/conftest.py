"""Real object-store servers on loopback: a GCS emulator and moto's S3, each started once per session
in its own process group, and fault-injecting proxies in front of them (``storage_servers``).

Every test here runs under ``storage_servers.client_env()``: gcsfs and s3fs only reach loopback,
with test keys, never a cloud metadata server or the developer's credentials. (What gcsfs and
google-auth read once, at import, the suite's top ``conftest.py`` sets before anything imports them.)
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator

import pytest
import storage_servers
from storage_servers import FaultProxy, Server


@pytest.fixture(autouse=True)
def _storage_client_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """``client_env()`` for the test, and none of the variables that would send a client elsewhere."""
    environ: dict[str, str] = dict(os.environ)
    storage_servers.apply_client_env(environ)
    for key in set(os.environ) - set(environ):
        monkeypatch.delenv(key)
    for key, value in environ.items():
        if os.environ.get(key) != value:
            monkeypatch.setenv(key, value)


@pytest.fixture(scope="session")
def gcs_server() -> Iterator[Server]:
    """gcp-storage-emulator on 127.0.0.1 (in memory) for the session; ``.endpoint``, ``.reset()``."""
    server = storage_servers.start_gcs_emulator()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def s3_server() -> Iterator[Server]:
    """moto's S3 server on 127.0.0.1 for the session; ``.endpoint``, ``.reset()``."""
    server = storage_servers.start_s3_server()
    try:
        yield server
    finally:
        server.stop()


def _bucket_name() -> str:
    return f"test-{uuid.uuid4().hex[:16]}"  # valid for GCS and S3: 3-63 lowercase letters, digits, dashes


@pytest.fixture
def gcs_bucket(gcs_server: Server) -> str:
    """A new, empty bucket on the session's GCS emulator (a fresh name per test)."""
    name = _bucket_name()
    storage_servers.create_gcs_bucket(gcs_server.endpoint, name, exist_ok=False)
    return name


@pytest.fixture
def s3_bucket(s3_server: Server) -> str:
    """A new, empty bucket on the session's S3 server (a fresh name per test)."""
    name = _bucket_name()
    storage_servers.create_s3_bucket(s3_server.endpoint, name, exist_ok=False)
    return name


@pytest.fixture
def fault_proxy() -> Iterator[Callable[..., FaultProxy]]:
    """Starts ``FaultProxy(upstream)`` proxies for the test and stops them all after it.

    ``fault_proxy(gcs_server)`` or ``fault_proxy("http://127.0.0.1:PORT", flavor="s3")``; the
    flavor (error body format) follows the server's kind when a ``Server`` is given.
    """
    started: list[FaultProxy] = []

    def start(upstream: Server | str, flavor: str | None = None) -> FaultProxy:
        if isinstance(upstream, Server):
            proxy = FaultProxy(upstream.endpoint, flavor or upstream.kind)
        else:
            proxy = FaultProxy(upstream, flavor or "auto")
        started.append(proxy)
        return proxy

    try:
        yield start
    finally:
        for proxy in started:
            proxy.stop()


@pytest.fixture
def gcs_proxy(gcs_server: Server, fault_proxy: Callable[..., FaultProxy]) -> FaultProxy:
    """A ``FaultProxy`` in front of the session's GCS emulator (no faults until told)."""
    return fault_proxy(gcs_server)


@pytest.fixture
def s3_proxy(s3_server: Server, fault_proxy: Callable[..., FaultProxy]) -> FaultProxy:
    """A ``FaultProxy`` in front of the session's S3 server (no faults until told)."""
    return fault_proxy(s3_server)
