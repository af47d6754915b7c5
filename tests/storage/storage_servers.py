"""Real object-store servers on loopback for tests, and a proxy that injects faults in front of them.

* ``start_gcs_emulator()`` runs ``gcp-storage-emulator`` (a GCS JSON API server, in memory) and
  ``start_s3_server()`` runs moto in server mode (an S3 REST server), each as a subprocess in its
  own process group bound to 127.0.0.1 on a free port. ``Server.stop()`` ends that group and
  nothing else.
* ``create_gcs_bucket`` / ``upload_gcs_bytes`` / ``upload_gcs_folder`` and their ``s3`` twins
  fill a server with plain HTTP (``http.client``; S3 requests signed with botocore's SigV4 and
  the test keys), so a test of gcsfs or s3fs does not also depend on them to set the stage.
* ``FaultProxy`` forwards to a server and, when told, answers 503/429/403/401/500 in the
  server's own error format, resets the connection (RST, no response), truncates a body, or
  delays; it counts every request it saw.
* ``client_env()`` is the environment under which gcsfs and s3fs talk to loopback only (never a
  cloud metadata server, never a credentials file of the developer's).

The two servers differ in ways a test can meet (measured with gcp-storage-emulator 2026.7.19 and
moto 5.2.5):

* the GCS emulator is a single-threaded ``http.server.HTTPServer`` speaking HTTP/1.0: it serves
  one request at a time and closes every connection;
* it ignores ``maxResults``/``pageToken`` on object listings (one page, no ``nextPageToken``);
* moto (werkzeug's threaded server, one connection per request too) does page ``ListObjectsV2``
  (``MaxKeys``, 1000 by default); it refuses unsigned GET/HEAD of objects and unsigned
  overwrites of an existing key (403, empty body), though not unsigned listings or new keys.
"""

from __future__ import annotations

import atexit
import contextlib
import http.client
import json
import mimetypes
import os
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, MutableMapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import quote, urlsplit

__all__ = [
    "FaultProxy",
    "FaultRule",
    "RecordedRequest",
    "Server",
    "apply_client_env",
    "client_env",
    "create_gcs_bucket",
    "create_s3_bucket",
    "free_port",
    "gcs_filesystem",
    "s3_filesystem",
    "start_gcs_emulator",
    "start_s3_server",
    "upload_gcs_bytes",
    "upload_gcs_folder",
    "upload_s3_bytes",
    "upload_s3_folder",
]

HOST = "127.0.0.1"
GCS_PROJECT = "test-project"
S3_REGION = "us-east-1"
S3_ACCESS_KEY = "testing"
S3_SECRET_KEY = "testing"

# --------------------------------------------------------------------------------------------
# Client environment
# --------------------------------------------------------------------------------------------

_NOWHERE = os.path.join(tempfile.gettempdir(), "storage-servers-no-such-dir", "none")
_CLOSED_PORT = "127.0.0.1:9"  # the discard port: nothing listens on it here, a connect is refused at once


