"""Outputs that would destroy an input or another output are refused before any work; runs are all-or-nothing.

Every case asserts the message, that no file under the watched folders changed, and that nothing
partial (staging folders included) is left.
"""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path

import pytest
import rasterio
from rel_fixtures import FACTOR_NAMES, Recorder

from conftest import train_params


def no_staging_left(*folders: Path) -> None:
    for f in folders:
        assert not list(Path(f).rglob(".landslideai-staging-*")), "a staging folder was left behind"


# -- outputs aimed at inputs ---------------------------------------------------------------------


def test_stack_output_onto_a_factor(refused, sandbox):
    s = sandbox
    refused(
        "lsm_stack_factors",
        {"FACTORS": [s["elev"], s["slope"], s["twi"]], "NAMES": FACTOR_NAMES, "OUTPUT": s["slope"]},
        "would overwrite the input",
        s["dir"],
    )


def test_stack_temporal_output_onto_a_factor(refused, sandbox):
    s = sandbox
    refused(
        "lsm_stack_factors",
        {
            "FACTORS": [s["elev"], s["slope"]],
            "NAMES": "elev,slope",
            "RAINFALL": [s["twi"]] * 12,
            "OUTPUT": str(s["dir"] / "new.tif"),
            "TEMPORAL_OUTPUT": s["twi"],
        },
        "would overwrite the input",
        s["dir"],
    )


@pytest.mark.parametrize("target", ["SCORE", "ZONING"])
def test_cf_outputs_onto_the_stack(refused, sandbox, target):
    s = sandbox
    params = {
        "STACK": s["stack"],
        "INVENTORY": s["inventory"],
        "SCORE": str(s["dir"] / "score.tif"),
        "ZONING": str(s["dir"] / "zones.tif"),
        "TABLE_CSV": str(s["dir"] / "cf.csv"),
    }
    params[target] = s["stack"]
    refused("lsm_cf_map", params, "would overwrite the input", s["dir"])


def test_cf_score_and_zoning_same_path(refused, sandbox):
    s = sandbox
    same = str(s["dir"] / "same.tif")
    refused(
        "lsm_cf_map",
        {
            "STACK": s["stack"],
            "INVENTORY": s["inventory"],
            "SCORE": same,
            "ZONING": same,
            "TABLE_CSV": str(s["dir"] / "t.csv"),
        },
        "both name",
        s["dir"],
    )


def test_cf_table_onto_the_stack_sidecar(refused, sandbox):
    s = sandbox
    refused(
        "lsm_cf_map",
        {
            "STACK": s["stack"],
            "INVENTORY": s["inventory"],
            "SCORE": str(s["dir"] / "a.tif"),
            "ZONING": str(s["dir"] / "b.tif"),
            "TABLE_CSV": s["stack"] + ".json",
        },
        "sidecar",
        s["dir"],
    )


@pytest.mark.parametrize("model", ["rf", "cnn"])
def test_predict_output_onto_the_stack(refused, sandbox, model):
    s = sandbox
    refused(
        "lsm_predict",
        {"MODEL": s[model], "STACK": s["stack"], "OUTPUT": s["stack"], "ZONING": str(s["dir"] / "z.tif")},
        "would overwrite the input",
        s["dir"],
    )


def test_predict_zoning_equals_output(refused, sandbox, tmp_path):
    s = sandbox
    out = tmp_path / "o"
    out.mkdir()
    (out / "p.tif").write_bytes(b"an earlier map")
    refused(
        "lsm_predict",
        {"MODEL": s["rf"], "STACK": s["stack"], "OUTPUT": str(out / "p.tif"), "ZONING": str(out / "p.tif")},
        "both name",
        s["dir"],
        out,
    )


def test_predict_onto_the_model_weights(refused, sandbox):
    s = sandbox
    refused(
        "lsm_predict",
        {
            "MODEL": s["rf"],
            "STACK": s["stack"],
            "OUTPUT": str(s["dir"] / "p.tif"),
            "ZONING": str(s["dir"] / "z.tif"),
            "ZONE_TABLE": str(Path(s["rf"]).with_suffix(".npz")),
        },
        "would overwrite the input",
        s["dir"],
    )


