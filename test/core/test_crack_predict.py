"""Crack prediction stitched onto the orthomosaic grid, Grad-CAM raster, chip layer, bad inputs."""

from pathlib import Path

import numpy as np
import pytest
import rasterio
from helpers import make_set, ortho
from osgeo import ogr

from conftest import ORTHO_TRANSFORM, write_raster
from landslide_ai.core.cracks.chips import ChipSpec, write_chip_layer
from landslide_ai.core.cracks.predict import predict_orthomosaic
from landslide_ai.core.cracks.train import CrackTrainConfig, train_crack_model
from landslide_ai.core.errors import InvalidInputError
from landslide_ai.core.raster.grid import Grid


def test_no_overlap_stitching_reproduces_chip_probabilities(crack_model, tmp_path):
    o = ortho(tmp_path / "o.tif")
    spec = ChipSpec(chip_px=48, stride_px=48, alpha_band=4, min_valid=0.3)
    res = predict_orthomosaic(crack_model, o, str(tmp_path / "p.tif"), spec, gradcam_out=str(tmp_path / "g.tif"))
    with rasterio.open(tmp_path / "p.tif") as p, rasterio.open(o) as src:
        assert p.transform == src.transform and p.crs == src.crs and p.shape == src.shape
        prob = p.read(1)
    for c in res:
        x0, y0, s, _ = c.window
        block = prob[y0 : min(y0 + s, 100), x0 : min(x0 + s, 120)]
        assert np.allclose(block[block != -9999], c.probability, atol=1e-5)
    assert np.all(prob[:, 120:] == -9999)  # alpha-masked pixels are nodata
    cam = rasterio.open(tmp_path / "g.tif").read(1)
    assert cam[cam != -9999].min() >= 0 and cam.max() <= 1
    write_chip_layer(str(tmp_path / "chips.gpkg"), Grid.from_path(o), res)
    ds = ogr.Open(str(tmp_path / "chips.gpkg"))  # keep the dataset alive while its layer is used
    assert ds.GetLayer(0).GetFeatureCount() == len(res)


def test_overlapping_chips_are_blended_between_their_values(crack_model, tmp_path):
    o = ortho(tmp_path / "o.tif", alpha=False)
    res = predict_orthomosaic(
        crack_model,
        o,
        str(tmp_path / "p.tif"),
        ChipSpec(chip_px=48, stride_px=24, min_valid=0.3),
        mask_unfamiliar=False,  # blending of every chip is the point here
    )
    prob = rasterio.open(tmp_path / "p.tif").read(1)
    ps = [c.probability for c in res]
    assert prob.min() >= min(ps) - 1e-5 and prob.max() <= max(ps) + 1e-5 and (prob != -9999).all()


def test_all_nodata_area_is_refused_without_output(crack_model, tmp_path):
    p = write_raster(tmp_path / "empty.tif", np.zeros((4, 60, 60), np.uint8), (0.02, 0, 0, 0, -0.02, 0), "EPSG:32633")
    with pytest.raises(InvalidInputError, match="all nodata"):
        predict_orthomosaic(
            crack_model, str(p), str(tmp_path / "out.tif"), ChipSpec(chip_px=48, stride_px=48, alpha_band=4)
        )
    assert not (tmp_path / "out.tif").exists()


def test_same_chip_same_probability_through_every_path(tmp_path):
    """Training/evaluation transforms, orthomosaic prediction and Grad-CAM share one preprocessing path.

    The network input (40 px) differs from the chip (61 px), so the resize matters; before the
    shared path the three used three different resamplers.
    """
    import torch
    from PIL import Image

    from landslide_ai.core.cracks.images import ImageDataset
    from landslide_ai.core.cracks.predict import gradcam_chips, load_crack_model
    from landslide_ai.core.cracks.train import transforms

    d = tmp_path
    tgt = make_set(d / "imgs", n=12)
    card, _ = train_crack_model(tgt, str(d / "m"), CrackTrainConfig(arch="cnn", input_px=40, epochs=1, batch_size=8))
    rng = np.random.default_rng(5)
    chip = rng.integers(90, 210, (61, 61, 3), dtype=np.uint8)
    chip[20:23, :, :] = 15
    png = d / "chip.png"
    Image.fromarray(chip).save(png)
    m = load_crack_model(card, torch.device("cpu"))
    x, _ = ImageDataset([str(png)], np.array([1]), transforms(40, False))[0]
    with torch.no_grad():
        p_train = float(torch.softmax(m.model(x[None]), 1)[0, 1])
    tif = d / "chip.tif"
    write_raster(tif, chip.transpose(2, 0, 1), ORTHO_TRANSFORM, "EPSG:32633")
    res = predict_orthomosaic(card, str(tif), str(d / "p.tif"), ChipSpec(61, 61, (1, 2, 3), 0, 0.5))
    p_ortho = res[0].probability
    p_cam = gradcam_chips(card, [str(png)])[0]["probability"]
    assert p_ortho == pytest.approx(p_train, abs=1e-5)
    assert p_cam == pytest.approx(p_train, abs=1e-5)
    import json

    card_json = json.loads(open(card).read())
    assert card_json["normalisation"]["resize"].startswith("torchvision v2 bilinear, antialiased")


