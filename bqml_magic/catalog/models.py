"""Imported models: frozen copies in the workspace, their schema, and loaded runtimes.

BigQuery freezes a model at CREATE MODEL: later edits of the source files change nothing.
We copy the files (regular files only, never more than the size limit, through the same
access policy as objects, from a local folder or an object store) into a staging folder of
the workspace, rename it into place when complete, and *load* the copy before recording it,
in the transaction that removes a replaced model's row. Any failure deletes the new copy and
leaves the old model exactly as it was. A process killed in the middle leaves at most a
staging folder or an unrecorded copy; both are removed the next time a ModelStore opens the
workspace (which DuckDB's file lock gives to one process at a time).
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import json
import os
import re
import shutil
import stat
import threading
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from bqml_magic.catalog.catalog import Catalog
from bqml_magic.catalog.db import run, transaction
from bqml_magic.catalog.schema import MODELS, relative_folder
from bqml_magic.errors import (
    AlreadyExistsError,
    BQMLError,
    ModelError,
    NotFoundError,
    SQLError,
    StorageError,
)
from bqml_magic.model_info import ModelInfo
from bqml_magic.runtimes import limits
from bqml_magic.runtimes.base import ModelSchema, Runtime, TensorSpec
from bqml_magic.runtimes.devices import CPU, Device
from bqml_magic.sql.kinds import RelationKind
from bqml_magic.sql.names import Name
from bqml_magic.storage.listing import walk
from bqml_magic.storage.objects import ObjectStore
from bqml_magic.storage.reader import not_regular, opened, os_failure, read_chunks
from bqml_magic.storage.uris import Location, RemoteLocation, check_confined

_OPTIONS = {"model_type", "model_path", "kms_key_name", "description", "labels"}
STAGING = ".staging"
"""Folder of the model root where copies are made; never a model folder name (those start with a word character)."""


class ModelStore:
    """CREATE / DROP MODEL and the runtime cache: each model is loaded once per engine."""

    def __init__(self, catalog: Catalog, objects: ObjectStore, root: Path, device: Device = CPU):
        self.catalog = catalog
        self.objects = objects
        self.root = root
        self.device = device
        self._runtimes: dict[Path, Runtime] = {}
        self._lock = threading.Lock()

    def create(self, name: Name, options: dict[str, Any], replace: bool, if_not_exists: bool) -> list[Path]:
        """Returns folders to delete after the statement committed (a replaced model's)."""
        if replace and if_not_exists:
            raise SQLError("CREATE OR REPLACE MODEL and IF NOT EXISTS cannot be used together")
        model_type, model_path = _check_options(options)
        exists = self.catalog.check_name_free(name, RelationKind.MODEL, replace)
        if exists and if_not_exists:
            return []
        if exists and not replace:
            raise AlreadyExistsError(f"Already Exists: Model {name}")
        folder = self.root / _folder_name(name.dataset) / f"{_folder_name(name.name)}-{uuid.uuid4().hex[:12]}"
        staging = self.root / STAGING / uuid.uuid4().hex
        try:
            runtime, size = self._freeze_and_load(name, model_type, model_path, staging, folder)
            old = self.catalog.model_row(name)
            with transaction(self.catalog.con):
                self.catalog.put_model(
                    name,
                    model_type,
                    model_path,
                    relative_folder(folder, self.root),
                    size,
                    schema_to_dict(runtime.schema),
                    options,
                    datetime.now(timezone.utc),
                )
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            shutil.rmtree(folder, ignore_errors=True)
            raise
        with self._lock:
            self._runtimes[folder] = runtime  # loaded once: the first ML.PREDICT uses it
        return [self._folder(old)] if old else []

    def drop(self, name: Name, if_exists: bool) -> list[Path]:
        row = self.catalog.model_row(name) if self.catalog.has_dataset(name.dataset) else None
        if row is None:
            if if_exists:
                return []
            self.catalog.require_dataset(name.dataset)
            models = ", ".join(self.catalog.models(name.dataset)) or "none"
            raise NotFoundError(f"Not found: Model {name}; models in {name.dataset}: {models}")
        self.catalog.delete_model(name)
        return [self._folder(row)]

    def info(self, name: Name) -> ModelInfo:
        row = self._row(name)
        return ModelInfo(
            name=f"{row['dataset']}.{row['name']}",
            model_type=row["model_type"],
            source_path=row["model_path"],
            size_bytes=row["size_bytes"],
            created=row["created"],
            schema=schema_from_dict(json.loads(row["schema_json"])),
        )

    def runtime(self, name: Name) -> Runtime:
        """The loaded model, once per engine (keyed by its frozen copy), on the engine's device."""
        model_type, folder = self.frozen_copy(name)
        with self._lock:
            if folder not in self._runtimes:
                from bqml_magic.runtimes.registry import load_model

                self._runtimes[folder] = load_model(model_type, folder, self.device)
            return self._runtimes[folder]

    def frozen_copy(self, name: Name) -> tuple[str, Path]:
        """A model's type and the folder of its frozen copy, which must still be there."""
        row = self._row(name)
        folder = self._folder(row)
        if not folder.is_dir():
            raise ModelError(
                f"Model {name}: its frozen copy {folder} is gone from the workspace; "
                f"import it again with CREATE OR REPLACE MODEL (model_path '{row['model_path']}')"
            )
        return row["model_type"], folder

    def _row(self, name: Name) -> dict[str, Any]:
        row = self.catalog.model_row(name) if self.catalog.has_dataset(name.dataset) else None
        if row is None:
            self.catalog.require_dataset(name.dataset)
            models = ", ".join(self.catalog.models(name.dataset)) or "none"
            raise NotFoundError(f"Not found: Model {name}; models in {name.dataset}: {models}")
        return row

    def _folder(self, row: dict[str, Any]) -> Path:
        return self.folder_of(row["folder"])

    def folder_of(self, stored: str) -> Path:
        """A frozen copy's folder as the catalog stores it: relative to the model root (older
        workspaces may hold an absolute path, which stays as it is)."""
        return self.root / stored

    def forget(self, folders: list[Path]) -> None:
        """Drop cached runtimes and delete the frozen copies of replaced or dropped models."""
        with self._lock:
            for folder in folders:
                self._runtimes.pop(folder, None)
                shutil.rmtree(folder, ignore_errors=True)

    def remove_leftovers(self) -> None:
        """Delete staging folders and model folders no catalog row refers to (a process killed mid-CREATE).

        Best effort: a workspace always opens. Only the model root is touched, and no other engine
        can be copying into it: this runs as an engine opens the workspace, holding its lock
        (``lock.py``), and a CREATE MODEL copies only while its engine holds it.
        """
        staging = self.root / STAGING
        try:
            if not self.root.is_dir():
                return
            recorded = {
                os.path.normpath(self.folder_of(f)) for (f,) in run(self.catalog.con, f"SELECT folder FROM {MODELS}")
            }
            if staging.is_dir():
                for leftover in staging.iterdir():
                    _remove(leftover)
            _prune(self.root, recorded, skip={str(staging)})
        except OSError:
            pass

    def _freeze_and_load(
        self, name: Name, model_type: str, model_path: str, staging: Path, folder: Path
    ) -> tuple[Runtime, int]:
        """The loaded copy and its files' size; an error names the statement's model and model_path, not the copy."""
        from bqml_magic.runtimes.registry import load_model

        try:
            copied, size = self._freeze(model_type, model_path, staging)
            folder.parent.mkdir(parents=True, exist_ok=True)
            os.replace(staging, folder)  # complete: from now on a kill leaves an unrecorded copy, removed at next open
            return load_model(model_type, folder / copied.relative_to(staging), self.device), size
        except BQMLError as exc:
            source = model_path[:-2] if model_path.endswith("/*") else model_path.rpartition("/")[0] or "."
            for copy in (str(folder), str(staging)):
                exc.message = exc.message.replace(copy, source)
            exc.add_context(statement=f"CREATE MODEL {name} (model_path '{model_path}')")
            raise
        except OSError as exc:  # the workspace side: a full disk, a read-only folder
            raise StorageError(
                f"Cannot write the copy of the model's files into the workspace's model folder {self.root}: "
                f"{exc.strerror or 'operating system error'}",
                statement=f"CREATE MODEL {name} (model_path '{model_path}')",
            ) from exc

    def _freeze(self, model_type: str, model_path: str, staging: Path) -> tuple[Path, int]:
        """Copy the model's files (a folder for ``.../*``, else one file) into ``staging``.

        Returns what to load (the copied folder, or the copied file) and the files' size. Only
        regular files are copied; the size limit is checked on the files' sizes before copying
        (a store's listing gives them without downloading) and again on the bytes read, so a
        file growing meanwhile cannot make the copy exceed it.
        """
        is_folder = model_path.endswith("/*")
        files = self.source_files(model_path)
        size = sum(n for _, _, n in files)
        limit = limits.MAX_SERIALIZED_BYTES
        if size >= limit:  # before copying: a 2 GB file is refused at once
            raise limits.too_big(model_type, f"are {size:,} bytes")
        staging.mkdir(parents=True)
        copied = 0
        for source, rel, _ in files:
            target = staging.joinpath(*rel.split("/"))
            target.parent.mkdir(parents=True, exist_ok=True)
            budget = limit - 1 - copied
            if isinstance(source, RemoteLocation):
                done = self.objects.stores.copy_to(source, target, budget + 1, "Model file")
            else:
                done = _copy_file(source, target, budget)
            if done > budget:
                raise limits.too_big(model_type, f"grew while being copied ({source.uri})")
            copied += done
        return (staging if is_folder else staging / files[0][1]), copied

    def source_files(self, model_path: str) -> list[tuple[Location, str, int]] | list[tuple[RemoteLocation, str, int]]:
        """What CREATE MODEL would copy: ``(location, relative name, size)`` of each file, sizes
        from the file system or the store's metadata (nothing downloaded)."""
        is_folder = model_path.endswith("/*")
        location = self.objects.buckets.resolve(model_path[:-2] if is_folder else model_path)
        if isinstance(location, RemoteLocation):
            return self._remote_files(location, is_folder)
        return _local_files(location, is_folder)

    def _remote_files(self, location: RemoteLocation, is_folder: bool) -> list[tuple[RemoteLocation, str, int]]:
        """A model's objects in a store, with their sizes from the store's metadata."""
        stores = self.objects.stores
        if not is_folder:
            info = stores.info(location, "Model file")
            if info is not None:
                return [(location, location.path.rpartition("/")[2], int(info.get("size") or 0))]
        files = [(loc, rel, size) for rel, size, loc in stores.files_below(location, "Model folder")]
        if is_folder and not files:
            raise NotFoundError(f"folder {location.uri} does not exist (no objects under this prefix)")
        if not is_folder:
            hint = " (for a SavedModel folder, end model_path with /*)" if files else ""
            raise NotFoundError(f"file {location.uri} does not exist{hint}")
        return files


def _local_files(location: Location, is_folder: bool) -> list[tuple[Location, str, int]]:
    """A model's regular files in a local folder or bucket mapping, with their sizes."""
    what = "folder" if is_folder else "file"
    real = check_confined(location)
    try:
        info = os.stat(real)
    except OSError as exc:
        if exc.errno in (errno.ENOENT, errno.ENOTDIR):
            raise NotFoundError(f"{what} {location.uri} does not exist") from None
        raise os_failure(location.uri, exc, f"Model {what}") from exc
    if is_folder and not stat.S_ISDIR(info.st_mode):
        raise NotFoundError(f"folder {location.uri} does not exist (it is a file: write model_path without /*)")
    if not is_folder and stat.S_ISDIR(info.st_mode):
        raise NotFoundError(f"file {location.uri} does not exist (for a SavedModel folder, end model_path with /*)")
    if not is_folder and not stat.S_ISREG(info.st_mode):
        raise not_regular(location.uri, info.st_mode, "Model file")
    if is_folder:
        return [(location.child(rel), rel, st.st_size) for rel, _, st in walk(location, None)]
    return [(location, os.path.basename(location.path), info.st_size)]


def _copy_file(source: Location, target: Path, budget: int) -> int:
    """Copy one regular file, reading at most ``budget + 1`` bytes; returns the bytes copied."""
    with opened(source, "Model file") as (fd, info), open(target, "xb") as out:
        copied = 0
        for chunk in read_chunks(source, fd, info.st_size, budget + 1):
            copied += len(chunk)
            if copied > budget:
                break
            out.write(chunk)
    return copied


def _folder_name(part: str) -> str:
    """A dataset or model name as one safe folder name: no separators, no dots, bounded length."""
    return re.sub(r"[^\w-]", "_", part.lower())[:60] or "_"


def _prune(folder: Path, keep: set[str], *, skip: set[str] | None = None) -> None:
    """Remove everything below ``folder`` that is neither in ``keep`` nor holds something that is."""
    for child in folder.iterdir():
        path = os.path.normpath(child)
        if path in keep or path in (skip or set()):
            continue
        if any(k.startswith(path + os.sep) for k in keep):
            if child.is_dir() and not child.is_symlink():
                _prune(child, keep, skip=skip)
            continue
        _remove(child)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(OSError):
            path.unlink()


def _check_options(options: dict[str, Any]) -> tuple[str, str]:
    unknown = set(options) - _OPTIONS
    if unknown:
        raise SQLError(f"Unknown CREATE MODEL option(s): {', '.join(sorted(unknown))}; expected model_type, model_path")
    model_type = str(options.get("model_type") or "").upper()
    model_path = options.get("model_path")
    if not model_type:
        raise SQLError(
            "CREATE MODEL needs OPTIONS(model_type = 'TENSORFLOW' | 'TENSORFLOW_LITE' | 'ONNX', model_path = ...)"
        )
    if not isinstance(model_path, str) or not model_path:
        raise SQLError(f"CREATE MODEL with model_type '{model_type}' needs OPTIONS(model_path = '...')")
    from bqml_magic.runtimes.registry import runtime_for

    runtime_for(model_type)  # an unknown model_type fails before any file is copied
    return model_type, model_path


def schema_to_dict(schema: ModelSchema) -> dict[str, Any]:
    return dataclasses.asdict(schema)


def schema_from_dict(data: dict[str, Any]) -> ModelSchema:
    def specs(items: list[dict[str, Any]]) -> tuple[TensorSpec, ...]:
        return tuple(TensorSpec(i["name"], i["dtype"], tuple(i["shape"]), i["bq_type"]) for i in items)

    return ModelSchema(
        data["model_type"],
        specs(data["features"]),
        specs(data["labels"]),
        data.get("signature_text", ""),
        dict(data.get("extra") or {}),
    )
