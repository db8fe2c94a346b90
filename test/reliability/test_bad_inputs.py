"""Bad inputs: a clear message and nothing written, or a correct result where the input is legitimate."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import rasterio
from PIL import Image
from rel_fixtures import FACTOR_NAMES, Recorder, band_swapped_copy, write_dem

from conftest import ROOT, train_params, write_raster


def predict_params(model: str, stack: str, out: Path, **extra) -> dict:
    return {"MODEL": model, "STACK": stack, "OUTPUT": str(out / "p.tif"), "ZONING": str(out / "z.tif"), **extra}


# -- devices ------------------------------------------------------------------------------------


@pytest.mark.parametrize("device,match", [("gpu0", "Unknown device"), ("cuda:banana", "Unknown device")])
def test_bad_device_strings(refused, world, tmp_path, device, match):
    refused("lsm_predict", predict_params(world["cnn"], world["stack"], tmp_path, DEVICE=device), match, tmp_path)


def test_cuda_without_a_gpu(refused, world, tmp_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    refused(
        "lsm_predict", predict_params(world["cnn"], world["stack"], tmp_path, DEVICE="cuda"), "no usable CUDA", tmp_path
    )


def test_cuda_without_a_gpu_in_training(refused, world, tmp_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    refused(
        "lsm_train",
        train_params(world["stack"], world["samples"], str(tmp_path / "m"), [4], DEVICE="cuda"),
        "no usable CUDA",
        tmp_path,
    )


# -- model cards and weights --------------------------------------------------------------------


def _edited_card(src: str, dest: Path, edit) -> str:
    d = json.loads(Path(src).read_text())
    edit(d)
    dest.mkdir(parents=True, exist_ok=True)
    for f in Path(src).parent.glob(Path(src).stem + ".*"):
        (dest / f.name).write_bytes(f.read_bytes())
    (dest / Path(src).name).write_text(json.dumps(d))
    return str(dest / Path(src).name)


CARD_EDITS = [
    ("missing inputs", lambda d: d.pop("inputs"), "'inputs': the key is missing"),
    ("factors not a list", lambda d: d["inputs"].update(factors="elev"), "'inputs.factors'"),
    ("patch size text", lambda d: d["inputs"].update(patch_size="eight"), "'inputs.patch_size'"),
    ("mean too short", lambda d: d["normalisation"]["factors"].update(mean=[1.0]), "normalisation.factors.mean"),
    ("weights in another folder", lambda d: d.update(weights_file="../x.pt"), "'weights_file'"),
    ("unknown task", lambda d: d.update(task="flood"), "'task'"),
    ("classes not a list", lambda d: d.update(classes="crack"), "'classes'"),
    ("unknown architecture", lambda d: d.update(architecture="transformer"), "'architecture'"),
    ("crack architecture on a susceptibility card", lambda d: d.update(architecture="resnet50_se"), "'architecture'"),
]


@pytest.mark.parametrize("edit,match", [(e, m) for _, e, m in CARD_EDITS], ids=[c[0] for c in CARD_EDITS])
def test_bad_model_cards(refused, world, tmp_path, edit, match):
    card = _edited_card(world["cnn"], tmp_path / "card", edit)
    refused("lsm_predict", predict_params(card, world["stack"], tmp_path), match, tmp_path)


def test_card_that_is_not_json(refused, world, tmp_path):
    card = tmp_path / "cnn.json"
    card.write_text("{ not json")
    refused("lsm_predict", predict_params(str(card), world["stack"], tmp_path), "not readable JSON", tmp_path)


@pytest.mark.parametrize("which", ["cnn", "rf", "xgb"])
@pytest.mark.parametrize("sealed", [True, False], ids=["checksum", "no-checksum"])
def test_weights_of_random_bytes(refused, world, tmp_path, which, sealed):
    """A checksummed card names the swapped file; a card without a checksum still calls it corrupt."""
    card = _edited_card(
        world[which], tmp_path / "card", (lambda d: None) if sealed else (lambda d: d.pop("weights_sha256"))
    )
    w = Path(card).parent / json.loads(Path(card).read_text())["weights_file"]
    w.write_bytes(os.urandom(4096))
    msg = "SHA-256 differs" if sealed else "corrupt"
    refused("lsm_predict", predict_params(card, world["stack"], tmp_path), msg, tmp_path)


def test_missing_weights(refused, world, tmp_path):
    card = _edited_card(world["rf"], tmp_path / "card", lambda d: None)
    (Path(card).parent / "rf.npz").unlink()
    refused("lsm_predict", predict_params(card, world["stack"], tmp_path), "missing", tmp_path)


def test_crack_card_given_to_susceptibility(refused, world, tmp_path):
    refused(
        "lsm_predict", predict_params(world["crack_card"], world["stack"], tmp_path), "not a susceptibility", tmp_path
    )


# -- stacks that do not match the model ---------------------------------------------------------


def test_swapped_bands_are_refused_and_can_be_accepted(refused, run_fb, world, tmp_path):
    swapped = band_swapped_copy(world["stack"], tmp_path / "swapped.tif")
    msg = refused("lsm_predict", predict_params(world["rf"], swapped, tmp_path), "clearly unlike", tmp_path)
    assert "band 1 'elev'" in msg and "look like the training 'slope'" in msg
    out = tmp_path / "accepted"
    r = run_fb("lsm_predict", predict_params(world["rf"], swapped, out, ALLOW_SHIFT=True))
    assert Path(r["OUTPUT"]).exists()


def test_stack_with_other_factor_names(refused, run_fb, world, tmp_path):
    f = world["factors"]
    other = run_fb(
        "lsm_stack_factors",
        {"FACTORS": [f["elev"], f["slope"], f["twi"]], "NAMES": "a,b,c", "OUTPUT": str(tmp_path / "o.tif")},
    )["OUTPUT"]
    refused("lsm_predict", predict_params(world["rf"], other, tmp_path / "x"), "trained on factors", tmp_path)


def test_xgboost_lr_trained_in_qgis_loads_in_the_cli(world, tmp_path):
    """The pickle must not depend on the package name the plugin is installed under."""
    env = {**os.environ, "PYTHONPATH": "/usr/share/qgis/python/plugins"}
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "core",
            "predict",
            world["xgb"],
            world["stack"],
            str(tmp_path / "p.tif"),
            str(tmp_path / "z.tif"),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert r.returncode == 0, r.stderr[-2000:]
    with rasterio.open(tmp_path / "p.tif") as ds:
        a = ds.read(1)
        assert np.isfinite(a).all() and ((a == ds.nodata) | ((a >= 0) & (a <= 1))).all()


# -- samples and inventories --------------------------------------------------------------------


def _samples_with(world, tmp_path, values) -> str:
    from landslide_ai.core.sampling.points import read_points, write_points

    with rasterio.open(world["stack"]) as ds:
        wkt = ds.crs.to_wkt()
    pts = read_points(world["samples"], wkt)
    n = len(pts.x)
    fields = {"label": np.array([values[i % len(values)] for i in range(n)], dtype=object), "split": pts.attrs["split"]}
    out = str(tmp_path / "s.gpkg")
    write_points(out, wkt, pts.x, pts.y, fields)
    return out


@pytest.mark.parametrize(
    "values,match",
    [(["yes", "no"], "must hold numbers"), ([0, 2], "only 1 \\(landslide\\) and 0"), ([1], "both present")],
)
def test_bad_sample_labels(refused, world, tmp_path, values, match):
    samples = _samples_with(world, tmp_path, values)
    refused(
        "lsm_train",
        train_params(world["stack"], samples, str(tmp_path / "m"), [4]),
        match,
        tmp_path,
    )


def test_patch_larger_than_the_stack(refused, world, tmp_path):
    refused(
        "lsm_train",
        train_params(world["stack"], world["samples"], str(tmp_path / "m"), [0], PATCH_SIZE=128),
        "larger than the stack",
        tmp_path,
    )


def _inventory_with_field(world, tmp_path, values) -> str:
    from landslide_ai.core.sampling.points import read_points, write_points

    with rasterio.open(world["stack"]) as ds:
        wkt = ds.crs.to_wkt()
    pts = read_points(world["inventory"], wkt)
    field = np.array([values[i % len(values)] for i in range(len(pts.x))], dtype=object)
    out = str(tmp_path / "inv.gpkg")
    write_points(out, wkt, pts.x, pts.y, {"present": field})
    return out, int(sum(1 for i in range(len(pts.x)) if values[i % len(values)] in ("yes", "Yes", "TRUE")))


def test_presence_field_yes_no_is_understood(run_fb, world, tmp_path):
    """'yes'/'Yes' rows are the landslides: the CF table equals the one of an inventory of only those rows."""
    from landslide_ai.core.sampling.points import read_points, write_points

    inv, n_yes = _inventory_with_field(world, tmp_path, ["yes", "no", "Yes"])
    with rasterio.open(world["stack"]) as ds:
        wkt = ds.crs.to_wkt()
    pts = read_points(world["inventory"], wkt)
    keep = np.array([i % 3 != 1 for i in range(len(pts.x))])
    only = str(tmp_path / "only.gpkg")
    write_points(only, wkt, pts.x[keep], pts.y[keep], {"id": np.arange(int(keep.sum()))})
    tables = []
    for name, layer, field in (("a", inv, "present"), ("b", only, "")):
        r = run_fb(
            "lsm_cf_map",
            {
                "STACK": world["stack"],
                "INVENTORY": layer,
                "PRESENCE_FIELD": field,
                "SCORE": str(tmp_path / f"{name}.tif"),
                "ZONING": str(tmp_path / f"{name}z.tif"),
                "TABLE_CSV": str(tmp_path / f"{name}.csv"),
            },
        )
        tables.append(Path(r["TABLE_CSV"]).read_text())
    assert n_yes == int(keep.sum()) > 0
    assert tables[0] == tables[1]


def test_presence_field_matching_nothing(refused, world, tmp_path):
    inv, _ = _inventory_with_field(world, tmp_path, ["maybe", "unknown"])
    msg = refused(
        "lsm_cf_map",
        {
            "STACK": world["stack"],
            "INVENTORY": inv,
            "PRESENCE_FIELD": "present",
            "SCORE": str(tmp_path / "a.tif"),
            "ZONING": str(tmp_path / "b.tif"),
            "TABLE_CSV": str(tmp_path / "c.csv"),
        },
        "no value meaning 'landslide'",
        tmp_path,
    )
    assert "maybe" in msg and "CRS" not in msg


def test_presence_field_absent(refused, world, tmp_path):
    refused(
        "lsm_sample_absences",
        {
            "STACK": world["stack"],
            "INVENTORY": world["inventory"],
            "PRESENCE_FIELD": "nope",
            "OUTPUT": str(tmp_path / "s.gpkg"),
        },
        "has no field 'nope'",
        tmp_path,
    )


def test_duplicate_inventory_points_count_once(run_fb, world, tmp_path):
    from landslide_ai.core.sampling.points import read_points, write_points

    with rasterio.open(world["stack"]) as ds:
        wkt = ds.crs.to_wkt()
    pts = read_points(world["inventory"], wkt)
    dup = str(tmp_path / "dup.gpkg")
    write_points(dup, wkt, np.r_[pts.x, pts.x], np.r_[pts.y, pts.y], {"id": np.arange(2 * len(pts.x))})
    tables = []
    for inv, name in ((world["inventory"], "one"), (dup, "two")):
        rec = Recorder()
        r = run_fb(
            "lsm_cf_map",
            {
                "STACK": world["stack"],
                "INVENTORY": inv,
                "SCORE": str(tmp_path / f"{name}.tif"),
                "ZONING": str(tmp_path / f"{name}z.tif"),
                "TABLE_CSV": str(tmp_path / f"{name}.csv"),
            },
            rec,
        )
        tables.append(Path(r["TABLE_CSV"]).read_text())
    assert tables[0] == tables[1]
    assert "share a cell" in rec.text()


# -- factor rasters and DEMs --------------------------------------------------------------------


def test_one_pixel_factor(refused, world, tmp_path):
    tiny = write_raster(tmp_path / "tiny.tif", np.ones((1, 1)), transform=(30.0, 0, 500300.0, 0, -30.0, 9559700.0))
    msg = refused(
        "lsm_stack_factors",
        {"FACTORS": [world["factors"]["elev"], tiny], "NAMES": "elev,tiny", "OUTPUT": str(tmp_path / "s.tif")},
        "too small",
        tmp_path,
    )
    assert "'tiny'" in msg


def test_names_count_mismatch(refused, world, tmp_path):
    refused(
        "lsm_stack_factors",
        {"FACTORS": list(world["factors"].values()), "NAMES": "a,b", "OUTPUT": str(tmp_path / "s.tif")},
        "2 names given for 3",
        tmp_path,
    )


def test_all_nodata_dem(refused, tmp_path):
    dem = write_dem(tmp_path / "dem.tif", np.full((40, 40), -9999.0))
    refused("lsm_derive_terrain", {"DEM": dem, "OUTPUT_FOLDER": str(tmp_path / "t")}, "all nodata", tmp_path)


def test_all_nan_dem_without_declared_nodata(refused, tmp_path):
    dem = write_dem(tmp_path / "dem.tif", np.full((40, 40), np.nan), nodata=None)
    refused("lsm_derive_terrain", {"DEM": dem, "OUTPUT_FOLDER": str(tmp_path / "t")}, "all nodata", tmp_path)


def test_dem_holes_stay_nodata_in_every_derivative(run_fb, tmp_path):
    yy, xx = np.mgrid[0:40, 0:40]
    z = 1000 + 5.0 * yy + 0.02 * (xx - 20) ** 2
    z[10:14, 10:14] = np.nan  # undeclared NaN hole
    z[25:28, 25:28] = -9999.0  # declared nodata hole
    dem = write_dem(tmp_path / "dem.tif", z, nodata=-9999.0)
    r = run_fb("lsm_derive_terrain", {"DEM": dem, "OUTPUT_FOLDER": str(tmp_path / "t")})
    for p in r["OUTPUT_LAYERS"]:
        with rasterio.open(p) as ds:
            a = ds.read(1)
            assert ds.nodata is not None and np.isfinite(a).all(), p
            assert (a[10:14, 10:14] == ds.nodata).all() and (a[25:28, 25:28] == ds.nodata).all(), p
            assert (a[30:38, 2:8] != ds.nodata).all(), p


def test_dem_too_small(refused, tmp_path):
    dem = write_dem(tmp_path / "dem.tif", np.ones((2, 2)))
    refused("lsm_derive_terrain", {"DEM": dem, "OUTPUT_FOLDER": str(tmp_path / "t")}, "at least 3 x 3", tmp_path)


# -- orthomosaics and crack images --------------------------------------------------------------


def _ortho_with_declared_alpha(path: Path, alpha: np.ndarray) -> str:
    from rasterio.enums import ColorInterp

    h, w = alpha.shape
    rng = np.random.default_rng(1)
    data = rng.integers(100, 200, (4, h, w), dtype=np.uint8)
    data[3] = alpha
    with rasterio.open(
        path, "w", driver="GTiff", width=w, height=h, count=4, dtype="uint8", crs="EPSG:32633",
        transform=rasterio.Affine(0.02, 0, 638838.7, 0, -0.02, 5802604.9), photometric="RGB", alpha="YES",
    ) as ds:  # fmt: skip
        ds.write(data)
        ds.colorinterp = [ColorInterp.red, ColorInterp.green, ColorInterp.blue, ColorInterp.alpha]
    return str(path)


def test_fully_transparent_orthomosaic_is_not_scored(refused, world, tmp_path):
    o = _ortho_with_declared_alpha(tmp_path / "o.tif", np.zeros((96, 96), np.uint8))
    refused(
        "crack_predict",
        {
            "MODEL": world["crack_card"],
            "INPUT": o,
            "CHIP_PX": 48,
            "STRIDE_PX": 48,
            "OUTPUT": str(tmp_path / "p.tif"),
            "CHIPS": str(tmp_path / "c.gpkg"),
        },
        "valid pixels",
        tmp_path,
    )


def test_declared_alpha_is_honoured_by_default(run_fb, world, tmp_path):
    alpha = np.zeros((96, 96), np.uint8)
    alpha[:, :48] = 255
    o = _ortho_with_declared_alpha(tmp_path / "o.tif", alpha)
    r = run_fb("crack_tile", {"INPUT": o, "CHIP_PX": 48, "STRIDE_PX": 48, "OUTPUT": str(tmp_path / "c.gpkg")})
    from qgis.core import QgsVectorLayer

    assert QgsVectorLayer(r["OUTPUT"], "c").featureCount() == 2  # only the opaque left column of chips


def test_rgb_band_used_as_alpha(refused, world, tmp_path):
    refused(
        "crack_tile",
        {
            "INPUT": world["ortho"],
            "RGB_BANDS": "1,2,3",
            "ALPHA_BAND": 3,
            "CHIP_PX": 48,
            "OUTPUT": str(tmp_path / "c.gpkg"),
        },
        "both an RGB band and the alpha band",
        tmp_path,
    )


def test_alpha_band_out_of_range(refused, world, tmp_path):
    refused(
        "crack_tile",
        {"INPUT": world["ortho"], "ALPHA_BAND": 9, "CHIP_PX": 48, "OUTPUT": str(tmp_path / "c.gpkg")},
        "outside 1..4",
        tmp_path,
    )


def _image_set_with(tmp_path: Path, bad_name: str, bad_writer) -> Path:
    from helpers import make_set

    root = Path(make_set(tmp_path / "imgs", n=12))
    bad_writer(root / "crack" / bad_name)
    return root


@pytest.mark.parametrize(
    "name,writer,match",
    [
        ("deep.tif", lambda p: Image.fromarray(np.full((48, 48), 40000, np.uint16)).save(p), "not an 8-bit image"),
        ("float.tif", lambda p: Image.fromarray(np.full((48, 48), 0.5, np.float32)).save(p), "not an 8-bit image"),
        ("broken.png", lambda p: p.write_bytes(b"\x89PNG not really"), "Cannot read image"),
    ],
    ids=["16-bit", "float", "corrupt"],
)
def test_bad_training_images(refused, tmp_path, name, writer, match):
    root = _image_set_with(tmp_path, name, writer)
    msg = refused(
        "crack_train",
        {
            "TARGET_FOLDER": str(root),
            "ARCHITECTURE": 0,
            "EPOCHS": 1,
            "INPUT_PX": 48,
            "OUTPUT_FOLDER": str(tmp_path / "m"),
        },
        match,
        tmp_path,
    )
    assert name in msg


# -- reproducibility ----------------------------------------------------------------------------


def test_crack_train_same_seed_same_weights(run_fb, world, tmp_path):
    import torch

    states = []
    for k in range(2):
        r = run_fb(
            "crack_train",
            {
                "TARGET_FOLDER": str(world["crack_images"]),
                "ARCHITECTURE": 0,
                "EPOCHS": 1,
                "INPUT_PX": 48,
                "SEED": 7,
                "OUTPUT_FOLDER": str(tmp_path / f"m{k}"),
            },
        )
        card = json.loads(Path(r["MODEL_CARD"]).read_text())
        states.append(torch.load(Path(r["MODEL_CARD"]).parent / card["weights_file"]))
    assert states[0].keys() == states[1].keys()
    assert all(torch.equal(states[0][k], states[1][k]) for k in states[0])


def test_lsm_train_same_seed_same_metrics_and_weights(run_fb, world, tmp_path):
    import torch

    runs = []
    for k in range(2):
        r = run_fb("lsm_train", train_params(world["stack"], world["samples"], tmp_path / f"m{k}", [0, 4], SEED=11))
        runs.append(Path(r["OUTPUT_FOLDER"]))
    assert (runs[0] / "comparison.csv").read_text() == (runs[1] / "comparison.csv").read_text()
    a, b = torch.load(runs[0] / "cnn.pt"), torch.load(runs[1] / "cnn.pt")
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_sampling_same_seed_same_samples(run_fb, world, tmp_path):
    from qgis.core import QgsVectorLayer

    coords = []
    for k in range(2):
        r = run_fb(
            "lsm_sample_absences",
            {
                "STACK": world["stack"],
                "INVENTORY": world["inventory"],
                "STRATEGY": 2,
                "CF_ZONING": world["cf_zoning"],
                "BLOCK_SIZE_M": 450.0,
                "SEED": 5,
                "OUTPUT": str(tmp_path / f"s{k}.gpkg"),
            },
        )
        lyr = QgsVectorLayer(r["OUTPUT"], "s")
        coords.append(
            sorted((f.geometry().asPoint().x(), f.geometry().asPoint().y(), f["label"]) for f in lyr.getFeatures())
        )
    assert coords[0] == coords[1] and len(coords[0]) > 0


# -- degenerate results are flagged ---------------------------------------------------------------


def test_degenerate_predictions_are_flagged():
    from landslide_ai.core.susceptibility.evaluate import degenerate_flags

    y = np.array([0, 0, 1, 1, 0, 1])
    assert any("one class" in f for f in degenerate_flags(y, np.full(6, 0.2)))
    assert any("constant" in f for f in degenerate_flags(y, np.full(6, 0.2)))
    assert any("chance" in f for f in degenerate_flags(y, np.array([0.6, 0.4, 0.6, 0.4, 0.5, 0.5])))
    assert degenerate_flags(y, np.array([0.1, 0.2, 0.9, 0.8, 0.3, 0.7])) == []


def test_empty_quantile_zones_are_warned(run_fb, world, tmp_path):
    """A stack whose values tie heavily gives coinciding quantile breaks: the log says which zones are empty."""
    f = world["factors"]
    flat = tmp_path / "flat"
    flat.mkdir()
    for name in ("elev", "slope", "twi"):
        with rasterio.open(f[name]) as ds:
            a = ds.read(1)
        write_raster(flat / f"{name}.tif", np.where(np.arange(a.size).reshape(a.shape) % 7 == 0, a, np.median(a)))
    stack = run_fb(
        "lsm_stack_factors",
        {
            "FACTORS": [str(flat / f"{n}.tif") for n in ("elev", "slope", "twi")],
            "NAMES": FACTOR_NAMES,
            "OUTPUT": str(flat / "s.tif"),
        },
    )["OUTPUT"]
    rec = Recorder()
    run_fb("lsm_predict", predict_params(world["rf"], stack, tmp_path / "o", ALLOW_SHIFT=True), rec)
    assert "empty" in rec.text()


def test_sampling_rule_that_decides_the_metrics_is_flagged(run_fb, world, tmp_path):
    """Slope-threshold absences on a stack that contains slope: the report says the AUC is circular."""
    samples = run_fb(
        "lsm_sample_absences",
        {
            "STACK": world["stack"],
            "INVENTORY": world["inventory"],
            "STRATEGY": 1,
            "SLOPE_FACTOR": "slope",
            "SLOPE_MAX_DEG": 20.0,
            "BLOCK_SIZE_M": 450.0,
            "OUTPUT": str(tmp_path / "s.gpkg"),
        },
    )["OUTPUT"]
    rec = Recorder()
    r = run_fb(
        "lsm_train",
        train_params(world["stack"], samples, str(tmp_path / "m"), [4]),
        rec,
    )
    page = Path(r["TABLE_HTML"]).read_text()
    assert "Read with care" in page and "slope threshold" in page
    rows = Path(r["OUTPUT_FOLDER"], "fair_play.csv").read_text().splitlines()
    flagged = [row for row in rows[1:] if row.endswith("separates alone")]
    assert any(row.startswith("slope,") for row in flagged)
    assert "Warning: Factor 'slope' alone separates" in rec.text()


def test_patch_covering_much_of_the_area_is_warned(run_fb, world, tmp_path):
    rec = Recorder()
    run_fb(
        "lsm_train",
        train_params(world["stack"], world["samples"], str(tmp_path / "m"), [0], epochs=1, PATCH_SIZE=20),
        rec,
    )
    assert "covers 11.1% of the stack's 3600 valid cells" in rec.text()
    assert "a patch of 8 cells or fewer keeps it under 2%" in rec.text()


def test_patch_warning_counts_valid_cells_not_the_grid(tmp_path):
    """Half the grid is nodata: an 8-cell patch is 1.8 % of the grid but 3.6 % of the study area."""
    import numpy as np

    from conftest import write_raster
    from landslide_ai.core.susceptibility.train import patch_share_note

    a = np.ones((60, 60), np.float32)
    a[:, 30:] = -9999.0
    full = write_raster(tmp_path / "full.tif", np.ones((60, 60), np.float32))
    half = write_raster(tmp_path / "half.tif", a)
    assert patch_share_note(full, 8) is None
    note = patch_share_note(half, 8)
    assert note is not None and "1800 valid cells" in note and "a patch of 6 cells or fewer" in note
