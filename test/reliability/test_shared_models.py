"""A model card shared by a hostile colleague cannot run code, read files outside its folder, or pass off
another model's file; every refusal names the file, changes nothing and leaves nothing behind.

The attack in every case is a pickle that calls ``os.system("touch MARKER")`` when unpickled: the
marker file must never appear, whether the card is loaded through Processing, the command line or
the one-time converter.
"""

from __future__ import annotations

import json
import os
import pickle
import shutil
import subprocess
import sys
from pathlib import Path

import joblib
import numpy as np
import pytest
import rasterio
from rel_fixtures import snapshot

ROOT = Path(__file__).resolve().parents[2]


class _Payload:
    """Unpickling this runs a shell command (the classic crafted-pickle attack)."""

    def __init__(self, marker: Path) -> None:
        self.cmd = f"touch {marker}"

    def __reduce__(self):
        return (os.system, (self.cmd,))


def _copy_card(src: str, dest: Path, edit=None) -> Path:
    """The card and its weights copied to ``dest`` (the card optionally edited as JSON)."""
    dest.mkdir(parents=True, exist_ok=True)
    d = json.loads(Path(src).read_text())
    shutil.copy(Path(src).parent / d["weights_file"], dest / d["weights_file"])
    if edit:
        edit(d)
    (dest / Path(src).name).write_text(json.dumps(d))
    return dest / Path(src).name


def _crafted_card(src: str, dest: Path, weights_name: str, payload: bytes) -> Path:
    """``src``'s card naming ``weights_name`` (no checksum), whose content is ``payload``."""

    def edit(d):
        d["weights_file"] = weights_name
        d.pop("weights_sha256", None)

    card = _copy_card(src, dest, edit)
    (dest / weights_name).write_bytes(payload)
    return card


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "core", *args], cwd=ROOT, capture_output=True, text=True, timeout=600)


def _predict(card, stack, out: Path) -> dict:
    return {"MODEL": str(card), "STACK": stack, "OUTPUT": str(out / "p.tif"), "ZONING": str(out / "z.tif")}


# -- pickles never run -------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["rf", "xgb"])
@pytest.mark.parametrize("name", ["model.joblib", "model.npz"], ids=["joblib", "npz-named"])
def test_crafted_pickle_never_runs_through_processing(refused, world, tmp_path, kind, name):
    marker = tmp_path / "MARKER"
    card = _crafted_card(world[kind], tmp_path / "card", name, pickle.dumps(_Payload(marker)))
    msg = refused("lsm_predict", _predict(card, world["stack"], tmp_path), "pickle", tmp_path)
    assert not marker.exists(), "the crafted model ran its command"
    assert "convert-model" in msg  # the way out for a real old card


def test_crafted_joblib_never_runs_on_the_command_line(world, tmp_path):
    marker = tmp_path / "MARKER"
    card = _crafted_card(world["rf"], tmp_path / "card", "rf.joblib", pickle.dumps(_Payload(marker)))
    before = snapshot(tmp_path)
    r = _cli("predict", str(card), world["stack"], str(tmp_path / "p.tif"), str(tmp_path / "z.tif"))
    assert r.returncode == 2 and "pickled model" in r.stderr and "Traceback" not in r.stderr, r.stderr
    assert not marker.exists()
    assert snapshot(tmp_path) == before


def test_converter_refuses_a_crafted_joblib_before_running_it(world, tmp_path):
    marker = tmp_path / "MARKER"
    card = _crafted_card(world["rf"], tmp_path / "card", "rf.joblib", joblib_bytes(_Payload(marker), tmp_path))
    before = snapshot(tmp_path)
    r = _cli("convert-model", str(card), str(tmp_path / "new"))
    assert r.returncode == 2, r.stderr
    assert "system" in r.stderr and "no Landslide AI model contains" in r.stderr and "Traceback" not in r.stderr
    assert not marker.exists()
    assert snapshot(tmp_path) == before


def test_converter_refuses_a_model_of_another_type(world, tmp_path):
    """A harmless but foreign object (a dict of numbers) is not turned into a model either."""
    card = _crafted_card(world["rf"], tmp_path / "card", "rf.joblib", joblib_bytes({"a": np.arange(3)}, tmp_path))
    before = snapshot(tmp_path)
    r = _cli("convert-model", str(card), str(tmp_path / "new"))
    assert r.returncode == 2 and "not the Random Forest its card names" in r.stderr, r.stderr
    assert snapshot(tmp_path) == before