def test_unfamiliar_imagery_is_flagged_and_left_out(crack_model, tmp_path):
    """Grey textures like the training images stay; saturated green 'farmland' is unfamiliar and masked."""
    import json

    card = json.loads(open(crack_model).read())
    assert card["inputs"]["domain"]["threshold"] > 0 and len(card["inputs"]["domain"]["mean"]) > 0
    rng = np.random.default_rng(7)
    img = rng.integers(120, 200, (3, 96, 192), dtype=np.uint8)  # like the training textures
    green = np.stack([rng.integers(0, 60, (96, 96)), rng.integers(150, 256, (96, 96)), rng.integers(0, 40, (96, 96))])
    img[:, :, 96:] = green.astype(np.uint8)
    path = tmp_path / "mixed.tif"
    with rasterio.open(
        path, "w", driver="GTiff", width=192, height=96, count=3, dtype="uint8", crs="EPSG:32633",
        transform=rasterio.Affine(0.02, 0, 638838.7, 0, -0.02, 5802604.9),
    ) as ds:  # fmt: skip
        ds.write(img)
    res = predict_orthomosaic(crack_model, str(path), str(tmp_path / "p.tif"), ChipSpec(48, 48, (1, 2, 3), 0, 0.5))
    left = [c for c in res if c.window[0] < 96]
    right = [c for c in res if c.window[0] >= 96]
    assert sum(c.unfamiliar for c in right) == len(right)
    assert sum(c.unfamiliar for c in left) <= len(left) // 4
    prob = rasterio.open(tmp_path / "p.tif").read(1)
    assert (prob[:, 96:] == -9999).all()  # the unfamiliar half is not painted
    assert (prob[:, :96] != -9999).mean() > 0.7


def test_stride_larger_than_chip_leaves_nodata_strips(crack_model, tmp_path):
    """Chips 48 px every 60 px: pixels of a chip get its probability, the 12 px strips between stay nodata."""
    o = ortho(tmp_path / "o.tif", alpha=False)
    spec = ChipSpec(chip_px=48, stride_px=60, alpha_band=0, min_valid=0.3)
    res = predict_orthomosaic(crack_model, o, str(tmp_path / "p.tif"), spec, mask_unfamiliar=False)
    with rasterio.open(tmp_path / "p.tif") as p:
        prob = p.read(1)
    covered = np.zeros(prob.shape, bool)
    for c in res:
        x0, y0, s, _ = c.window
        covered[y0 : y0 + s, x0 : x0 + s] = True
    assert np.all(prob[~covered] == -9999) and np.all(prob[covered] >= 0)
    assert np.all(prob[48:60, :] == -9999) and np.all(prob[:, 48:60] == -9999)


def test_skill_notes_say_chance_in_words(crack_model):
    from landslide_ai.core.cracks.predict import skill_notes
    from landslide_ai.core.model_card import ModelCard

    card = ModelCard.load(crack_model, task="crack")
    card.metrics["held_out"] = {
        "scene": {"roc_auc": {"value": 0.55, "ci95": [0.37, 0.74]}},
        "photos": {"roc_auc": {"value": 0.91, "ci95": [0.84, 0.97]}},
    }
    notes = skill_notes(card)
    assert len(notes) == 2
    assert "scene" in notes[0] and "NOT distinguishable from chance" in notes[0]
    assert "photos" in notes[1] and "chance" not in notes[1]
    card.metrics.pop("held_out")
    card.metrics["test"]["roc_auc"] = 0.52
    assert any("near chance" in n for n in skill_notes(card))