def test_predict_zone_table_onto_the_inventory_sidecar(refused, sandbox):
    s = sandbox
    refused(
        "lsm_predict",
        {
            "MODEL": s["rf"],
            "STACK": s["stack"],
            "INVENTORY": s["inventory"],
            "OUTPUT": str(s["dir"] / "p.tif"),
            "ZONING": str(s["dir"] / "z.tif"),
            "ZONE_TABLE": s["stack"] + ".json",
        },
        "sidecar",
        s["dir"],
    )


def test_sample_output_onto_the_inventory(refused, sandbox):
    s = sandbox
    refused(
        "lsm_sample_absences",
        {"STACK": s["stack"], "INVENTORY": s["inventory"], "OUTPUT": s["inventory"]},
        "would overwrite the input",
        s["dir"],
    )


def test_crack_predict_onto_the_orthomosaic(refused, sandbox, world):
    s = sandbox
    refused(
        "crack_predict",
        {
            "MODEL": world["crack_card"],
            "INPUT": s["ortho"],
            "ALPHA_BAND": 4,
            "CHIP_PX": 48,
            "STRIDE_PX": 48,
            "OUTPUT": s["ortho"],
            "CHIPS": str(s["dir"] / "c.gpkg"),
        },
        "would overwrite the input",
        s["dir"],
    )


def test_crack_gradcam_heatmap_onto_the_probability(refused, sandbox, world):
    s = sandbox
    p = str(s["dir"] / "p.tif")
    refused(
        "crack_gradcam",
        {
            "MODEL": world["crack_card"],
            "INPUT": s["ortho"],
            "ALPHA_BAND": 4,
            "CHIP_PX": 48,
            "STRIDE_PX": 48,
            "OUTPUT": p,
            "GRADCAM": p,
            "CHIPS": str(s["dir"] / "c.gpkg"),
        },
        "both name",
        s["dir"],
    )


def test_crack_train_output_inside_the_image_folder(refused, world, tmp_path):
    imgs = world["crack_images"]
    refused(
        "crack_train",
        {"TARGET_FOLDER": str(imgs), "ARCHITECTURE": 0, "EPOCHS": 1, "INPUT_PX": 48, "OUTPUT_FOLDER": str(imgs / "m")},
        "inside the input folder",
        imgs,
    )


def test_derive_terrain_dem_named_like_a_derivative(refused, world, tmp_path):
    out = tmp_path / "terrain"
    out.mkdir()
    dem = out / "slope.tif"
    dem.write_bytes(Path(world["factors"]["elev"]).read_bytes())
    refused("lsm_derive_terrain", {"DEM": str(dem), "OUTPUT_FOLDER": str(out)}, "replacing the input", out)


def test_derive_terrain_refuses_a_users_file(refused, world, tmp_path):
    out = tmp_path / "terrain"
    out.mkdir()
    (out / "twi.tif").write_bytes(b"the user's own twi")
    refused(
        "lsm_derive_terrain",
        {"DEM": world["factors"]["elev"], "OUTPUT_FOLDER": str(out)},
        "did not write",
        out,
        Path(world["factors"]["elev"]).parent,
    )


def test_derive_terrain_rerun_into_its_own_folder_replaces_its_files(run_fb, world, tmp_path):
    out = tmp_path / "terrain"
    first = run_fb("lsm_derive_terrain", {"DEM": world["factors"]["elev"], "OUTPUT_FOLDER": str(out)})
    again = run_fb("lsm_derive_terrain", {"DEM": world["factors"]["elev"], "OUTPUT_FOLDER": str(out)})
    assert sorted(first["OUTPUT_LAYERS"]) == sorted(again["OUTPUT_LAYERS"])
    assert all(Path(p).parent == out for p in again["OUTPUT_LAYERS"])
    manifest = json.loads((out / ".landslideai-manifest.json").read_text())
    assert {"slope.tif", "aspect.tif", "plan_curvature_convex_pos.tif", "twi.tif"} <= set(manifest["files"])
    no_staging_left(tmp_path)


def test_train_refuses_a_folder_with_the_users_table(refused, world, tmp_path):
    out = tmp_path / "models"
    out.mkdir()
    (out / "comparison.csv").write_text("the user's own table\n")
    refused(
        "lsm_train",
        train_params(world["stack"], world["samples"], str(out), [4]),
        "did not write",
        out,
    )


def test_output_that_is_an_existing_folder(refused, sandbox):
    s = sandbox
    (s["dir"] / "afolder.tif").mkdir()
    refused(
        "lsm_predict",
        {
            "MODEL": s["rf"],
            "STACK": s["stack"],
            "OUTPUT": str(s["dir"] / "afolder.tif"),
            "ZONING": str(s["dir"] / "z.tif"),
        },
        "existing folder",
        s["dir"],
    )


