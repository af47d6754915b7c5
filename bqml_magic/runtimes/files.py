"""Finding a model's files in its frozen copy: a folder (``model_path='.../*'``) or one file."""

from __future__ import annotations

from pathlib import Path

from bqml_magic.errors import ModelError


def all_files(path: Path) -> list[Path]:
    return sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]


def single_model_file(path: Path, suffix: str, model_type: str) -> Path:
    """The one ``suffix`` file at ``path`` (that file, or the only one in that folder)."""
    if path.is_file():
        if path.suffix.lower() != suffix:
            raise ModelError(f"{model_type} model file {path.name} should end in {suffix}")
        return path
    if not path.is_dir():
        raise ModelError(f"{model_type} model file {path} does not exist")
    files = all_files(path)
    found = [p for p in files if p.suffix.lower() == suffix]
    if len(found) != 1:
        listed = ", ".join(str(p.relative_to(path)) for p in (found or files)) or "nothing"
        detail = f"found {listed}" if found else f"found none among: {listed}"
        raise ModelError(f"{model_type} model folder must hold exactly one {suffix} file; {detail}")
    return found[0]
