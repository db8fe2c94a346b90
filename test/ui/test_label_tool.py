"""The chip-labelling map tool's editing logic: a click sets, changes and clears a chip's label."""

from __future__ import annotations

import pytest


@pytest.fixture
def chips(qgis_app, tmp_path):
    from qgis.core import QgsFeature, QgsGeometry, QgsRectangle, QgsVectorLayer

    layer = QgsVectorLayer("Polygon?crs=EPSG:32633&field=row:integer&field=col:integer", "chips", "memory")
    feats = []
    for r in range(2):
        for c in range(3):
            f = QgsFeature(layer.fields())
            f.setAttributes([r, c])
            f.setGeometry(QgsGeometry.fromRect(QgsRectangle(c * 10, r * 10, c * 10 + 10, r * 10 + 10)))
            feats.append(f)
    layer.dataProvider().addFeatures(feats)
    return layer


def test_clicks_label_change_and_clear(chips):
    from qgis.core import QgsPointXY

    from landslide_ai.ui.label_tool import label_at

    fid = label_at(chips, QgsPointXY(15, 5), 1)  # chip row 0, col 1
    assert fid is not None and chips.isEditable() and chips.fields().indexOf("label") >= 0
    assert chips.getFeature(fid)["label"] == 1
    assert label_at(chips, QgsPointXY(15, 5), 0) == fid and chips.getFeature(fid)["label"] == 0
    label_at(chips, QgsPointXY(15, 5), None)
    assert chips.getFeature(fid)["label"] in (None,) or str(chips.getFeature(fid)["label"]) == "NULL"
    assert label_at(chips, QgsPointXY(100, 100), 1) is None  # no chip there
    assert chips.commitChanges()
    labelled = [f["label"] for f in chips.getFeatures() if str(f["label"]) not in ("NULL", "None")]
    assert labelled == []
