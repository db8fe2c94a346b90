"""Build the installable plugin zip (dist/landslide_ai.zip) from pb_tool.cfg's allow-list.

Why not zip the repository: QGIS's "Install from ZIP" wants one top folder named like the plugin
with only what the plugin needs (no tests, sample data, virtual environment or caches). The
allow-list lives in pb_tool.cfg, so ``pb_tool zip`` and this script ship the same files.

    python3 scripts/build_zip.py [--out dist/landslide_ai.zip]
"""

from __future__ import annotations

import argparse
import configparser
import os
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SKIP_DIRS = {"__pycache__", ".pytest_cache", ".ruff_cache"}
SKIP_SUFFIXES = {".pyc", ".pyo", ".aux.xml"}


def plugin_files() -> tuple[str, list[Path]]:
    """The plugin folder name and the files to ship (relative to the repository root)."""
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "pb_tool.cfg")
    name = cfg["plugin"]["name"]
    files = cfg["files"]
    out: list[Path] = []
    for key in ("python_files", "extras"):
        out += [Path(f) for f in files.get(key, "").split()]
    for d in files.get("extra_dirs", "").split():
        for dirpath, dirnames, filenames in os.walk(ROOT / d):
            dirnames[:] = sorted(x for x in dirnames if x not in SKIP_DIRS)
            for f in sorted(filenames):
                if not any(f.endswith(s) for s in SKIP_SUFFIXES):
                    out.append((Path(dirpath) / f).relative_to(ROOT))
    missing = [str(p) for p in out if not (ROOT / p).is_file()]
    if missing:
        raise SystemExit(f"pb_tool.cfg lists files that do not exist: {missing}")
    return name, out


def build(dest: Path) -> Path:
    """Write the zip atomically (temporary name, then rename); returns its path."""
    name, files = plugin_files()
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_suffix(".zip.part")
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as z:
        for rel in files:
            z.write(ROOT / rel, f"{name}/{rel.as_posix()}")
    tmp.replace(dest)
    return dest


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=ROOT / "dist" / "landslide_ai.zip")
    path = build(ap.parse_args().out)
    with zipfile.ZipFile(path) as z:
        n = len(z.namelist())
    print(f"{path} ({n} files, {path.stat().st_size / 1e6:.2f} MB)")