def client_env() -> dict[str, str]:
    """Environment variables under which gcsfs and s3fs only ever talk to the endpoint they are given.

    Set them before ``import gcsfs``: gcsfs reads ``GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT`` once, at
    import time. ``apply_client_env()`` puts them into ``os.environ``.
    """
    return {
        # --- GCS (gcsfs, google-auth) -------------------------------------------------------
        # google-auth's "am I on GCE?" check pings the metadata server (169.254.169.254, 3 s timeout,
        # 3 tries) when it looks for default credentials. google-auth 2.63 compares this variable
        # with "true" exactly: "True" does NOT turn the ping off (measured: one GET / still sent).
        "NO_GCE_CHECK": "true",
        # ...and should anything still ask, the metadata server is a closed loopback port (refused
        # at once). google-auth reads these when it is imported.
        "GCE_METADATA_HOST": _CLOSED_PORT,
        "GCE_METADATA_ROOT": _CLOSED_PORT,
        "GCE_METADATA_IP": _CLOSED_PORT,
        # gcsfs 2026 swaps GCSFileSystem for ExtendedGcsFileSystem unless this is false (read once,
        # at import). That one first asks the Storage Control API, over gRPC with TLS to the same
        # endpoint, for the bucket's layout; against a plain-HTTP emulator every TLS handshake
        # fails and it retries for 60 s, on every operation (not cached when it fails): measured
        # 78 s for a find(), 50 s for a cat_file(), before falling back to the JSON API.
        "GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT": "false",
        # No application-default credentials file of the developer's (token="anon" is used anyway).
        "GOOGLE_APPLICATION_CREDENTIALS": _NOWHERE + ".json",
        "CLOUDSDK_CONFIG": _NOWHERE,
        # Never the mTLS endpoint variant, never a client certificate lookup.
        "GOOGLE_API_USE_MTLS_ENDPOINT": "never",
        "GOOGLE_API_USE_CLIENT_CERTIFICATE": "false",
        # --- S3 (s3fs, aiobotocore, botocore) ------------------------------------------------
        # botocore's last credential provider is the EC2 instance metadata service (IMDS at
        # 169.254.169.254, 1 s timeout, 1 attempt); disabled here.
        "AWS_EC2_METADATA_DISABLED": "true",
        # Explicit test credentials: the env provider is first in botocore's chain, so none of
        # the later ones (SSO, container, IMDS...) is consulted. moto accepts any key.
        "AWS_ACCESS_KEY_ID": S3_ACCESS_KEY,
        "AWS_SECRET_ACCESS_KEY": S3_SECRET_KEY,
        "AWS_SESSION_TOKEN": "testing",
        "AWS_SECURITY_TOKEN": "testing",
        "AWS_DEFAULT_REGION": S3_REGION,
        # No profile of the developer's: both files point at nothing.
        "AWS_SHARED_CREDENTIALS_FILE": _NOWHERE + ".credentials",
        "AWS_CONFIG_FILE": _NOWHERE + ".config",
        # ...and should anything still ask (without the variable above botocore sends PUT
        # /latest/api/token then GET .../security-credentials/), IMDS is a closed loopback port.
        "AWS_EC2_METADATA_SERVICE_ENDPOINT": f"http://{_CLOSED_PORT}",
    }


# Variables a test may have inherited that would send a client elsewhere; apply_client_env drops them.
_UNSET_VARS = (
    "STORAGE_EMULATOR_HOST",
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_S3",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_ROLE_ARN",
)


def apply_client_env(environ: MutableMapping[str, str] | None = None) -> dict[str, str | None]:
    """Puts ``client_env()`` into ``environ`` (``os.environ`` by default), drops the variables that
    would redirect a client, and exempts loopback from any HTTP proxy.

    Returns the previous value of every variable it touched (``None``: was not set).
    """
    env = os.environ if environ is None else environ
    previous: dict[str, str | None] = {}
    for key in _UNSET_VARS:
        previous[key] = env.pop(key, None)
    for key, value in client_env().items():
        previous[key] = env.get(key)
        env[key] = value
    for key in ("NO_PROXY", "no_proxy"):  # http(s)_proxy would otherwise catch 127.0.0.1 too
        previous[key] = env.get(key)
        env[key] = ",".join(filter(None, [env.get(key, ""), "127.0.0.1", "localhost"]))
    return previous


# --------------------------------------------------------------------------------------------
# Servers
# --------------------------------------------------------------------------------------------


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now (the caller binds it next; a race is retried)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


