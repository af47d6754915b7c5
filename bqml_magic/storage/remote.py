"""Object stores through fsspec: ``gs://`` (gcsfs), ``s3://`` (s3fs), and any fsspec protocol given options.

One filesystem per protocol and engine, made on first use (``%load_ext`` imports none of
them), with the user's ``storage_options`` and otherwise each library's own credential chain.
Retries of transient failures (429, 5xx, reset connections) are the libraries' own: gcsfs
retries six times with exponential backoff; s3fs retries botocore's calls, which retry 5xx,
throttling and connection errors themselves (``config_kwargs={"retries": ...}`` tunes them).
What still fails becomes a StorageError that names the URI and says what was tried (which
credentials, which endpoint).

Reads are range requests of at most the caller's limit, so a 5 GB object costs at most
``limit`` bytes to refuse, and they run on fsspec's event loop: many in flight from one thread.
"""

from __future__ import annotations

import asyncio
import base64
import copy
import hashlib
import logging
import threading
from collections.abc import AsyncIterator, Iterator, Mapping
from concurrent.futures import Future
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bqml_magic.errors import LimitError, StorageError, advice
from bqml_magic.storage.reader import CHUNK_BYTES
from bqml_magic.storage.uris import RemoteLocation, protocol_name

if TYPE_CHECKING:
    from fsspec import AbstractFileSystem

_ALWAYS = {"skip_instance_cache": True, "use_listings_cache": False}
"""Our own filesystem per engine, and no listing cache: the object table's metadata cache is BigQuery's one."""
_PACKAGES = {"gs": "gcsfs", "s3": "s3fs"}
_CREDENTIALS = {
    "gs": "Google's default credentials (GOOGLE_APPLICATION_CREDENTIALS, `gcloud auth application-default login`, "
    "or the metadata server on Google Cloud; anonymous when none is found)",
    "s3": "the AWS default credential chain (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, AWS_PROFILE, "
    "~/.aws/credentials, or the instance metadata service)",
}
_HOW_TO_SET = {
    "python": "pass them with Engine(storage_options={{'{protocol}': {{...}}}})",
    "notebook": "set bqml_magic.context.storage_options = {{'{protocol}': {{...}}}}, then bqml_magic.context.close()",
}