def test_bf16_precision_stays_close_and_unknown_precision_is_refused(crack_model, tmp_path):
    """bf16 autocast changes probabilities only in the low decimals; a typo is refused before any output."""
    from landslide_ai.core.errors import InvalidInputError

    o = ortho(tmp_path / "o.tif")
    spec = ChipSpec(chip_px=48, stride_px=48, alpha_band=4, min_valid=0.3)
    a = predict_orthomosaic(crack_model, o, str(tmp_path / "a.tif"), spec, mask_unfamiliar=False)
    b = predict_orthomosaic(crack_model, o, str(tmp_path / "b.tif"), spec, mask_unfamiliar=False, precision="bf16")
    pa, pb = np.array([c.probability for c in a]), np.array([c.probability for c in b])
    assert pa.size == pb.size > 0 and np.abs(pa - pb).max() < 0.02
    with pytest.raises(InvalidInputError, match="precision"):
        predict_orthomosaic(crack_model, o, str(tmp_path / "c.tif"), spec, precision="fp8")
    assert not (tmp_path / "c.tif").exists()


def test_evaluation_scores_unfamiliar_images_as_no_crack(crack_model, tmp_path):
    """Masked, images outside the card's domain count as 'no crack', as on the map; the raw figures stand beside."""
    import json

    from landslide_ai.core.cracks.evaluate import evaluate_images

    images = Path(crack_model).parents[1] / "imgs"
    raw = evaluate_images(crack_model, str(tmp_path / "a.html"), str(images), n_gallery=0, mask_unfamiliar=False)
    assert raw.domain_distance.shape == raw.probabilities.shape and np.isfinite(raw.domain_distance).all()
    # the same card with a domain threshold below every distance: every image is unfamiliar
    card = json.loads(Path(crack_model).read_text())
    card["inputs"]["domain"]["threshold"] = 0.0
    strict = Path(crack_model).with_name("strict.json")
    strict.write_text(json.dumps(card))
    masked = evaluate_images(
        str(strict),
        str(tmp_path / "m.html"),
        str(images),
        n_gallery=0,
        out_csv=str(tmp_path / "m.csv"),
        mask_unfamiliar=True,
    )
    assert masked.unfamiliar.all() and (masked.probabilities == 0).all()
    assert masked.metrics["false_positive_rate"] == 0 and masked.metrics["recall"] == 0
    page = Path(masked.html).read_text()
    assert "training domain (12 crack, 12 crack-free)" in page
    # never silent: the raw figures stand beside, and the cracks the mask hid are counted
    assert masked.other == raw.metrics or np.allclose(
        list(masked.other.values()), list(raw.metrics.values()), equal_nan=True
    )
    assert "Raw and masked side by side" in page
    n_hidden = int(((raw.probabilities >= 0.5) & (raw.labels == 1)).sum())
    assert masked.masked_hits == n_hidden
    if n_hidden:
        assert f"The mask turned {n_hidden} crack image(s)" in page
    assert ",1," in Path(tmp_path / "m.csv").read_text().splitlines()[1]  # the unfamiliar column
    kept = evaluate_images(str(strict), str(tmp_path / "k.html"), str(images), n_gallery=0, mask_unfamiliar=False)
    np.testing.assert_allclose(kept.probabilities, raw.probabilities)


def test_domain_threshold_is_calibrated_on_images_the_network_was_not_fitted_on():
    """Unseen in-domain images lie farther out than training images: the threshold must cover them."""
    from landslide_ai.core.cracks.domain import DOMAIN_QUANTILE, distances, fit_domain

    rng = np.random.default_rng(0)
    train = rng.normal(0, 1, (200, 16))
    unseen = rng.normal(0, 2.2, (100, 16))  # the same kind of images, features more spread
    alone, calibrated = fit_domain(train), fit_domain(train, unseen)
    d = distances(unseen, calibrated)
    assert calibrated["threshold"] > alone["threshold"] and calibrated["n_calibration_images"] == 100
    assert np.mean(d > alone["threshold"]) > 0.3  # the training-only threshold flags many unseen images
    assert np.mean(d > calibrated["threshold"]) <= 1 - DOMAIN_QUANTILE + 0.01
    far = rng.normal(9, 1, (50, 16))  # another kind of imagery stays unfamiliar
    assert np.all(distances(far, calibrated) > calibrated["threshold"])