def joblib_bytes(obj, tmp: Path) -> bytes:
    p = tmp / "obj.joblib"
    joblib.dump(obj, p)
    data = p.read_bytes()
    p.unlink()
    return data


@pytest.mark.parametrize("kind,via", [("rf", "cli"), ("xgb", "processing")])
def test_a_real_old_card_converts_and_maps_the_same(run_fb, world, tmp_path, kind, via):
    """A .joblib of version <= 0.2 (written as it was then) converts once; its map equals the original's."""
    from landslide_ai.core.susceptibility.tabular_io import load_tabular

    src = Path(world[kind])
    arch = json.loads(src.read_text())["architecture"]
    model = load_tabular(src.parent / f"{arch}.npz", arch)
    legacy = (
        {"format": "landslide_ai.tree_model.v1", "kind": "xgboost_lr", "state": dict(vars(model))}
        if arch == "xgb_lr"
        else model
    )
    card = _crafted_card(str(src), tmp_path / "old", f"{arch}.joblib", joblib_bytes(legacy, tmp_path))
    before = snapshot(card.parent)
    if via == "cli":
        r = _cli("convert-model", str(card), str(tmp_path / "new"))
        assert r.returncode == 0, r.stderr
        new = tmp_path / "new" / card.name
    else:
        new = Path(run_fb("model_convert", {"MODEL": str(card), "OUTPUT_FOLDER": str(tmp_path / "new")})["MODEL_CARD"])
    assert new == tmp_path / "new" / card.name and snapshot(card.parent) == before  # the old card is untouched
    d = json.loads(new.read_text())
    assert d["weights_file"] == f"{arch}.npz" and len(d["weights_sha256"]) == 64
    a = run_fb("lsm_predict", _predict(new, world["stack"], tmp_path / "a"))
    b = run_fb("lsm_predict", _predict(src, world["stack"], tmp_path / "b"))
    with rasterio.open(a["OUTPUT"]) as x, rasterio.open(b["OUTPUT"]) as y:
        np.testing.assert_allclose(x.read(1), y.read(1), rtol=1e-6)


def test_processing_converter_refuses_a_crafted_joblib(refused, world, tmp_path):
    marker = tmp_path / "MARKER"
    card = _crafted_card(world["xgb"], tmp_path / "card", "xgb_lr.joblib", joblib_bytes(_Payload(marker), tmp_path))
    params = {"MODEL": str(card), "OUTPUT_FOLDER": str(tmp_path / "new")}
    refused("model_convert", params, "no Landslide AI model contains", tmp_path)
    assert not marker.exists()


def test_npz_with_a_pickled_object_array_is_refused(refused, world, tmp_path):
    marker = tmp_path / "MARKER"
    card = _copy_card(world["rf"], tmp_path / "card", lambda d: d.pop("weights_sha256"))
    with open(card.parent / "rf.npz", "wb") as f:
        np.savez(f, __meta__=np.array("{}"), evil=np.array([_Payload(marker)], dtype=object))
    refused("lsm_predict", _predict(card, world["stack"], tmp_path), "not a readable Landslide AI model", tmp_path)
    assert not marker.exists()


@pytest.mark.parametrize("which", ["cnn", "crack"])
def test_torch_weights_with_a_pickle_payload_never_run(refused, world, tmp_path, which):
    """Without a checksum to catch the swap, ``weights_only`` still refuses pickled code."""
    import torch

    marker = tmp_path / "MARKER"
    src = world["cnn"] if which == "cnn" else world["crack_card"]
    card = _copy_card(src, tmp_path / "card", lambda d: d.pop("weights_sha256"))
    weights = card.parent / json.loads(card.read_text())["weights_file"]
    torch.save({"state": _Payload(marker)}, weights)
    if which == "cnn":
        refused("lsm_predict", _predict(card, world["stack"], tmp_path), "Cannot load the weights", tmp_path)
    else:
        params = {"MODEL": str(card), "INPUT": world["ortho"], "CHIP_PX": 48, "STRIDE_PX": 48}
        params |= {"OUTPUT": str(tmp_path / "p.tif"), "CHIPS": str(tmp_path / "c.gpkg")}
        refused("crack_predict", params, "Cannot load the weights", tmp_path)
    assert not marker.exists()


