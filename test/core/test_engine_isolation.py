"""The engine must stay QGIS- and Qt-free (architecture rule)."""

import re
from pathlib import Path

CORE = Path(__file__).resolve().parents[2] / "core"


def test_core_never_imports_qgis_or_qt():
    bad = []
    pat = re.compile(r"^\s*(from|import)\s+(qgis|PyQt5|PyQt6|PySide2|PySide6)\b", re.M)
    for p in CORE.rglob("*.py"):
        if pat.search(p.read_text()):
            bad.append(str(p))
    assert bad == []
    assert len(list(CORE.rglob("*.py"))) > 10