def test_image_statistics_flag_colour_the_features_miss_and_cards_without_them_keep_the_feature_check():
    """The second check: in-domain features with unseen colour are unfamiliar; no ``image`` entry, no check."""
    from landslide_ai.core.cracks.domain import distances, fit_domain, image_distances, image_statistics, unfamiliar

    rng = np.random.default_rng(1)
    gray = rng.uniform(0.55, 0.65, (60, 1, 1, 1)) * np.ones((60, 3, 8, 8)) + rng.normal(0, 0.05, (60, 3, 8, 8))
    green = gray.copy()
    green[:, 1] += 0.3  # the same textures, greener
    # the model's per-channel normalisation does not change the distance (stats may be taken on its input)
    m, s = np.array([0.5, 0.4, 0.3])[:, None, None], np.array([0.2, 0.25, 0.3])[:, None, None]
    dom_raw = fit_domain(rng.normal(0, 1, (60, 4)), images=image_statistics(gray))
    dom_norm = fit_domain(rng.normal(0, 1, (60, 4)), images=image_statistics((gray - m) / s))
    np.testing.assert_allclose(
        image_distances(image_statistics(green), dom_raw),
        image_distances(image_statistics((green - m) / s), dom_norm),
        rtol=1e-3,  # float32 statistics, card values rounded to 6 decimals
    )
    feats = rng.normal(0, 1, (60, 4))  # features the feature check finds familiar
    dist = distances(feats, dom_raw)
    assert not (dist > dom_raw["threshold"]).any()
    odd = unfamiliar(dist, image_distances(image_statistics(green), dom_raw), dom_raw)
    assert odd.all()
    assert not unfamiliar(dist, image_distances(image_statistics(gray), dom_raw), dom_raw).any()
    old = {k: v for k, v in dom_raw.items() if k != "image"}  # a card written before the check
    assert np.isnan(image_distances(image_statistics(green), old)).all()
    assert not unfamiliar(dist, image_distances(image_statistics(green), old), old).any()


def test_evaluation_flags_images_by_colour_for_a_network_trained_from_scratch(crack_model, tmp_path):
    """crack_evaluate marks green images unfamiliar through the image check alone (feature check switched off)."""
    import json

    from PIL import Image

    from landslide_ai.core.cracks.evaluate import score_images

    card = json.loads(Path(crack_model).read_text())
    assert "image" in card["inputs"]["domain"]  # the CNN is trained from scratch: it records the check
    card["inputs"]["domain"]["threshold"] = 1e12  # no image is beyond the feature threshold
    lax = Path(crack_model).with_name("lax.json")
    lax.write_text(json.dumps(card))
    rng = np.random.default_rng(2)
    paths = []
    for i in range(6):
        img = rng.integers(120, 200, (48, 48, 3), dtype=np.uint8)
        img[..., 0] //= 3  # the gray texture of the training images, green
        img[..., 2] //= 3
        paths.append(str(tmp_path / f"g{i}.png"))
        Image.fromarray(img).save(paths[-1])
    gray = sorted(str(p) for p in (Path(crack_model).parents[1] / "imgs").rglob("*.png"))
    _, _, odd_green = score_images(str(lax), paths)
    _, _, odd_gray = score_images(str(lax), gray)
    assert odd_green.all()
    assert odd_gray.mean() <= 0.1


def test_intervals_of_proportions_never_claim_certainty_from_few_images():
    """0 false positives among 20 crack-free images: the bootstrap alone says 0-0; Wilson says 0-0.16."""
    from landslide_ai.core.cracks.evaluate import bootstrap_intervals, wilson_interval

    y = np.array([0] * 20 + [1] * 20)
    p = np.r_[np.full(20, 0.1), np.full(20, 0.9)]
    ci = bootstrap_intervals(y, p, 0.5, 200, 0)
    lo, hi = wilson_interval(0, 20)
    assert lo == 0.0 and hi == pytest.approx(0.161, abs=1e-3)
    assert ci["false_positive_rate"] == (0.0, hi) and ci["recall"] == (pytest.approx(1 - hi), 1.0)
    assert ci["roc_auc"] == (1.0, 1.0)  # not a proportion: the bootstrap's
    # a proportion in the middle: the bootstrap and Wilson agree roughly, the wider one is kept
    y2 = np.r_[np.zeros(50), np.ones(50)].astype(int)
    p2 = np.r_[np.linspace(0, 1, 50), np.linspace(0.3, 1.3, 50)]
    ci2 = bootstrap_intervals(y2, p2, 0.5, 500, 0)
    w = wilson_interval(int((p2[50:] >= 0.5).sum()), 50)
    assert ci2["recall"][0] <= w[0] and ci2["recall"][1] >= w[1]


def test_skill_notes_say_chance_and_read_crack_free_sets_by_their_false_positive_rate():
    from landslide_ai.core.cracks.predict import skill_notes
    from landslide_ai.core.model_card import CrackCard

    nan = float("nan")
    card = CrackCard.create(
        architecture="cnn",
        weights_file="c.pt",
        inputs={"input_px": 64},
        normalisation={"mean": [0.5] * 3, "std": [0.2] * 3},
        classes=["no_crack", "crack"],
        metrics={
            "held_out": {
                "drone": {"roc_auc": {"value": 0.55, "ci95": [0.40, 0.70]}},
                "concrete": {"roc_auc": {"value": 0.98, "ci95": [0.96, 0.99]}},
                "aerial": {
                    "roc_auc": {"value": nan, "ci95": [nan, nan]},
                    "false_positive_rate": {"value": 0.0, "ci95": [0.0, 0.16]},
                },
            }
        },
    )
    notes = skill_notes(card)
    assert "NOT distinguishable from chance" in notes[0] and "chance" not in notes[1]
    assert notes[2] == "held-out aerial (crack-free): false-positive rate 0.00 (0.00-0.16)"