@dataclass(eq=False)
class Server:
    """A server subprocess, leader of its own process group."""

    kind: str  # "gcs" or "s3"
    endpoint: str  # http://127.0.0.1:PORT
    process: subprocess.Popen
    log_path: Path
    started_in: float  # seconds from spawn to the first HTTP answer

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def pgid(self) -> int:
        """The process group it leads (``start_new_session=True``): equal to its pid."""
        return self.process.pid

    @property
    def port(self) -> int:
        return int(self.endpoint.rsplit(":", 1)[1])

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def reset(self) -> None:
        """Deletes every bucket and object (GCS ``/wipe``, moto ``/moto-api/reset``)."""
        if self.kind == "gcs":
            status, body, _ = _http(self.endpoint, "GET", "/wipe")
        else:
            status, body, _ = _http(self.endpoint, "POST", "/moto-api/reset")
        if status != 200:
            raise RuntimeError(f"reset of {self.kind} server failed: {status} {body[:200]!r}")

    def stop(self, timeout: float = 5.0) -> None:
        """SIGTERM to its process group, SIGKILL after ``timeout`` seconds, then reap it."""
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.pgid, signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.pgid, signal.SIGKILL)
                self.process.wait(timeout)
        # (Once reaped, its pid, hence its group id, may be reused: no signal is sent then.)
        _LIVE.discard(self)
        with contextlib.suppress(OSError):
            self.log_path.unlink()

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


_LIVE: set[Server] = set()  # started and not yet stopped: stopped at exit if a fixture could not


@atexit.register
def _stop_leftovers() -> None:
    for server in list(_LIVE):
        server.stop(timeout=2.0)


def _python(main: str, args: list[str], prologue: str = "") -> list[str]:
    """``python -c`` running ``main`` with ``args``: first it asks Linux for a SIGTERM when the
    process that started it dies (PR_SET_PDEATHSIG: no server outlives a killed pytest), and exits
    if that already happened. Done after exec, in the child itself (no ``preexec_fn``)."""
    guard = (
        "import ctypes, os, signal, sys\n"
        "if sys.platform.startswith('linux'):\n"
        "    ctypes.CDLL(None).prctl(1, signal.SIGTERM)\n"
        f"if os.getppid() != {os.getpid()}:\n"
        "    sys.exit(1)\n"
    )
    return [sys.executable, "-c", guard + prologue + main, *args]


def spawn(kind: str, command: Callable[[int], list[str]], ready_path: str, timeout: float, attempts: int = 3) -> Server:
    env = {**os.environ, **client_env(), "PYTHONUNBUFFERED": "1"}
    last_log = ""
    for _ in range(attempts):
        port = free_port()
        log_fd, log_name = tempfile.mkstemp(prefix=f"{kind}-server-", suffix=".log")
        cwd = tempfile.mkdtemp(prefix=f"{kind}-server-")  # anything it writes lands here
        started = time.perf_counter()
        process = subprocess.Popen(
            command(port),
            stdin=subprocess.DEVNULL,
            stdout=log_fd,
            stderr=subprocess.STDOUT,
            cwd=cwd,
            env=env,
            start_new_session=True,
        )
        os.close(log_fd)
        server = Server(kind, f"http://{HOST}:{port}", process, Path(log_name), 0.0)
        _LIVE.add(server)
        deadline = started + timeout
        while process.poll() is None:  # exited: port taken between free_port() and bind, or a failure
            try:
                status, _, _ = _http(server.endpoint, "GET", ready_path, timeout=1.0)
            except OSError:
                status = 0
            if 0 < status < 500:
                server.started_in = time.perf_counter() - started
                with contextlib.suppress(OSError):
                    os.rmdir(cwd)
                return server
            if time.perf_counter() > deadline:
                break
            time.sleep(0.02)
        last_log = server.log()
        server.stop()
        with contextlib.suppress(OSError):
            os.rmdir(cwd)
    raise RuntimeError(f"{kind} server did not start in {timeout} s after {attempts} attempts:\n{last_log[-3000:]}")


