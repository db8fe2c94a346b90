"""Qt 6 readiness of the shipped Python: what PyQt6 (QGIS 4) would refuse, found without QGIS 4.

QGIS 4 runs plugins on PyQt6, which drops unscoped enums (``Qt.RightDockWidgetArea`` must be
``Qt.DockWidgetArea.RightDockWidgetArea``), ``exec_()`` and direct ``PyQt5`` imports. QGIS's own
``scripts/pyqt5_to_pyqt6/pyqt5_to_pyqt6.py`` finds these by looking every ``Class.Member`` up in
PyQt6; this check does the same for the Qt classes our files use (PyQt6 from Debian's
python3-pyqt6; QGIS's own enums are kept unscoped by QGIS 4 and are not checked here). Scoped
forms work on PyQt5 too, so fixing a finding never breaks QGIS 3.

    python3 scripts/check_qt6.py        # exit 1 and one line per finding; 0 when clean
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = ["__init__.py", "core", "algorithms", "plugin", "ui"]


def qt6_classes() -> dict[str, object]:
    """Class name -> PyQt6 class, for the modules plugins use."""
    from PyQt6 import QtCore, QtGui, QtWidgets

    out: dict[str, object] = {}
    for mod in (QtCore, QtGui, QtWidgets):
        for name in dir(mod):
            if name.startswith("Q") or name == "Qt":
                out[name] = getattr(mod, name)
    return out


def files() -> list[Path]:
    """The shipped Python files."""
    out: list[Path] = []
    for entry in SHIPPED:
        p = ROOT / entry
        out += [p] if p.is_file() else sorted(p.rglob("*.py"))
    return out


def findings(path: Path, classes: dict[str, object]) -> list[str]:
    """What PyQt6 would refuse in one file."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    qt_names: set[str] = set()
    out = []
    rel = path.relative_to(ROOT)
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            if node.module.startswith(("PyQt5", "PyQt6", "PySide")):
                out.append(f"{rel}:{node.lineno}: import from {node.module}; use qgis.PyQt")
            if node.module.startswith("qgis.PyQt"):
                qt_names |= {a.asname or a.name for a in node.names}
        if isinstance(node, ast.Attribute) and node.attr == "exec_":
            out.append(f"{rel}:{node.lineno}: exec_() is gone in PyQt6; use exec()")
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id in qt_names
            and node.value.id in classes
            and node.attr[:1].isupper()
            and not hasattr(classes[node.value.id], node.attr)
        ):
            out.append(f"{rel}:{node.lineno}: {node.value.id}.{node.attr} is not in PyQt6 (unscoped enum?)")
    return out


def main() -> int:
    """Print the findings; exit status 1 when there are any."""
    classes = qt6_classes()
    found = [f for p in files() for f in findings(p, classes)]
    print("\n".join(found) if found else f"Qt 6 check: {len(files())} files clean")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
