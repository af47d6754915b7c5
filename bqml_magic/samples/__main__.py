"""``python -m bqml_magic.samples build [--force]``: build the sample cache and say what is in it."""

from __future__ import annotations

import argparse
import json

from bqml_magic import samples
from bqml_magic.samples.builder import MARKER


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bqml_magic.samples")
    parser.add_argument("command", choices=["build"])
    parser.add_argument("--force", action="store_true", help="rebuild even if the cache is complete")
    args = parser.parse_args(argv)
    built = samples.build(force=args.force)
    manifest = json.loads((built.root / MARKER).read_text())
    size = sum(p.stat().st_size for p in built.root.rglob("*") if p.is_file())
    print(f"samples in {built.root} ({size / 2**20:.0f} MB, built in {manifest['seconds']} s)")
    print(f"  bucket: {built.bucket} ({len(manifest['photos'])} photos: {', '.join(manifest['photos'])})")
    print(f"  labels: {built.labels_path} ({len(built.labels)} names)")
    for model_type in samples.MODEL_FILES:
        for variant in samples.VARIANTS:
            print(f"  {model_type:<16} {variant:<10} {built.model_path(model_type, variant)}")


if __name__ == "__main__":
    main()