def start_gcs_emulator(timeout: float = 20.0, listen_backlog: int | None = 128) -> Server:
    """``gcp-storage-emulator start --in-memory`` on 127.0.0.1 (ready in ~0.05-0.1 s).

    The emulator is a single-threaded ``http.server.HTTPServer`` whose listen backlog is 5: with more
    connections in flight (``fs.cat`` of many paths opens one per object) the kernel drops SYNs and
    clients stall 1 s, 3 s... per retransmission (measured: 40 objects of 400 KB in 4.4 s instead of
    0.02 s). ``listen_backlog`` raises that queue before the server binds; requests are still
    served one at a time. ``None`` runs the emulator untouched.
    """
    args = ["start", "--host", HOST, "--port", "{port}", "--in-memory", "--quiet"]
    prologue = ""
    if listen_backlog is not None:
        prologue = f"import http.server\nhttp.server.HTTPServer.request_queue_size = {int(listen_backlog)}\n"
    main = "from gcp_storage_emulator.__main__ import main\nmain(sys.argv[1:])\n"
    return spawn("gcs", lambda port: _python(main, [a.format(port=port) for a in args], prologue), "/", timeout)


def start_s3_server(timeout: float = 30.0) -> Server:
    """moto's ``moto.server`` (``moto_server``) on 127.0.0.1 (ready in ~0.3-0.4 s)."""
    return spawn(
        "s3",
        lambda port: _python("from moto.server import main\nmain(sys.argv[1:])\n", ["-H", HOST, "-p", str(port)]),
        "/",
        timeout,
    )


# --------------------------------------------------------------------------------------------
# Filling a server (plain HTTP)
# --------------------------------------------------------------------------------------------


def _http(
    endpoint: str,
    method: str,
    path: str,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
    timeout: float = 30.0,
) -> tuple[int, bytes, http.client.HTTPMessage]:
    parts = urlsplit(endpoint)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        return response.status, response.read(), response.headers
    finally:
        conn.close()


def _check(status: int, body: bytes, what: str, ok: Iterable[int] = (200,)) -> None:
    if status not in ok:
        raise RuntimeError(f"{what}: HTTP {status} {body[:300]!r}")


def _files(folder: Path) -> Iterator[tuple[str, Path]]:
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            yield path.relative_to(folder).as_posix(), path


def _join(prefix: str, rel: str) -> str:
    prefix = prefix.strip("/")
    return f"{prefix}/{rel}" if prefix else rel


def create_gcs_bucket(endpoint: str, bucket: str, *, exist_ok: bool = True) -> None:
    body = json.dumps({"name": bucket}).encode()
    status, data, _ = _http(
        endpoint,
        "POST",
        f"/storage/v1/b?project={GCS_PROJECT}",
        body,
        {"Content-Type": "application/json"},
    )
    _check(status, data, f"create gs://{bucket}", (200, 409) if exist_ok else (200,))


def upload_gcs_bytes(
    endpoint: str,
    bucket: str,
    name: str,
    data: bytes,
    *,
    content_type: str | None = None,
    metadata: dict[str, str] | None = None,
) -> dict:
    """One object; returns its JSON API resource (``generation``, ``md5Hash``, ``updated``...).

    ``metadata`` is the GCS custom metadata (``metadata`` in the JSON API resource, ``x-goog-meta-*``
    on downloads); with it the upload is a multipart one (resource + media), and the emulator
    reports ``metageneration`` "2" for it instead of "1".
    """
    content_type = content_type or mimetypes.guess_type(name)[0] or "application/octet-stream"
    bucket_path = quote(bucket, safe="")
    if not metadata:  # a media upload: the emulator parses it ~6 times faster than a multipart one
        status, reply, _ = _http(
            endpoint,
            "POST",
            f"/upload/storage/v1/b/{bucket_path}/o?uploadType=media&name={quote(name, safe='')}",
            data,
            {"Content-Type": content_type},
        )
        _check(status, reply, f"upload gs://{bucket}/{name}")
        return json.loads(reply)
    resource = {"name": name, "contentType": content_type, "metadata": dict(metadata)}
    boundary = uuid.uuid4().hex
    body = b"".join(
        [
            f"--{boundary}\r\nContent-Type: application/json; charset=UTF-8\r\n\r\n".encode(),
            json.dumps(resource).encode(),
            f"\r\n--{boundary}\r\nContent-Type: {content_type}\r\n\r\n".encode(),
            data,
            f"\r\n--{boundary}--\r\n".encode(),
        ]
    )
    status, reply, _ = _http(
        endpoint,
        "POST",
        f"/upload/storage/v1/b/{bucket_path}/o?uploadType=multipart",
        body,
        {"Content-Type": f"multipart/related; boundary={boundary}"},
    )
    _check(status, reply, f"upload gs://{bucket}/{name}")
    return json.loads(reply)