# -- files outside the card's folder, swapped files ---------------------------------------------


@pytest.mark.parametrize("which", ["rf", "cnn", "crack_card"])
def test_weights_that_are_symlinks_are_refused(refused, world, tmp_path, which):
    card = _copy_card(world[which], tmp_path / "card")
    weights = card.parent / json.loads(card.read_text())["weights_file"]
    elsewhere = tmp_path / "elsewhere" / weights.name
    elsewhere.parent.mkdir()
    shutil.move(weights, elsewhere)
    weights.symlink_to(elsewhere)
    if which == "crack_card":
        params = {"MODEL": str(card), "INPUT": world["ortho"], "CHIP_PX": 48, "STRIDE_PX": 48}
        params |= {"OUTPUT": str(tmp_path / "p.tif"), "CHIPS": str(tmp_path / "c.gpkg")}
        refused("crack_predict", params, "symbolic link", tmp_path)
    else:
        refused("lsm_predict", _predict(card, world["stack"], tmp_path), "symbolic link", tmp_path)


def test_an_edited_weights_file_is_named(refused, world, tmp_path):
    card = _copy_card(world["rf"], tmp_path / "card")
    w = card.parent / "rf.npz"
    w.write_bytes(w.read_bytes()[:-10] + b"0123456789")
    msg = refused("lsm_predict", _predict(card, world["stack"], tmp_path), "SHA-256 differs", tmp_path)
    assert str(w) in msg


@pytest.mark.parametrize("arch", ["glm", "gam", "xgb_lr"])
def test_a_card_pointing_at_another_models_file_is_refused(refused, world, tmp_path, arch):
    """A GLM (GAM, XGBoost-LR) card naming the Random Forest's file does not run the forest."""
    card = _copy_card(world["rf"], tmp_path / "card", lambda d: d.update(architecture=arch))
    refused("lsm_predict", _predict(card, world["stack"], tmp_path), "holds a 'rf' model but its card says", tmp_path)


def test_a_tabular_file_for_other_factors_is_refused(refused, world, tmp_path):
    """The file is sealed and of the right kind, but the card names more factors than it takes."""

    def edit(d):
        f = d["normalisation"]["factors"]
        d["inputs"]["factors"] = d["inputs"]["factors"] + ["extra"]
        f["mean"], f["std"] = f["mean"] + [0.0], f["std"] + [1.0]
        for k in ("categorical", "codes"):
            f.pop(k, None)

    card = _copy_card(world["rf"], tmp_path / "card", edit)
    refused("lsm_predict", _predict(card, world["stack"], tmp_path), "belong to different models|factors", tmp_path)


# -- image folders ----------------------------------------------------------------------------------


def test_training_image_linked_out_of_its_folder_is_refused(refused, world, tmp_path):
    from helpers import make_set

    root = Path(make_set(tmp_path / "set", n=6))
    secret = tmp_path / "private" / "secret.png"
    secret.parent.mkdir()
    shutil.copy(next((root / "crack").iterdir()), secret)
    (root / "crack" / "link.png").symlink_to(secret)
    params = {"TARGET_FOLDER": str(root), "ARCHITECTURE": 0, "EPOCHS": 1, "INPUT_PX": 48}
    msg = refused("crack_train", params | {"OUTPUT_FOLDER": str(tmp_path / "m")}, "symbolic link", tmp_path)
    assert "secret.png" in msg and not (tmp_path / "m").exists()


def test_one_folder_as_crack_and_crack_free_images_is_refused(refused, world, tmp_path):
    params = {
        "MODEL": world["crack_card"],
        "POSITIVES": str(world["crack_images"] / "crack"),
        "NEGATIVES": str(world["crack_images"] / "crack"),
        "OUTPUT_HTML": str(tmp_path / "r.html"),
    }
    refused("crack_evaluate", params, "both crack and crack-free", tmp_path)


def test_a_copied_image_in_both_classes_is_refused(refused, world, tmp_path):
    from helpers import make_set

    root = Path(make_set(tmp_path / "set", n=6))
    shutil.copy(root / "crack" / "0.png", root / "no_crack" / "copy.png")
    params = {"TARGET_FOLDER": str(root), "ARCHITECTURE": 0, "EPOCHS": 1, "INPUT_PX": 48}
    refused("crack_train", params | {"OUTPUT_FOLDER": str(tmp_path / "m")}, "both crack and crack-free", tmp_path)
