"""Crack training on tiny generated image folders: split, two-stage transfer, imbalance, bad folders."""

import numpy as np
import pytest
from helpers import make_set

from landslide_ai.core.cracks.images import find_images, stratified_split
from landslide_ai.core.cracks.train import CrackTrainConfig, train_crack_model
from landslide_ai.core.errors import InvalidInputError
from landslide_ai.core.model_card import ModelCard


def test_split_is_stratified_7_2_1():
    labels = np.array([1] * 50 + [0] * 50)
    s = stratified_split(labels, ["crack/a"] * 50 + ["no_crack/a"] * 50, (0.7, 0.2, 0.1), 0)
    for c in (0, 1):
        assert [(s[labels == c] == k).sum() for k in ("train", "val", "test")] == [35, 10, 5]


def test_two_stage_transfer_learning_writes_card(tmp_path):
    src = make_set(tmp_path / "concrete", names=("Positive", "Negative"))
    tgt = make_set(tmp_path / "drone", seed=1)
    cfg = CrackTrainConfig(arch="cnn", input_px=48, epochs=3, batch_size=8, lr=1e-3)
    card_path, m = train_crack_model(tgt, str(tmp_path / "m"), cfg, source=src)
    card = ModelCard.load(card_path)
    assert card.task == "crack" and card.classes == ["no_crack", "crack"]
    assert card.training["transfer"]["pretrain"]["images"] == 40
    assert set(m) >= {"accuracy", "recall", "precision", "f1", "roc_auc", "confusion"}
    assert np.sum(m["confusion"]) == 4  # 10 % of 40 target images
    # two kinds of imagery: the feature check alone (one Gaussian of image statistics is too coarse)
    assert "image" not in card.domain and card.domain["n_images"] > 0


def test_stages_have_their_own_settings_and_stage_one_is_kept(tmp_path):
    """Pretraining runs its own epochs and learning rate and leaves a usable card; a second run
    fine-tunes from that card without pretraining again, taking the card's architecture and size."""
    import torch

    from landslide_ai.core.cracks.predict import load_crack_model

    src = make_set(tmp_path / "concrete", names=("Positive", "Negative"))
    tgt = make_set(tmp_path / "drone", seed=1)
    cfg = CrackTrainConfig(
        arch="cnn", input_px=48, epochs=2, batch_size=8, lr=1e-3, patience=50, pretrain_epochs=3, pretrain_lr=5e-4
    )
    card_path, _ = train_crack_model(tgt, str(tmp_path / "m"), cfg, source=src)
    pre = ModelCard.load(card_path).training["transfer"]["pretrain"]
    assert (pre["epochs"], pre["lr"], pre["epochs_run"]) == (3, 5e-4, 3)
    assert len(ModelCard.load(card_path).training["history"]["loss"]) == 2
    stage1 = tmp_path / "m" / pre["card"]
    s1 = ModelCard.load(stage1, task="crack")
    assert len(s1.training["history"]["loss"]) == 3 and s1.hyperparameters["lr"] == 5e-4
    assert "roc_auc" in s1.metrics["test"] and "concrete" in s1.metrics["split"]
    # fine-tune the stage-one card: the request says resnet50 and 64 px, the card says cnn and 48 px
    cfg2 = CrackTrainConfig(arch="resnet50", input_px=64, epochs=1, batch_size=8, lr=1e-4)
    card2, _ = train_crack_model(tgt, str(tmp_path / "m2"), cfg2, init_card=str(stage1))
    c2 = ModelCard.load(card2)
    assert c2.architecture == "cnn" and c2.inputs["input_px"] == 48
    assert c2.training["transfer"]["start"]["card"] == str(stage1) and "pretrain" not in c2.training["transfer"]
    # the first two conv blocks were frozen: their weights are those of the start card
    a = load_crack_model(str(stage1), torch.device("cpu")).model.features[0][0].weight
    b = load_crack_model(card2, torch.device("cpu")).model.features[0][0].weight
    assert torch.equal(a, b)
    c = load_crack_model(card2, torch.device("cpu")).model.features[2][0].weight
    assert not torch.equal(load_crack_model(str(stage1), torch.device("cpu")).model.features[2][0].weight, c)
    with pytest.raises(InvalidInputError, match="not both"):
        train_crack_model(tgt, str(tmp_path / "m3"), cfg2, source=src, init_card=str(stage1))