def upload_gcs_folder(
    endpoint: str, bucket: str, folder: Path | str, prefix: str = "", *, metadata: dict[str, str] | None = None
) -> list[str]:
    """Every file under ``folder`` as ``prefix/relative/path``; returns the object names, sorted."""
    return _upload_folder(upload_gcs_bytes, endpoint, bucket, folder, prefix, metadata)


def _upload_folder(
    upload: Callable[..., object],
    endpoint: str,
    bucket: str,
    folder: Path | str,
    prefix: str,
    metadata: dict[str, str] | None,
) -> list[str]:
    names = []
    for rel, path in _files(Path(folder)):
        name = _join(prefix, rel)
        upload(endpoint, bucket, name, path.read_bytes(), metadata=metadata)
        names.append(name)
    return names


def _s3_http(
    endpoint: str, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None
) -> tuple[int, bytes, http.client.HTTPMessage]:
    """A request signed (SigV4, the test keys) as the bucket owner. moto refuses anonymous GET/HEAD
    of objects and anonymous overwrites of an existing key (403, empty body)."""
    from botocore.auth import S3SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    request = AWSRequest(method=method, url=endpoint + path, data=body, headers=dict(headers or {}))
    S3SigV4Auth(Credentials(S3_ACCESS_KEY, S3_SECRET_KEY), "s3", S3_REGION).add_auth(request)
    return _http(endpoint, method, path, body or None, dict(request.headers.items()))


def create_s3_bucket(endpoint: str, bucket: str, *, exist_ok: bool = True) -> None:
    path = f"/{quote(bucket, safe='')}"
    # In us-east-1 creating a bucket one already owns answers 200 (S3 and moto alike): ask first.
    if not exist_ok and _s3_http(endpoint, "HEAD", path)[0] == 200:
        raise RuntimeError(f"create s3://{bucket}: it exists already")
    status, data, _ = _s3_http(endpoint, "PUT", path)
    if status == 409 and exist_ok:
        return
    _check(status, data, f"create s3://{bucket}")


def upload_s3_bytes(
    endpoint: str,
    bucket: str,
    key: str,
    data: bytes,
    *,
    content_type: str | None = None,
    metadata: dict[str, str] | None = None,
) -> str:
    """One object by PutObject; returns its ETag (quoted, as S3 sends it)."""
    headers = {"Content-Type": content_type or mimetypes.guess_type(key)[0] or "application/octet-stream"}
    for k, v in (metadata or {}).items():
        headers[f"x-amz-meta-{k}"] = v
    path = f"/{quote(bucket, safe='')}/{quote(key)}"
    status, reply, reply_headers = _s3_http(endpoint, "PUT", path, data, headers)
    _check(status, reply, f"upload s3://{bucket}/{key}")
    return reply_headers.get("ETag", "")


def upload_s3_folder(
    endpoint: str, bucket: str, folder: Path | str, prefix: str = "", *, metadata: dict[str, str] | None = None
) -> list[str]:
    """Every file under ``folder`` as ``prefix/relative/path``; returns the keys, sorted."""
    return _upload_folder(upload_s3_bytes, endpoint, bucket, folder, prefix, metadata)


# --------------------------------------------------------------------------------------------
# Client filesystems
# --------------------------------------------------------------------------------------------


def gcs_filesystem(endpoint: str, **kwargs):
    """A new ``gcsfs.GCSFileSystem`` on ``endpoint`` (anonymous; no instance, hence no listing cache,
    shared with other tests: fsspec would otherwise hand back the same cached instance).

    Needs ``client_env()`` applied before gcsfs is first imported (the conftest does it).
    """
    import gcsfs

    options = {"token": "anon", "endpoint_url": endpoint, "project": GCS_PROJECT, "skip_instance_cache": True}
    options.update(kwargs)
    return gcsfs.GCSFileSystem(**options)


