"""ONNX export with the card inside, the ONNX Runtime backend, and the Deepness format (issue 12)."""

import json
import shutil

import numpy as np
import onnxruntime as ort
import pytest
import rasterio
import torch
from helpers import ortho
from rasterio.crs import CRS

from landslide_ai.core.cracks.chips import ChipSpec
from landslide_ai.core.cracks.predict import load_crack_model, predict_orthomosaic
from landslide_ai.core.errors import InvalidInputError, ModelLoadError
from landslide_ai.core.model_card import ModelCard
from landslide_ai.core.onnx_models import CARD_KEY, GRAPH_KEY, export_onnx, open_onnx
from landslide_ai.core.susceptibility.predict import predict_stack

WKT = CRS.from_epsg(32717).to_wkt()


@pytest.mark.parametrize(("kind", "graph"), [("cnn_lstm_am", "dense"), ("cnn", "patch"), ("lstm", "patch")])
def test_susceptibility_onnx_maps_like_torch(lsm_models, kind, graph, tmp_path):
    stack, cards, _ = lsm_models
    onnx_path = tmp_path / f"{kind}.onnx"
    assert export_onnx(cards[kind], onnx_path) == graph
    meta = ort.InferenceSession(str(onnx_path)).get_modelmeta().custom_metadata_map
    card = json.loads(meta[CARD_KEY])
    assert meta[GRAPH_KEY] == graph and card["architecture"] == kind
    assert card["inputs"]["factors"] == ["elev", "slope", "twi"]
    maps = []
    for backend in ("torch", "onnx"):
        out = tmp_path / f"{backend}.tif"
        predict_stack(cards[kind], stack, str(out), block=24, backend=backend)
        maps.append(rasterio.open(out).read(1))
    assert (maps[0] == -9999).sum() == (maps[1] == -9999).sum()
    assert np.abs(maps[0] - maps[1]).max() < 1e-5


def test_stale_onnx_beside_the_card_is_not_used(lsm_models, tmp_path):
    """An ONNX file from other weights next to the card is refused when opened directly and
    bypassed (a fresh export) by the backend, which still maps what the card's weights give."""
    stack, cards, d = lsm_models
    src = ModelCard.load(cards["cnn"])
    stale = tmp_path / "cnn.onnx"
    export_onnx(cards["cnn_lstm_am"], stale)
    with pytest.raises(ModelLoadError, match="not exported from the weights.*export it again"):
        open_onnx(stale, src, cards["cnn"])
    beside = d / "m8" / "cnn.onnx"
    shutil.copy(stale, beside)
    try:
        outs = []
        for backend in ("torch", "onnx"):
            predict_stack(cards["cnn"], stack, str(tmp_path / f"{backend}.tif"), block=24, backend=backend)
            outs.append(rasterio.open(tmp_path / f"{backend}.tif").read(1))
        assert np.abs(outs[0] - outs[1]).max() < 1e-5
        assert beside.read_bytes() == stale.read_bytes()  # the user's file is left alone
    finally:
        beside.unlink()


def test_tree_models_and_unknown_backends_are_refused(lsm_models, tmp_path):
    stack, cards, _ = lsm_models
    with pytest.raises(ModelLoadError, match="rf model.*ONNX export is for the deep models"):
        export_onnx(cards["rf"], tmp_path / "rf.onnx")
    assert not (tmp_path / "rf.onnx").exists()
    with pytest.raises(InvalidInputError, match="Unknown backend 'tf'"):
        predict_stack(cards["cnn"], stack, str(tmp_path / "x.tif"), backend="tf")


def test_crack_onnx_classifies_like_torch_and_maps_the_same(crack_model, tmp_path):
    export_onnx(crack_model, tmp_path / "c.onnx")
    m = load_crack_model(crack_model, torch.device("cpu"))
    sess = open_onnx(tmp_path / "c.onnx", m.card, crack_model)
    x = torch.randn(5, 3, 48, 48)
    p, f = sess.run(image=x.numpy())
    with torch.no_grad():
        ref = torch.softmax(m.model(x), 1)[:, 1].numpy()
    assert p.shape == (5,) and f.shape[0] == 5 and np.abs(p - ref).max() < 1e-5
    o = ortho(tmp_path / "o.tif")
    spec = ChipSpec(chip_px=48, stride_px=24, alpha_band=4, min_valid=0.3)
    res = {}
    for backend in ("torch", "onnx"):
        res[backend] = predict_orthomosaic(crack_model, o, str(tmp_path / f"{backend}.tif"), spec, backend=backend)
    assert [c.window for c in res["torch"]] == [c.window for c in res["onnx"]]
    assert np.allclose([c.probability for c in res["torch"]], [c.probability for c in res["onnx"]], atol=1e-5)
    # the domain check reads the same pooled features in both runtimes; distances are 5-140, so the
    # tolerance is relative (oneDNN on AMD and on Intel with AVX-512 differ in the last digits)
    dt, do = ([c.domain_distance for c in res[k]] for k in ("torch", "onnx"))
    assert np.allclose(dt, do, rtol=1e-4, atol=1e-6)
    assert np.isfinite([c.domain_distance for c in res["onnx"]]).all()
    a, b = (rasterio.open(tmp_path / f"{k}.tif").read(1) for k in ("torch", "onnx"))
    assert np.abs(a - b).max() < 1e-5
    with pytest.raises(InvalidInputError, match="Grad-CAM needs gradients"):
        predict_orthomosaic(
            crack_model, o, str(tmp_path / "g.tif"), spec, gradcam_out=str(tmp_path / "c.tif"), backend="onnx"
        )
    assert not (tmp_path / "g.tif").exists()


def test_deepness_export_reads_as_a_deepness_segmentor(crack_model, tmp_path):
    """What Deepness does with the file: metadata keys read as JSON, uint8 tile / 255, its
    standardisation, NCHW, one 4-D square output of class probabilities for the tile."""
    export_onnx(crack_model, tmp_path / "d.onnx", deepness=True)
    sess = ort.InferenceSession(str(tmp_path / "d.onnx"))
    meta = {k: json.loads(v) for k, v in sess.get_modelmeta().custom_metadata_map.items() if not k.startswith("lands")}
    assert meta["model_type"].capitalize() == "Segmentor"
    classes = ModelCard.load(crack_model).classes
    assert meta["class_names"] == {str(i): c for i, c in enumerate(classes)} and classes[1] == "crack"
    assert "resolution" not in meta  # cards do not record a ground pixel size
    inp, out = sess.get_inputs()[0], sess.get_outputs()[0]
    assert inp.shape == [1, 3, meta["tile_size"], meta["tile_size"]] and len(out.shape) == 4 and out.shape[0] == 1
    tile = np.random.default_rng(0).integers(0, 255, (48, 48, 3), dtype=np.uint8)
    x = tile.astype(np.float32) / 255
    x = (x - np.asarray(meta["standardization_mean"], np.float32)) / np.asarray(meta["standardization_std"], np.float32)
    y = sess.run(None, {inp.name: x.transpose(2, 0, 1)[None]})[0]
    assert y.shape == (1, 2, 48, 48) and np.allclose(y.sum(1), 1, atol=1e-5)
    m = load_crack_model(crack_model, torch.device("cpu"))
    from landslide_ai.core.cracks.preprocess import model_input

    with torch.no_grad():
        ref = torch.softmax(m.model(model_input(tile.transpose(2, 0, 1)[None], 48)), 1)[0, 1].item()
    assert np.allclose(y[0, 1], ref, atol=1e-5)