def test_hard_negatives_join_the_crack_free_class_in_every_split(tmp_path):
    from landslide_ai.core.cracks.images import load_image_set

    tgt = make_set(tmp_path / "d", n=20)
    hard = tmp_path / "hard"
    make_set(hard, n=10, seed=5, names=("textures",))
    s = load_image_set(tgt, CrackTrainConfig(), str(hard))
    extra = np.array(s.groups) == "no_crack/hard_negatives"
    assert extra.sum() == 10 and (s.labels[extra] == 0).all() and (s.labels == 0).sum() == 30
    assert {"train", "val", "test"} <= set(s.split[extra])
    (hard / "textures" / "0.png").write_bytes(b"broken")
    with pytest.raises(InvalidInputError, match="0.png"):
        load_image_set(tgt, CrackTrainConfig(), str(hard))


def test_imbalance_experiment_keeps_a_share_of_positives(tmp_path):
    tgt = make_set(tmp_path / "d", n=20)
    from landslide_ai.core.cracks.images import load_image_set

    s = load_image_set(tgt, CrackTrainConfig(positive_fraction=0.25))
    assert (s.labels == 1).sum() == 5 and (s.labels == 0).sum() == 20


def test_one_class_folder_and_corrupt_image_are_refused(tmp_path):
    make_set(tmp_path / "one", names=("crack",))
    with pytest.raises(InvalidInputError, match="no_crack"):
        find_images(str(tmp_path / "one"))
    root = tmp_path / "bad"
    make_set(root, n=10)
    (root / "crack" / "0.png").write_bytes(b"not an image")
    with pytest.raises(InvalidInputError, match="Cannot read image"):
        train_crack_model(str(root), str(tmp_path / "m"), CrackTrainConfig(arch="cnn", input_px=48, epochs=1))
    assert not (tmp_path / "m" / "cnn.json").exists()


def test_too_few_images_for_the_split_is_a_clear_error(tmp_path):
    cfg = CrackTrainConfig(arch="cnn", input_px=48, epochs=1)
    with pytest.raises(InvalidInputError, match="too few for a train, validation and test split"):
        train_crack_model(make_set(tmp_path / "few", n=4), str(tmp_path / "m"), cfg)
    assert not (tmp_path / "m").exists()


def test_chips_of_one_photo_stay_in_one_split():
    """UAV75-style chip names: all chips of a photo land in the same split; classes stay stratified."""
    from landslide_ai.core.cracks.images import photo_id

    paths, labels = [], []
    for cls, lab in (("crack", 1), ("no_crack", 0)):
        for photo in range(10):
            for r in range(4):
                paths.append(f"/d/{cls}/DSC{photo:05d}_r{r}_c{r * 7}.jpg")
                labels.append(lab)
    labels = np.array(labels)
    groups = [p.split("/")[2] for p in paths]
    photos = [photo_id(p) for p in paths]
    s = stratified_split(labels, groups, (0.7, 0.2, 0.1), 0, photos)
    for ph in set(photos):
        assert len({s[i] for i, p in enumerate(photos) if p == ph}) == 1
    for c in (0, 1):
        counts = [int((s[labels == c] == k).sum()) for k in ("train", "val", "test")]
        assert counts == [28, 8, 4]
    assert photo_id("/x/chip_r0003_c0001.png") == "x/chip" and photo_id("/x/a.png") == "x/a"


def test_the_loss_is_an_enum_and_a_typo_is_refused():
    """A typo used to train plain cross-entropy silently; now it is refused, and strings become the enum."""
    from landslide_ai.core.cracks.config import CrackLoss

    assert CrackTrainConfig(loss="focal").loss is CrackLoss.FOCAL
    with pytest.raises(InvalidInputError, match="unknown loss 'focall': use weighted_ce, focal, ce"):
        CrackTrainConfig(loss="focall")