def s3_filesystem(endpoint: str, **kwargs):
    """A fresh ``s3fs.S3FileSystem`` on ``endpoint`` with the test keys."""
    import s3fs

    options = {
        "key": S3_ACCESS_KEY,
        "secret": S3_SECRET_KEY,
        "endpoint_url": endpoint,
        "client_kwargs": {"region_name": S3_REGION},
        "skip_instance_cache": True,
    }
    options.update(kwargs)
    return s3fs.S3FileSystem(**options)


# --------------------------------------------------------------------------------------------
# Fault-injecting proxy
# --------------------------------------------------------------------------------------------

_HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "proxy-connection",
    "te",
    "trailer",
    "trailers",
    "transfer-encoding",
    "upgrade",
    "expect",
}

_REASONS = {401: "Unauthorized", 403: "Forbidden", 404: "Not Found", 429: "Too Many Requests", 500: "Internal Error"}
_REASONS |= {502: "Bad Gateway", 503: "Service Unavailable", 504: "Gateway Timeout"}
_S3_CODES = {401: "Unauthorized", 403: "AccessDenied", 404: "NoSuchKey", 429: "SlowDown", 500: "InternalError"}
_S3_CODES |= {502: "BadGateway", 503: "SlowDown", 504: "GatewayTimeout"}

FAULTS = ("reset", "truncate", "delay")  # besides an HTTP status (int)


@dataclass
class FaultRule:
    """Which requests a fault hits. ``fault``: an HTTP status, "reset", "truncate" or "delay"."""

    fault: int | str
    times: int | None = None  # fire this many times, then retire (None: forever)
    every: int = 1  # fire on every Nth matching request (1: all of them)
    method: str | None = None  # only this method (GET, PUT...)
    path_contains: str | None = None  # only paths (with query) containing this
    delay: float = 0.0  # seconds to wait before acting (the whole fault for "delay")
    message: str | None = None  # error message in the body (default names the proxy)
    # S3 <Code> (default by status: 503 and 429 "SlowDown", 403 "AccessDenied"...), GCS errors[].reason.
    # s3fs retries any error whose text says "SlowDown" 5 times itself, on top of botocore's retries.
    code: str | None = None
    matched: int = 0
    fired: int = 0

    def matches(self, method: str, path: str) -> bool:
        if self.method is not None and method.upper() != self.method.upper():
            return False
        return self.path_contains is None or self.path_contains in path

    @property
    def spent(self) -> bool:
        return self.times is not None and self.fired >= self.times


@dataclass
class RecordedRequest:
    method: str
    path: str  # with the query string
    outcome: str  # the upstream status ("200") or the fault ("503", "reset", ...)
    body_size: int = 0
    seconds: float = 0.0


@dataclass
class _State:
    lock: threading.Lock = field(default_factory=threading.Lock)
    rules: list[FaultRule] = field(default_factory=list)
    requests: list[RecordedRequest] = field(default_factory=list)
    connections: set = field(default_factory=set)


class _ProxyServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, upstream: str, flavor: str, state: _State):
        self.upstream = urlsplit(upstream)
        self.flavor = flavor
        self.state = state
        super().__init__((HOST, 0), _ProxyHandler)


