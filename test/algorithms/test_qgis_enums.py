"""The plugin spells QGIS enums only through algorithms/qgis_enums.py, which works from QGIS 3.22 to 4."""

from __future__ import annotations

import re

from conftest import ROOT

#: spellings QGIS 4 removed (deprecated since 3.30 / 3.36); qgis_enums.py picks the new one when present
OLD = re.compile(
    r"QgsProcessing\.Type[A-Z]\w*|QgsProcessingParameterNumber\.(Double|Integer)\b|"
    r"QgsProcessingParameterFile\.(File|Folder)\b|QgsWkbTypes\.(Point|Line|Polygon|Unknown|Null)Geometry\b"
)


def test_no_old_enum_spelling_outside_the_compat_module():
    found = []
    for pkg in ("algorithms", "ui", "plugin", "scripts"):
        for f in (ROOT / pkg).rglob("*.py"):
            if f.name == "qgis_enums.py":
                continue
            for i, line in enumerate(f.read_text(encoding="utf-8").splitlines(), 1):
                if OLD.search(line):
                    found.append(f"{f.relative_to(ROOT)}:{i}: {line.strip()}")
    assert not found, "use algorithms/qgis_enums.py:\n" + "\n".join(found)


def test_compat_names_resolve_and_work_in_a_parameter(qgis_app):
    from qgis.core import QgsProcessingParameterNumber, QgsProcessingParameterVectorLayer

    from landslide_ai.algorithms import qgis_enums as e

    for name in ("VECTOR_POINT", "VECTOR_POLYGON", "VECTOR_ANY", "RASTER", "FILE_SOURCE", "DOUBLE", "FOLDER"):
        assert getattr(e, name) is not None
    p = QgsProcessingParameterVectorLayer("P", "points", [e.VECTOR_POINT])
    assert [int(t) for t in p.dataTypes()] == [int(e.VECTOR_POINT)]
    n = QgsProcessingParameterNumber("N", "n", e.DOUBLE, 0.5)
    assert int(n.dataType()) == int(e.DOUBLE)


def test_the_checker_sees_an_old_spelling():
    assert OLD.search("x = QgsProcessing.TypeVectorPoint") and OLD.search("QgsProcessingParameterNumber.Double")
    assert not OLD.search("from .qgis_enums import VECTOR_POINT")
