#!/usr/bin/env python3
"""Set up and run bqml_magic on a fresh machine with nothing but Python 3.10+.

    python3 tasks.py demo    # venv + install + sample data, then classify the sample photos
    python3 tasks.py test    # venv + install + sample data + browser, then ruff, mypy and the whole test suite
    python3 tasks.py lab     # venv + install + sample data, then the tutorials in JupyterLab
    python3 tasks.py bench predict [args]   # venv + install, then bench/bench_predict.py
    python3 tasks.py labextension   # rebuild the JupyterLab extension from labextension/ (node 20+, npm)

Everything goes into ./.venv; sample photos and models are built once into the user cache
(~/.cache/bqml_magic), never into the repository.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
PYTHON = VENV / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
TUTORIAL = ROOT / "notebooks" / "01_image_classification.ipynb"
ARTIFACTS = ROOT / "artifacts"
LABEXTENSION = ROOT / "labextension"
BUILT_LABEXTENSION = ROOT / "bqml_magic" / "labextension"
LABEXTENSION_SOURCES = ("package.json", "package-lock.json", "tsconfig.json", "install.json", "src")


def run(*args: str | os.PathLike, **kwargs) -> None:
    print("+", " ".join(map(str, args)), flush=True)
    subprocess.run([str(a) for a in args], check=True, cwd=ROOT, **kwargs)


def install(extra: str) -> None:
    """Create the venv once and install the package with the given extra (idempotent)."""
    if not PYTHON.exists():
        run(sys.executable, "-m", "venv", VENV)
        run(PYTHON, "-m", "pip", "install", "--quiet", "--upgrade", "pip")
    run(PYTHON, "-m", "pip", "install", "--quiet", "-e", f".[{extra}]")
    link_labextension()
    run(PYTHON, "-m", "bqml_magic.samples", "build")


def link_labextension() -> None:
    """Where JupyterLab looks for the prebuilt extension, a link to bqml_magic/labextension/, as ``jupyter
    labextension develop`` makes: an editable install leaves data files out (setuptools' editable_wheel
    looks for ``has_data``, which no distribution has), and through the link a rebuild is live at once."""
    installed = VENV / "share" / "jupyter" / "labextensions" / "bqml-magic"
    if installed.is_symlink() or installed.is_file():
        installed.unlink()
    elif installed.is_dir():
        shutil.rmtree(installed)
    installed.parent.mkdir(parents=True, exist_ok=True)
    try:
        installed.symlink_to(BUILT_LABEXTENSION, target_is_directory=True)
    except OSError:  # Windows without the right to make symlinks
        shutil.copytree(BUILT_LABEXTENSION, installed)


def ensure_chromium() -> None:
    """The browser test drives Debian's chromium; Playwright may not download its own here."""
    if shutil.which("chromium"):
        return
    if os.name != "posix" or os.geteuid() != 0 or not shutil.which("apt-get"):
        sys.exit("The browser test needs Chromium: install your system's 'chromium' package.")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    run("apt-get", "update", "-qq", env=env)
    run("apt-get", "install", "-y", "-qq", "chromium", env=env)


def demo(*demo_args: str) -> None:
    """Classify the sample photos, then run the classification tutorial into artifacts/."""
    install("all")
    run(PYTHON, "-m", "bqml_magic.demo", *demo_args)
    run(
        PYTHON,
        "-m",
        "jupyter",
        "nbconvert",
        "--to",
        "notebook",
        "--execute",
        "--log-level",
        "WARN",
        "--output-dir",
        ARTIFACTS,
        TUTORIAL,
    )
    print(
        f"\nThe tutorial, run, with its outputs: {ARTIFACTS / TUTORIAL.name}\n"
        "Follow it yourself in JupyterLab:   python3 tasks.py lab"
    )


def lab() -> None:
    """Open the tutorials in JupyterLab (Ctrl-C stops it)."""
    install("all")
    as_root = ["--allow-root"] if os.name == "posix" and os.geteuid() == 0 else []  # Jupyter refuses root otherwise
    run(PYTHON, "-m", "jupyter", "lab", *as_root, TUTORIAL.relative_to(ROOT))


def check() -> None:
    """Lint, format and type checks: ruff and mypy, as configured in pyproject.toml."""
    run(PYTHON, "-m", "ruff", "check", ".")
    run(PYTHON, "-m", "ruff", "format", "--check", ".")
    run(PYTHON, "-m", "mypy")


def test(*pytest_args: str) -> None:
    """Checks, then every test (or the pytest arguments given)."""
    install("test")
    ensure_chromium()
    check()
    run(PYTHON, "-m", "pytest", *(pytest_args or ("tests", "notebooks")))


def bench(name: str = "", *bench_args: str) -> None:
    """One benchmark of bench/ (``bench predict`` runs bench/bench_predict.py), with its tools installed."""
    script = ROOT / "bench" / f"bench_{name}.py"
    if not script.is_file():
        known = ", ".join(sorted(p.stem.removeprefix("bench_") for p in (ROOT / "bench").glob("bench_*.py")))
        sys.exit(f"python3 tasks.py bench NAME [args]: NAME is one of {known}")
    install("bench")
    run(PYTHON, script, *bench_args)


def labextension_source_hash() -> str:
    """A digest of the extension's sources, kept in the built package.json: a test compares the two, so
    a source changed without a rebuild fails (line endings normalised, for a Windows checkout)."""
    digest = hashlib.sha256()
    for name in LABEXTENSION_SOURCES:
        top = LABEXTENSION / name
        for path in sorted([top, *top.rglob("*")] if top.is_dir() else [top]):
            if path.is_file():
                digest.update(path.relative_to(LABEXTENSION).as_posix().encode() + b"\0")
                digest.update(path.read_bytes().replace(b"\r\n", b"\n") + b"\0")
    return digest.hexdigest()


def labextension() -> None:
    """Rebuild the prebuilt JupyterLab extension into bqml_magic/labextension/ (linked into the venv).
    Only maintainers need node and npm: users get the built files with the package."""
    install("all")  # jupyter-builder, run by the build script, comes with jupyterlab
    npm = shutil.which("npm")  # npm.cmd on Windows, which subprocess finds only by its full path
    if not npm:
        sys.exit("Rebuilding the JupyterLab extension needs node 20+ and npm on PATH.")
    env = dict(os.environ, PATH=os.pathsep.join([str(PYTHON.parent), os.environ["PATH"]]))
    run(npm, "ci", "--no-audit", "--no-fund", "--prefix", LABEXTENSION, env=env)
    run(npm, "run", "build", "--prefix", LABEXTENSION, env=env)  # empties BUILT_LABEXTENSION first
    shutil.copy(LABEXTENSION / "install.json", BUILT_LABEXTENSION)  # "(python, bqml_magic)" in labextension list
    built = BUILT_LABEXTENSION / "package.json"
    metadata = json.loads(built.read_text())
    metadata["sourceSha256"] = labextension_source_hash()
    built.write_text(json.dumps(metadata, indent=2) + "\n")
    link_labextension()  # a copy, where symlinks are not allowed, is refreshed


if __name__ == "__main__":
    commands = {"demo": demo, "test": test, "lab": lab, "bench": bench, "labextension": labextension}
    if len(sys.argv) < 2 or sys.argv[1] not in commands:
        sys.exit(__doc__)
    commands[sys.argv[1]](*sys.argv[2:])