class RemoteStores:
    """The engine's object-store filesystems and what their failures mean."""

    def __init__(self, options: Mapping[str, Mapping[str, Any]] | None = None):
        self.options = {protocol_name(p): dict(o) for p, o in (options or {}).items()}
        self._filesystems: dict[str, AbstractFileSystem] = {}
        self._store_ids: dict[str, str] = {}
        self._lock = threading.Lock()

    def filesystem(self, protocol: str) -> AbstractFileSystem:
        """The protocol's filesystem, made once; a missing package is an error saying which to install."""
        with self._lock:
            if protocol not in self._filesystems:
                self._filesystems[protocol] = self._make(protocol)
            return self._filesystems[protocol]

    def store_id(self, protocol: str) -> str:
        """What tells two stores of one protocol apart (their endpoints): part of the content cache's key."""
        known = self._store_ids.get(protocol)
        if known is None:
            where = _endpoint(self.filesystem(protocol)) or ""
            known = self._store_ids[protocol] = hashlib.sha256(f"{protocol}\x00{where}".encode()).hexdigest()[:16]
        return known

    # -- reads --------------------------------------------------------------------------------
    def submit(self, location: RemoteLocation, limit: int, purpose: str) -> Future[bytes]:
        """Start reading an object (at most ``limit`` bytes) on fsspec's event loop; the future's
        error is already a StorageError or LimitError naming the URI."""
        fs = self.filesystem(location.protocol)
        return asyncio.run_coroutine_threadsafe(self._read(fs, location, limit, purpose), _loop(fs))

    def read(self, location: RemoteLocation, limit: int, purpose: str) -> bytes:
        return self.submit(location, limit, purpose).result()

    async def _read(self, fs: AbstractFileSystem, location: RemoteLocation, limit: int, purpose: str) -> bytes:
        try:
            if fs.async_impl:
                data = await fs._cat_file(location.path, start=0, end=limit)
            else:  # a synchronous filesystem: its reads in threads, still many at once
                data = await asyncio.to_thread(fs.cat_file, location.path, start=0, end=limit)
        except Exception as exc:
            if _status(exc) == 416:  # an empty object has no byte 0 to range over
                return b""
            raise self.failure(location.uri, exc, location.protocol) from exc
        if len(data) >= limit:
            raise LimitError(f"{location.uri} is {limit:,} bytes or more; {purpose} must be under {limit:,}")
        return data

    def copy_to(self, location: RemoteLocation, target: Path, limit: int, what: str = "Object") -> int:
        """Write an object into a new local file, in bounded chunks, stopping at ``limit`` bytes; the bytes written."""
        fs = self.filesystem(location.protocol)

        def copy() -> int:
            written = 0
            with fs.open(location.path, "rb", block_size=CHUNK_BYTES) as source, open(target, "xb") as out:
                while written < limit and (chunk := source.read(min(CHUNK_BYTES, limit - written))):
                    out.write(chunk)
                    written += len(chunk)
            return written

        return self._call(location, copy, what=what)

    def md5_base64(self, location: RemoteLocation) -> str:
        """base64(MD5) of an object the store gives no digest for, read in bounded chunks."""
        fs = self.filesystem(location.protocol)
        digest = hashlib.md5(usedforsecurity=False)

        def update() -> None:
            with fs.open(location.path, "rb", block_size=CHUNK_BYTES) as file:
                while chunk := file.read(CHUNK_BYTES):
                    digest.update(chunk)

        self._call(location, update)
        return base64.b64encode(digest.digest()).decode("ascii")

    def info(self, location: RemoteLocation, what: str = "Object") -> dict[str, Any] | None:
        """The store's metadata of one object; None when no object has that name."""
        fs = self.filesystem(location.protocol)
        try:
            info = fs.info(location.path)
        except Exception as exc:
            if _missing(exc):
                return None
            raise self.failure(location.uri, exc, location.protocol, what) from exc
        return info if info.get("type") == "file" else None

    def files_below(self, location: RemoteLocation, what: str) -> Iterator[tuple[str, int, RemoteLocation]]:
        """Every object below a prefix: ``(relative name, size, location)``, in name order."""
        fs = self.filesystem(location.protocol)
        prefix = location.path.rstrip("/")
        found = self._call(location, fs.find, prefix, detail=True, what=what)
        for name in sorted(found):
            entry = found[name]
            if entry.get("type") != "file" or name.endswith("/"):
                continue  # a "folder" placeholder object
            rel = name[len(prefix) :].lstrip("/")
            yield rel, int(entry.get("size") or 0), location.child(rel)

    def pages(self, location: RemoteLocation, agen: AsyncIterator[Any]) -> Iterator[Any]:
        """An async generator of the store's listing pages, consumed from synchronous code page by page."""
        from fsspec.asyn import sync

        loop = _loop(self.filesystem(location.protocol))
        while True:
            try:
                page = sync(loop, agen.__anext__)
            except StopAsyncIteration:
                return
            except Exception as exc:
                raise self.failure(location.uri, exc, location.protocol, "Listing of") from exc
            yield page

    def _call(self, location: RemoteLocation, method: Any, *args: Any, what: str = "Object", **kwargs: Any) -> Any:
        try:
            return method(*args, **kwargs)
        except Exception as exc:
            raise self.failure(location.uri, exc, location.protocol, what) from exc

    # -- failures -----------------------------------------------------------------------------
    def failure(self, uri: str, exc: BaseException, protocol: str, what: str = "Object") -> StorageError:
        """A store's exception as the user's message: what happened to which URI, what was tried, and
        for Cloud Storage how to read a local copy instead (an unmounted bucket is read from the store)."""
        if isinstance(exc, StorageError):
            return exc
        error = self._explain(uri, exc, protocol, what)
        if protocol == "gs":
            bucket = uri.partition("://")[2].partition("/")[0]
            error.message += f". If gs://{bucket} is a folder on this machine, mount it: " + advice(
                f"engine.mount('{bucket}', '/local/folder')", f"%bqml mount {bucket}=/local/folder"
            )
        return error

    def _explain(self, uri: str, exc: BaseException, protocol: str, what: str) -> StorageError:
        status, text = _status(exc), _text(exc)
        tried, how = self._credentials(protocol), advice(**_HOW_TO_SET).format(protocol=protocol)
        if _missing(exc):
            return StorageError(f"{what} {uri} does not exist (no such object, or no such bucket)")
        if status == 403 or isinstance(exc, PermissionError) or text.startswith("Forbidden"):
            return StorageError(
                f"{what} {uri}: access denied (HTTP 403). The credentials used ({tried}) may not read it; " + how
            )
        if status == 401 or _named(exc, "NoCredentialsError", "DefaultCredentialsError", "RefreshError"):
            return StorageError(f"{what} {uri}: no valid credentials ({text}). Tried {tried}; " + how)
        if _named(exc, "EndpointConnectionError", "ClientConnectorError", "ServerDisconnectedError") or isinstance(
            exc, (ConnectionError, TimeoutError, asyncio.TimeoutError)
        ):
            where = _endpoint(self._filesystems.get(protocol)) or f"{protocol}://"
            return StorageError(f"{what} {uri}: cannot reach the store at {where} after retries ({text})")
        if status is not None:
            return StorageError(f"{what} {uri}: the store answered HTTP {status} after retries ({text})")
        return StorageError(f"{what} {uri} cannot be read: {type(exc).__name__}: {text}")

    def _credentials(self, protocol: str) -> str:
        given = self.options.get(protocol, {})
        keys = [k for k in ("token", "key", "secret", "anon", "profile", "credentials") if k in given]
        if keys:
            return f"{', '.join(keys)} from storage_options['{protocol}']"
        fs = self._filesystems.get(protocol)
        method = getattr(getattr(fs, "credentials", None), "method", None)
        if method == "anon":
            return "no credentials: none were found, so requests went anonymously"
        return _CREDENTIALS.get(protocol, f"{protocol}'s default credentials")

    def _make(self, protocol: str) -> AbstractFileSystem:
        import fsspec
        from fsspec.registry import known_implementations

        # A deep copy: botocore rewrites retry settings in place (max_attempts -> total_max_attempts).
        options = {**_ALWAYS, **copy.deepcopy(self.options.get(protocol, {}))}
        library = logging.getLogger(_PACKAGES.get(protocol, protocol))
        if not library.handlers:  # a failure reaches the user as our error, not also as the library's traceback
            library.addHandler(logging.NullHandler())
        try:
            return fsspec.filesystem(protocol, **options)
        except ImportError as exc:
            package = _PACKAGES.get(protocol) or _package(known_implementations.get(protocol, {}))
            raise StorageError(
                f"Reading {protocol}:// needs the package {package or 'that implements it'}: "
                f"pip install {package or '<package>'} ({exc})"
            ) from exc
        except ValueError as exc:
            if "Protocol not known" in str(exc):
                raise StorageError(f"{protocol}:// is not a protocol fsspec knows") from exc
            raise StorageError(f"Cannot open {protocol}:// with storage_options['{protocol}']: {exc}") from exc
        except TypeError as exc:
            raise StorageError(f"storage_options['{protocol}'] has an option {protocol}:// cannot take: {exc}") from exc


