"""Imported models: frozen copies in the workspace, their schema, and loaded runtimes.

BigQuery freezes a model at CREATE MODEL: later edits of the source files change nothing.
We copy the files into the workspace first, inspect the copy, and only then record it, in
the same transaction that removes a replaced model's row; a failure deletes the new copy and
leaves the old model as it was.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import threading
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from bqml_magic.catalog.catalog import Catalog
from bqml_magic.catalog.db import transaction
from bqml_magic.catalog.schema import relative_folder
from bqml_magic.errors import AlreadyExistsError, BQMLError, ModelError, NotFoundError, SQLError, StorageError
from bqml_magic.model_info import ModelInfo
from bqml_magic.runtimes.base import ModelSchema, Runtime, TensorSpec
from bqml_magic.runtimes.limits import check_serialized
from bqml_magic.sql.kinds import RelationKind
from bqml_magic.sql.names import Name
from bqml_magic.storage.uris import BucketMap, check_confined

_OPTIONS = {"model_type", "model_path", "kms_key_name", "description", "labels"}


class ModelStore:
    """CREATE / DROP MODEL and the runtime cache: each model is loaded once per engine."""

    def __init__(self, catalog: Catalog, buckets: BucketMap, root: Path):
        self.catalog = catalog
        self.buckets = buckets
        self.root = root
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
        folder = self.root / name.dataset.lower() / f"{name.name.lower()}-{uuid.uuid4().hex[:12]}"
        try:
            schema, size = self._freeze_and_inspect(name, model_type, model_path, folder)
            old = self.catalog.model_row(name)
            with transaction(self.catalog.con):
                self.catalog.put_model(
                    name,
                    model_type,
                    model_path,
                    relative_folder(folder, self.root),
                    size,
                    schema_to_dict(schema),
                    options,
                    datetime.now(timezone.utc),
                )
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
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
        """The loaded model, once per engine (keyed by its frozen copy)."""
        row = self._row(name)
        folder = self._folder(row)
        with self._lock:
            if folder not in self._runtimes:
                from bqml_magic.runtimes.registry import load_model

                if not folder.is_dir():
                    raise ModelError(
                        f"Model {name}: its frozen copy {folder} is gone from the workspace; "
                        f"import it again with CREATE OR REPLACE MODEL (model_path '{row['model_path']}')"
                    )
                self._runtimes[folder] = load_model(row["model_type"], folder)
            return self._runtimes[folder]

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

    def _freeze_and_inspect(
        self, name: Name, model_type: str, model_path: str, folder: Path
    ) -> tuple[ModelSchema, int]:
        """The frozen copy's schema and size; an error names the statement's model and model_path, not the copy."""
        from bqml_magic.runtimes.registry import inspect_model

        try:
            frozen, size = self._freeze(model_type, model_path, folder)
            return inspect_model(model_type, frozen), size
        except BQMLError as exc:
            exc.add_context(statement=f"CREATE MODEL {name} (model_path '{model_path}')")
            raise

    def _freeze(self, model_type: str, model_path: str, folder: Path) -> tuple[Path, int]:
        """Copy the model's files (a folder for ``.../*``, else one file) into ``folder``.

        Returns what to inspect (the copied folder, or the copied file) and the files' size.
        """
        is_folder = model_path.endswith("/*")
        location = self.buckets.resolve(model_path[:-2] if is_folder else model_path)
        if not location.is_local:
            raise StorageError("only local or bucket-mapped paths are supported for models")
        check_confined(location)
        source = Path(location.path)
        if is_folder and not source.is_dir():
            raise NotFoundError(f"folder {source} does not exist")
        if not is_folder and not source.is_file():
            hint = " (for a SavedModel folder, end model_path with /*)" if source.is_dir() else ""
            raise NotFoundError(f"file {source} does not exist{hint}")
        files = [p for p in source.rglob("*") if p.is_file()] if is_folder else [source]
        size = check_serialized(files, model_type)  # before copying: a 2 GB file is refused at once
        folder.mkdir(parents=True)
        if is_folder:
            for file in files:
                check_confined(location, str(file))
                target = folder / file.relative_to(source)
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(file, target)
            return folder, size
        return Path(shutil.copyfile(source, folder / source.name)), size


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