def test_restacking_onto_our_own_earlier_stack_is_allowed(run_fb, world, tmp_path):
    out = str(tmp_path / "stack.tif")
    f = list(world["factors"].values())
    run_fb("lsm_stack_factors", {"FACTORS": f, "NAMES": FACTOR_NAMES, "RESOLUTION": 30.0, "OUTPUT": out})
    run_fb("lsm_stack_factors", {"FACTORS": f, "NAMES": FACTOR_NAMES, "RESOLUTION": 60.0, "OUTPUT": out})
    with rasterio.open(out) as ds:
        assert ds.res == (60.0, 60.0)
    no_staging_left(tmp_path)


# -- late failures, cancel: nothing new, nothing changed -----------------------------------------


@pytest.mark.parametrize(
    "thresholds,match",
    [
        ("0.8,0.6,0.4,0.2", "strictly ascending"),
        ("0.2,0.4,0.6", "4 finite"),
        ("low,mid,high,top", "comma-separated numbers"),
        ("0.2,nan,0.6,0.8", "finite"),
        ("0.2,0.2,0.6,0.8", "strictly ascending"),
    ],
)
def test_bad_user_thresholds_keep_the_existing_map(refused, sandbox, tmp_path, thresholds, match):
    s = sandbox
    out = tmp_path / "maps"
    out.mkdir()
    (out / "p.tif").write_bytes(b"an earlier map the user keeps")
    rec = Recorder()
    refused(
        "lsm_predict",
        {
            "MODEL": s["rf"],
            "STACK": s["stack"],
            "ZONING_METHOD": 2,
            "THRESHOLDS": thresholds,
            "OUTPUT": str(out / "p.tif"),
            "ZONING": str(out / "z.tif"),
        },
        match,
        out,
        s["dir"],
        rec=rec,
    )
    assert not any("chip row" in m or "window" in m for m in rec.messages)  # refused before predicting


def _stack(w, o):
    return {"FACTORS": list(w["factors"].values()), "NAMES": FACTOR_NAMES, "OUTPUT": str(o / "s.tif")}


def _terrain(w, o):
    return {"DEM": w["factors"]["elev"], "OUTPUT_FOLDER": str(o / "terrain")}


def _cf(w, o):
    return {
        "STACK": w["stack"],
        "INVENTORY": w["inventory"],
        "SCORE": str(o / "a.tif"),
        "ZONING": str(o / "b.tif"),
        "TABLE_CSV": str(o / "c.csv"),
    }


def _train(w, o):
    return train_params(w["stack"], w["samples"], o / "models", [4, 0], epochs=3)


def _predict(w, o):
    return {
        "MODEL": w["cnn"],
        "STACK": w["stack"],
        "BLOCK_SIZE": 16,
        "OUTPUT": str(o / "p.tif"),
        "ZONING": str(o / "z.tif"),
    }


def _crack_predict(w, o):
    return {
        "MODEL": w["crack_card"],
        "INPUT": w["ortho"],
        "ALPHA_BAND": 4,
        "CHIP_PX": 48,
        "STRIDE_PX": 24,
        "OUTPUT": str(o / "p.tif"),
        "CHIPS": str(o / "c.gpkg"),
    }


def _crack_train(w, o):
    return {
        "TARGET_FOLDER": str(w["crack_images"]),
        "ARCHITECTURE": 0,
        "EPOCHS": 3,
        "INPUT_PX": 48,
        "OUTPUT_FOLDER": str(o / "m"),
    }


CANCEL_CASES = [
    ("lsm_stack_factors", _stack, 0.3),
    ("lsm_derive_terrain", _terrain, 0.4),
    ("lsm_cf_map", _cf, 0.5),
    ("lsm_train", _train, 0.55),
    ("lsm_predict", _predict, 0.3),
    ("crack_predict", _crack_predict, 0.3),
    ("crack_train", _crack_train, 0.4),
]


@pytest.mark.parametrize("alg,params_fn,at", CANCEL_CASES, ids=[c[0] for c in CANCEL_CASES])
def test_cancel_leaves_nothing(refused, world, tmp_path, alg, params_fn, at):
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("an unrelated file")
    refused(alg, params_fn(world, out), "Canceled", out, rec=Recorder(cancel_at=at))
    assert sorted(p.name for p in out.iterdir()) == ["keep.txt"]