def _package(entry: Mapping[str, Any]) -> str | None:
    """The pip package fsspec's registry names for a protocol ("Install adlfs to access Azure ...")."""
    words = str(entry.get("err", "")).split()
    return words[words.index("Install") + 1] if "Install" in words[:-1] else None


def _loop(fs: AbstractFileSystem) -> asyncio.AbstractEventLoop:
    """Where a filesystem's coroutines run: its own loop, or fsspec's I/O loop for a synchronous one."""
    from fsspec.asyn import get_loop

    return fs.loop if fs.async_impl else get_loop()


def _endpoint(fs: AbstractFileSystem | None) -> str | None:
    if fs is None:
        return None
    for source in (getattr(fs, "_endpoint", None), getattr(fs, "endpoint_url", None)):
        if isinstance(source, str) and source:
            return source
    kwargs = getattr(fs, "client_kwargs", None) or {}
    if kwargs.get("endpoint_url"):
        return str(kwargs["endpoint_url"])
    location = getattr(fs, "_location", None)
    return location if isinstance(location, str) else None


def _status(exc: BaseException) -> int | None:
    """The HTTP status a store's exception carries (gcsfs HttpError, botocore ClientError, aiohttp)."""
    for attr in ("code", "status"):
        value = getattr(exc, attr, None)
        if isinstance(value, int):
            return value
        if isinstance(value, str) and value.isdigit():
            return int(value)
    response = getattr(exc, "response", None)
    if isinstance(response, Mapping):
        status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        if isinstance(status, int):
            return status
    cause = exc.__cause__ or exc.__context__
    return _status(cause) if cause is not None and cause is not exc else None


def _missing(exc: BaseException) -> bool:
    return isinstance(exc, FileNotFoundError) or _status(exc) == 404 or _named(exc, "NoSuchBucket", "NoSuchKey")


def _named(exc: BaseException, *names: str) -> bool:
    """Whether the exception (or what caused it) is of a class with one of these names: the store
    libraries' exception types are checked without importing them."""
    seen: BaseException | None = exc
    while seen is not None:
        if any(t.__name__ in names for t in type(seen).__mro__):
            return True
        code = getattr(seen, "response", None)
        if isinstance(code, Mapping) and code.get("Error", {}).get("Code") in names:
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _text(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text[:300]
