"""The layers import one way (architecture rule), checked on the syntax tree, not with a regex.

core/ (engine) imports nothing of QGIS, Qt or the other layers; algorithms/ (Processing adapters)
may import core/ but not plugin/ or ui/; ui/ may import core/ and algorithms/ but not plugin/.
Relative imports are resolved against the file's package, so ``from ..algorithms import x`` inside
core/ is caught as well as ``import qgis``; imports inside functions count too.
"""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
GUI = {"qgis", "PyQt5", "PyQt6", "PySide2", "PySide6", "processing"}
LAYERS = ("core", "algorithms", "plugin", "ui")
#: what each layer must not import (top-level package names, or a layer of this plugin)
FORBIDDEN = {
    "core": GUI | {"algorithms", "plugin", "ui"},
    "algorithms": {"plugin", "ui"},
    "ui": {"plugin"},
}


def imported(path: Path) -> set[str]:
    """First component of every module ``path`` imports; relative imports resolved to this repository's layers."""
    rel = path.relative_to(ROOT).with_suffix("")
    package = list(rel.parts[:-1])
    out = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                mod = base + (node.module.split(".") if node.module else [])
                if not mod:  # "from .. import x" at the repository root: x names a layer
                    out |= {a.name for a in node.names}
                else:
                    out.add(mod[0])
            elif node.module:
                out.add(node.module.split(".")[0])
    return out


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_layers_import_one_way(layer):
    files = list((ROOT / layer).rglob("*.py"))
    assert len(files) > 2
    bad = {str(p.relative_to(ROOT)): sorted(imported(p) & FORBIDDEN[layer]) for p in files}
    assert {k: v for k, v in bad.items() if v} == {}


def test_the_checker_sees_relative_and_nested_imports(tmp_path, monkeypatch):
    """A relative import of another layer and an import inside a function are both found."""
    pkg = ROOT / "core" / "_layer_probe.py"
    src = "from ..algorithms import base\n\ndef f():\n    import qgis.core\n"
    monkeypatch.setattr(Path, "read_text", lambda self, *a, **k: src if self == pkg else Path.read_bytes(self).decode())
    assert imported(pkg) >= {"algorithms", "qgis"}