def test_cancel_during_second_model_keeps_the_earlier_run(run_fb, refused, world, tmp_path):
    """The first run's models stay exactly as they were; the canceled run adds nothing."""
    out = tmp_path / "models"
    params = {
        "STACK": world["stack"],
        "SAMPLES": world["samples"],
        "CV_FOLDS": 0,
        "MODELS": [4],
        "SHAP_SAMPLES": 0,
        "OUTPUT_FOLDER": str(out),
    }
    run_fb("lsm_train", params)
    params2 = {**params, "MODELS": [4, 0], "EPOCHS": 3, "PATCH_SIZE": 8}
    refused("lsm_train", params2, "Canceled", out, rec=Recorder(cancel_on_text="CNN epoch"))
    assert not (out / "cnn.json").exists()


def test_failing_later_step_of_derive_terrain_leaves_nothing(refused, world, tmp_path):
    from qgis.core import QgsVectorLayer

    empty = tmp_path / "roads.gpkg"
    lyr = QgsVectorLayer("LineString?crs=EPSG:32717", "roads", "memory")
    from qgis.core import QgsVectorFileWriter

    QgsVectorFileWriter.writeAsVectorFormat(lyr, str(empty), "utf-8", lyr.crs(), "GPKG")
    out = tmp_path / "terrain"
    refused(
        "lsm_derive_terrain",
        {"DEM": world["factors"]["elev"], "VECTORS": [str(empty)], "OUTPUT_FOLDER": str(out)},
        "no features",
        tmp_path,
    )
    assert not out.exists()


# -- operating-system errors: one sentence naming the path ----------------------------------------


def test_name_too_long(refused, sandbox, tmp_path):
    s = sandbox
    msg = refused(
        "lsm_predict",
        {
            "MODEL": s["rf"],
            "STACK": s["stack"],
            "OUTPUT": str(tmp_path / ("x" * 300 + ".tif")),
            "ZONING": str(tmp_path / "z.tif"),
        },
        "too long",
        tmp_path,
    )
    assert "choose a shorter name" in msg


def test_output_below_a_file(refused, sandbox, tmp_path):
    s = sandbox
    (tmp_path / "afile").write_text("x")
    refused(
        "lsm_predict",
        {
            "MODEL": s["rf"],
            "STACK": s["stack"],
            "OUTPUT": str(tmp_path / "afile" / "p.tif"),
            "ZONING": str(tmp_path / "z.tif"),
        },
        "used as a folder|Could not write",
        tmp_path,
    )


@pytest.mark.parametrize(
    "code,match",
    [(errno.EACCES, "Permission denied"), (errno.EROFS, "read-only"), (errno.ENOSPC, "No space left")],
)
def test_staging_os_errors_are_one_sentence(refused, sandbox, tmp_path, monkeypatch, code, match):
    from landslide_ai.core import outputs

    def fail(*a, **k):
        raise OSError(code, os.strerror(code), str(tmp_path))

    monkeypatch.setattr(outputs.tempfile, "mkdtemp", fail)
    s = sandbox
    msg = refused(
        "lsm_predict",
        {"MODEL": s["rf"], "STACK": s["stack"], "OUTPUT": str(tmp_path / "p.tif"), "ZONING": str(tmp_path / "z.tif")},
        match,
        tmp_path,
        s["dir"],
    )
    assert str(tmp_path) in msg


def test_disk_full_while_publishing_restores_everything(refused, sandbox, tmp_path, monkeypatch):
    """The second file fails to move into place: the first is taken back and the old files restored."""
    from landslide_ai.core import outputs

    s = sandbox
    out = tmp_path / "maps"
    out.mkdir()
    (out / "p.tif").write_bytes(b"old probability")
    (out / "z.tif").write_bytes(b"old zoning")
    real = os.replace
    calls = {"n": 0}

    def flaky(src, dst):
        if ".landslideai-staging-" in str(src) and ".backup-" not in str(dst):
            calls["n"] += 1
            if calls["n"] == 2:
                raise OSError(errno.ENOSPC, "No space left on device", str(dst))
        return real(src, dst)

    monkeypatch.setattr(outputs.os, "replace", flaky)
    refused(
        "lsm_predict",
        {"MODEL": s["rf"], "STACK": s["stack"], "OUTPUT": str(out / "p.tif"), "ZONING": str(out / "z.tif")},
        "No space left",
        out,
    )
    no_staging_left(out)