def test_shipped_concrete_model_loads_and_its_card_reports_where_it_works():
    """The concrete card's held-out figures: skill on concrete, chance on drone chips, said so."""
    import torch

    from landslide_ai.core.cracks.predict import load_crack_model, skill_notes

    card = Path(__file__).resolve().parents[2] / "resources" / "pretrained" / "crack_cnn_concrete.json"
    m = load_crack_model(str(card), torch.device("cpu"))
    assert m.card.input_px == 227 and m.card.domain is not None and m.card.domain["n_calibration_images"] > 0
    notes = skill_notes(m.card)
    concrete = next(n for n in notes if "concrete_held_out" in n)
    drone = next(n for n in notes if "uav75" in n)
    assert "chance" not in concrete and "NOT distinguishable from chance" in drone
    assert any("aerial_crack_free (crack-free): false-positive rate" in n for n in notes)


def test_gallery_shows_real_mistakes_and_masked_cracks_apart(crack_model, tmp_path):
    """Mistakes are ranked on the model's own probability; cracks the mask hid are named masked_crack."""
    import json

    from landslide_ai.core.cracks.evaluate import evaluate_images

    images = Path(crack_model).parents[1] / "imgs"
    card = json.loads(Path(crack_model).read_text())
    card["inputs"]["domain"]["threshold"] = 0.0  # every image unfamiliar
    strict = Path(crack_model).with_name("strict_gallery.json")
    strict.write_text(json.dumps(card))
    ev = evaluate_images(
        str(strict),
        str(tmp_path / "r.html"),
        str(images),
        gallery_dir=str(tmp_path / "g"),
        n_gallery=30,
        mask_unfamiliar=True,
        threshold=0.5,
    )
    names = [Path(g).name.removeprefix("gradcam_") for g in ev.gallery]
    assert names, "nothing in the gallery"
    real = [n for n in names if n.startswith(("false_positive", "false_negative"))]
    hidden = [n for n in names if n.startswith("masked_crack")]
    # real mistakes (ranked on the raw probability) first; the cracks the mask hid fill the slots left
    assert len(real) <= 30 and len(hidden) == min(ev.masked_hits, 30 - len(real))
    assert all(n.startswith(("false_positive", "false_negative", "masked_crack")) for n in names)
    assert ev.other.keys() == ev.metrics.keys()  # the raw figures stand beside the masked headline
    assert len(real) + len(hidden) == len(names)


def test_map_cracks_is_one_call_that_reads_the_card_once(crack_model, tmp_path, count_opens, monkeypatch):
    """Probability raster, chip layer, notes and Grad-CAM overlays from one engine call (adapter and CLI).

    A counting spy on file opens: the card is read once and the weights at most twice (checksum and
    load), where the adapter used to load the card three times and the model twice (issue 22).
    """
    from landslide_ai.core.cracks.predict import map_cracks

    o = ortho(tmp_path / "o.tif")
    img = tmp_path / "chip.png"
    from PIL import Image

    Image.fromarray(np.full((48, 48, 3), 150, np.uint8)).save(img)
    card = Path(crack_model).resolve()
    weights = card.with_suffix(".pt")
    counts = count_opens(card, weights)
    spec = ChipSpec(chip_px=48, stride_px=64, alpha_band=4, min_valid=0.3)
    run = map_cracks(str(card), o, str(tmp_path / "p.tif"), str(tmp_path / "chips.shp"), spec,
                     str(tmp_path / "g.tif"), [str(img)], str(tmp_path / "overlays"))  # fmt: skip
    monkeypatch.undo()
    assert counts[card] == 1 and 1 <= counts[weights] <= 2, counts
    assert run.chip_layer.endswith("chips.gpkg") and Path(run.chip_layer).exists()  # GeoPackage whatever asked
    assert any("stride (64 px) is larger than the chip" in n for n in run.notes)
    assert len(run.overlays) == 1 and Path(run.overlays[0]).exists() and len(run.gradcam_items) == 1
    assert (tmp_path / "p.tif").exists() and (tmp_path / "g.tif").exists()