class _ProxyHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive towards the client; every response has a length
    disable_nagle_algorithm = True  # headers and body are two writes: no 40 ms delayed-ACK stall
    timeout = 60  # an idle keep-alive connection is closed after this
    server: _ProxyServer

    def setup(self) -> None:
        super().setup()
        with self.server.state.lock:
            self.server.state.connections.add(self.connection)

    def finish(self) -> None:
        with contextlib.suppress(OSError):
            super().finish()
        with self.server.state.lock:
            self.server.state.connections.discard(self.connection)

    def log_message(self, format: str, *args: object) -> None:
        pass

    def _read_body(self) -> bytes:
        length = self.headers.get("Content-Length")
        if length is not None:
            return self.rfile.read(int(length))
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            return b"".join(chunks)
        return b""

    def _pick_rule(self) -> FaultRule | None:
        state = self.server.state
        with state.lock:
            for rule in state.rules:
                if rule.spent or not rule.matches(self.command, self.path):
                    continue
                rule.matched += 1
                if rule.matched % max(rule.every, 1):
                    continue
                rule.fired += 1
                return rule
        return None

    def _handle(self) -> None:
        try:
            self._handle_request()
        except (BrokenPipeError, ConnectionResetError, TimeoutError):
            self.close_connection = True  # the client went away (gave up, timed out): not our fault

    def _handle_request(self) -> None:
        self._started = time.perf_counter()
        body = self._read_body()
        self._body_size = len(body)
        rule = self._pick_rule()
        if rule is not None and rule.delay:
            time.sleep(rule.delay)
        if rule is None or rule.fault == "delay":
            self._forward(body, truncate=False)
        elif rule.fault == "reset":
            self._record("reset")
            self._reset()
        elif rule.fault == "truncate":
            self._forward(body, truncate=True)
        else:
            self._record(str(int(rule.fault)))
            self._send_error(int(rule.fault), rule.message, rule.code)

    def _record(self, outcome: str) -> None:
        """Counts the request, before the client can see the answer (a test may look right after)."""
        seconds = time.perf_counter() - self._started
        record = RecordedRequest(self.command, self.path, outcome, self._body_size, seconds)
        with self.server.state.lock:
            self.server.state.requests.append(record)

    do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = _handle

    def _reset(self) -> None:
        """Closes the socket with SO_LINGER 0: the client gets a TCP RST and no response."""
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()

    def _flavor(self) -> str:
        if self.server.flavor != "auto":
            return self.server.flavor
        gcs_prefixes = ("/storage/v1/", "/upload/storage/", "/download/storage/", "/batch/storage/", "/b/")
        return "gcs" if self.path.startswith(gcs_prefixes) else "s3"

    def _send_error(self, status: int, message: str | None, code: str | None = None) -> None:
        reason = _REASONS.get(status, "Error")
        message = message or f"injected by FaultProxy: {status} {reason}"
        if self._flavor() == "gcs":
            error = {"message": message, **({"reason": code} if code else {})}
            payload = {"error": {"code": status, "message": message, "errors": [error]}}
            body = json.dumps(payload).encode()
            content_type = "application/json; charset=UTF-8"
        else:
            code = code or _S3_CODES.get(status, "InternalError")
            body = (
                '<?xml version="1.0" encoding="UTF-8"?>\n'
                f"<Error><Code>{code}</Code><Message>{message}</Message>"
                f"<RequestId>faultproxy</RequestId></Error>"
            ).encode()
            content_type = "application/xml"
        self.send_response(status, reason)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _forward(self, body: bytes, truncate: bool) -> None:
        upstream = self.server.upstream
        conn = http.client.HTTPConnection(upstream.hostname, upstream.port, timeout=120)
        try:
            conn.putrequest(self.command, self.path, skip_host=True, skip_accept_encoding=True)
            for key, value in self.headers.items():
                if key.lower() not in _HOP_BY_HOP and key.lower() != "content-length":
                    conn.putheader(key, value)
            if body or self.command in ("POST", "PUT", "PATCH"):
                conn.putheader("Content-Length", str(len(body)))
            conn.endheaders(body or None)
            response = conn.getresponse()
            data = response.read()
        except OSError as exc:  # upstream down: say so the way a gateway would
            self._record("502")
            self._send_error(502, f"FaultProxy: upstream {upstream.netloc} failed: {exc}")
            return
        finally:
            conn.close()
        self._record("truncate" if truncate else str(response.status))
        no_body = self.command == "HEAD" or response.status in (204, 304) or 100 <= response.status < 200
        if truncate and (no_body or not data):
            self._reset()  # nothing to cut short: the client gets no response at all
            return
        self.send_response(response.status, response.reason)
        for key, value in response.headers.items():
            if key.lower() not in _HOP_BY_HOP | {"content-length", "server", "date"}:
                self.send_header(key, value)
        if self.command == "HEAD":
            length = response.headers.get("Content-Length")
            if length is not None:
                self.send_header("Content-Length", length)
        elif not no_body:
            self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if truncate:
            self.wfile.write(data[: len(data) // 2])
            self.wfile.flush()
            self._reset()
        elif not no_body:
            self.wfile.write(data)


class FaultProxy:
    """An HTTP proxy on 127.0.0.1 in front of ``upstream`` that injects faults and counts requests.

    ``flavor`` picks the error body format: "gcs" (JSON API error), "s3" (XML ``<Error>``) or "auto"
    (by the request path). Faults, each an HTTP status (503, 429, 403, 401, 500...), "reset" (TCP
    RST, no response), "truncate" (headers and half the body, then RST) or "delay" (forwarded late):

    >>> proxy.fail_next(2, 503)                          # the next two requests get a 503
    >>> proxy.fail_every(3, "reset")                     # every third request is reset
    >>> proxy.fail_matching("/o/photos%2Fa.jpg", 403)    # always, for paths containing that
    """

    def __init__(self, upstream: str, flavor: str = "auto"):
        self.upstream = upstream.rstrip("/")
        self._state = _State()
        self._server = _ProxyServer(self.upstream, flavor, self._state)
        self.port = self._server.server_address[1]
        self.endpoint = f"http://{HOST}:{self.port}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="FaultProxy", daemon=True
        )
        self._thread.start()

    # --- faults -----------------------------------------------------------------------------

    def add_rule(self, rule: FaultRule) -> FaultRule:
        if not isinstance(rule.fault, int) and rule.fault not in FAULTS:
            raise ValueError(f"fault must be an HTTP status or one of {FAULTS}, not {rule.fault!r}")
        with self._state.lock:
            self._state.rules.append(rule)
        return rule

    def fail_next(self, k: int, fault: int | str = 503, **match) -> FaultRule:
        """The next ``k`` (matching) requests get ``fault``."""
        return self.add_rule(FaultRule(fault, times=k, **match))

    def fail_every(self, n: int, fault: int | str = 503, *, times: int | None = None, **match) -> FaultRule:
        """Every ``n``-th matching request gets ``fault`` (the n-th, 2n-th...)."""
        return self.add_rule(FaultRule(fault, times=times, every=n, **match))

    def fail_matching(self, path_contains: str, fault: int | str = 503, *, times: int | None = None, **match):
        """Requests whose path (with query) contains ``path_contains`` get ``fault``."""
        return self.add_rule(FaultRule(fault, times=times, path_contains=path_contains, **match))

    def clear_faults(self) -> None:
        with self._state.lock:
            self._state.rules.clear()

    # --- counts -----------------------------------------------------------------------------

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._state.lock:
            return list(self._state.requests)

    def count(self, method: str | None = None, path_contains: str | None = None, outcome: str | None = None) -> int:
        """Requests seen, optionally only one method / paths containing a string / one outcome."""
        return sum(
            1
            for r in self.requests
            if (method is None or r.method == method.upper())
            and (path_contains is None or path_contains in r.path)
            and (outcome is None or r.outcome == outcome)
        )

    def counts(self) -> Counter:
        """``Counter`` of ``(method, path without query)``."""
        return Counter((r.method, r.path.split("?", 1)[0]) for r in self.requests)

    def reset_counts(self) -> None:
        with self._state.lock:
            self._state.requests.clear()

    # --- life -------------------------------------------------------------------------------

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        with self._state.lock:
            connections = list(self._state.connections)
        for conn in connections:  # idle keep-alive connections of clients still open
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        self._thread.join(5)

    def __enter__(self) -> FaultProxy:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