def test_disk_full_during_the_engine(refused, sandbox, tmp_path, monkeypatch):
    """A write error inside the engine (GDAL, torch or numpy) becomes the disk-full sentence when space is low."""
    import shutil as sh

    from landslide_ai.algorithms import output_guard

    s = sandbox
    real = sh.disk_usage
    monkeypatch.setattr(output_guard.shutil, "disk_usage", lambda p: real(p)._replace(free=1024))
    from landslide_ai.core.susceptibility import predict as pred

    def boom(*a, **k):
        raise RuntimeError("PytorchStreamWriter failed writing file data/0: file write failed")

    monkeypatch.setattr(pred, "predict_stack", boom)
    refused(
        "lsm_predict",
        {"MODEL": s["rf"], "STACK": s["stack"], "OUTPUT": str(tmp_path / "p.tif"), "ZONING": str(tmp_path / "z.tif")},
        "No space left",
        tmp_path,
    )


def test_unexpected_error_is_a_sentence_not_a_traceback(refused, sandbox, tmp_path, monkeypatch):
    from landslide_ai.core.susceptibility import predict as pred

    def boom(*a, **k):
        raise ZeroDivisionError("division by zero")

    monkeypatch.setattr(pred, "predict_stack", boom)
    s = sandbox
    msg = refused(
        "lsm_predict",
        {"MODEL": s["rf"], "STACK": s["stack"], "OUTPUT": str(tmp_path / "p.tif"), "ZONING": str(tmp_path / "z.tif")},
        "failed unexpectedly",
        tmp_path,
    )
    assert "Nothing was written" in msg


@pytest.fixture
def tiny_disk(tmp_path):
    """A real 256 KiB tmpfs, nearly filled, where the machine allows mounting one (root on Linux)."""
    import shutil
    import subprocess

    mnt = tmp_path / "tiny"
    mnt.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mnt)], capture_output=True)
    if r.returncode != 0:
        pytest.skip("cannot mount a tmpfs here: " + r.stderr.decode(errors="replace").strip())
    try:
        (mnt / "filler.bin").write_bytes(b"\0" * (shutil.disk_usage(mnt).free - 12 * 1024))
        yield mnt
    finally:
        subprocess.run(["umount", str(mnt)], capture_output=True)


def test_real_disk_full_leaves_nothing(refused, world, tiny_disk):
    f = list(world["factors"].values())
    before = sorted(p.name for p in tiny_disk.iterdir())
    msg = refused(
        "lsm_stack_factors",
        {"FACTORS": f, "NAMES": FACTOR_NAMES, "RESOLUTION": 10.0, "OUTPUT": str(tiny_disk / "stack.tif")},
        "No space left",
        tiny_disk,
    )
    assert str(tiny_disk) in msg and "Traceback" not in msg
    assert sorted(p.name for p in tiny_disk.iterdir()) == before


def test_unit_output_onto_the_unit_layer(refused, world, tmp_path):
    """Feature-sink outputs are guarded and staged like the others."""
    from helpers import write_polygons
    from shapely.geometry import box

    with rasterio.open(world["stack"]) as ds:
        b, wkt = ds.bounds, ds.crs.to_wkt()
    units = write_polygons(tmp_path / "units.gpkg", wkt, [box(b.left, b.bottom, b.right, b.top)])
    refused(
        "lsm_aggregate_units",
        {"SUSCEPTIBILITY": world["cf_zoning"], "UNITS": units, "OUTPUT": units},
        "would overwrite the input",
        tmp_path,
    )


def test_a_read_failure_reported_through_its_cause_is_called_unreadable():
    """rasterio 1.4 (QGIS 3.40+) says only "Read failed" and chains GDAL's message as the cause: still a damaged
    input, named from GDAL's message, never "Could not write ''"."""
    from landslide_ai.core.outputs import describe_os_error

    try:
        try:
            raise OSError(
                "/data/in/stack.tif, band 1: IReadBlock failed at X offset 0, Y offset 0: TIFFReadEncodedTile()"
            )
        except OSError as gdal:
            raise RuntimeError("Read failed. See previous exception for details.") from gdal
    except RuntimeError as exc:
        msg = describe_os_error(exc)
    assert msg.startswith("Cannot read the input '/data/in/stack.tif': the file is damaged or truncated"), msg
    assert "TIFFReadEncodedTile" in msg and "Could not write" not in msg
