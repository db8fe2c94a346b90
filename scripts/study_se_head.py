"""Does the paper's channel attention help on top of the pretrained backbone? (issue 20: "SE head; measure it")

The crack paper puts squeeze-and-excitation (SE) blocks in ResNet50's last stage. The default crack
model here is a frozen ImageNet EfficientNet-Lite0 with a logistic head on its pooled features. This
study puts an SE block on the backbone's last feature map (1280 x 7 x 7 at 224 px) before the pooling
and compares, on the same cached features and the same splits:

- ``logistic``: the shipped recipe (L2 logistic regression on pooled features, strength chosen on a
  validation split grouped by source photo);
- ``linear (Adam)``: a linear head on pooled features trained by Adam with early stopping: the SE
  head's own training loop without the SE block (the control that separates the attention from the
  optimiser);
- ``SE head``: SE (reduction 16) -> pooling -> dropout -> linear, same loop.

Training: ``sample_data/uav75_chips`` (UAV75's training photos); test: ``sample_data/uav75_test_chips``
(its 15 held-out photos, never trained on). Figures: ROC AUC on the test chips with a 95 % interval
from a bootstrap over source photos, and the paired interval of each head's difference from the
logistic head (the same photo draws for both). Neural heads: the mean over ``--seeds`` seeds.

Usage (about 2 min on 2 CPU cores)::

    bash -c 'source scripts/qgis_env.sh; $VENV/bin/python scripts/study_se_head.py'
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the engine as the package ``core``, as the benchmarks import it

CHIP = re.compile(r"^(?P<photo>.+?)_r\d+_c\d+$")


def photo(path: str) -> str:
    """Source photo of a chip (both classes of one photo are one group)."""
    stem = Path(path).stem
    m = CHIP.match(stem)
    return m.group("photo") if m else stem


def feature_maps(folder: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(maps (N, C, 7, 7), labels, photo ids) of the chips under ``folder``/crack and /no_crack."""
    import torch

    from core.cracks import backbones, images, train

    paths, labels = [], []
    for cls, lab in (("crack", 1), ("no_crack", 0)):
        files = sorted(str(p) for p in (folder / cls).glob("*.jpg"))
        paths += files
        labels += [lab] * len(files)
    ds = images.ImageDataset(paths, np.asarray(labels), train.transforms(224, False, "efficientnet_lite0"))
    bb = backbones.build_lite0().eval()
    out = []
    with torch.no_grad():
        for x, _ in torch.utils.data.DataLoader(ds, batch_size=32):
            out.append(bb.forward_features(x).numpy())
    return np.concatenate(out), np.asarray(labels), np.asarray([photo(p) for p in paths])


def grouped_val(groups: np.ndarray, seed: int, share: float = 0.2) -> np.ndarray:
    """A validation mask of whole photos (about ``share`` of them)."""
    rng = np.random.default_rng(seed)
    u = np.unique(groups)
    val = rng.choice(u, max(1, int(round(share * u.size))), replace=False)
    return np.isin(groups, val)


def logistic_head(xtr: np.ndarray, ytr: np.ndarray, gtr: np.ndarray, xte: np.ndarray, seed: int) -> np.ndarray:
    """The shipped recipe: L2 logistic regression on pooled features, C chosen on grouped validation."""
    from scipy.special import expit
    from sklearn.metrics import log_loss

    from core.cracks import models
    from core.cracks.train import HEAD_C_GRID

    val = grouped_val(gtr, seed)
    best = min(
        HEAD_C_GRID,
        key=lambda c: log_loss(
            ytr[val], expit(xtr[val] @ (f := models.fit_logistic(xtr[~val], ytr[~val], c))[0] + f[1]), labels=[0, 1]
        ),
    )
    w, b = models.fit_logistic(xtr, ytr, best)
    return expit(xte @ w + b)


def neural_head(
    mtr: np.ndarray, ytr: np.ndarray, gtr: np.ndarray, mte: np.ndarray, se: bool, seed: int, epochs: int = 300
) -> np.ndarray:
    """SE (or nothing) -> pooling -> dropout -> linear, Adam with early stopping on grouped validation."""
    import torch
    from torch import nn

    from core.cracks import models

    torch.manual_seed(seed)
    c = mtr.shape[1]
    mu = mtr.mean(axis=(0, 2, 3), keepdims=True)
    sd = mtr.std(axis=(0, 2, 3), keepdims=True) + 1e-6
    t = lambda a: torch.from_numpy(((a - mu) / sd).astype(np.float32))  # noqa: E731
    layers: list[nn.Module] = [models.SqueezeExcitation(c, 16)] if se else []
    net = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(0.2), nn.Linear(c, 1))
    val = grouped_val(gtr, seed)
    xtr, xva = t(mtr[~val]), t(mtr[val])
    ytr_t, yva = torch.tensor(ytr[~val], dtype=torch.float32), torch.tensor(ytr[val], dtype=torch.float32)
    pos = float(ytr_t.mean())
    loss_fn = nn.BCEWithLogitsLoss(pos_weight=torch.tensor((1 - pos) / max(pos, 1e-6)))
    opt = torch.optim.Adam(net.parameters(), lr=1e-3, weight_decay=1e-3)
    best, state, wait = np.inf, None, 0
    for _ in range(epochs):
        net.train()
        perm = torch.randperm(xtr.shape[0])
        for i in range(0, perm.numel(), 32):
            idx = perm[i : i + 32]
            opt.zero_grad()
            loss_fn(net(xtr[idx]).squeeze(1), ytr_t[idx]).backward()
            opt.step()
        net.eval()
        with torch.no_grad():
            vl = float(loss_fn(net(xva).squeeze(1), yva))
        if vl < best - 1e-4:
            best, state, wait = vl, {k: v.clone() for k, v in net.state_dict().items()}, 0
        else:
            wait += 1
            if wait >= 20:
                break
    assert state is not None
    net.load_state_dict(state)
    net.eval()
    with torch.no_grad():
        return torch.sigmoid(net(t(mte)).squeeze(1)).numpy()


def photo_bootstrap(y: np.ndarray, groups: np.ndarray, scores: dict[str, np.ndarray], n: int, seed: int) -> dict:
    """Per head: (AUC, 95 % CI, paired 95 % CI of its difference from 'logistic'), photos resampled."""
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(seed)
    u = np.unique(groups)
    members = [np.flatnonzero(groups == g) for g in u]
    draws: dict[str, list[float]] = {k: [] for k in scores}
    for _ in range(n):
        idx = np.concatenate([members[i] for i in rng.integers(0, u.size, u.size)])
        if np.unique(y[idx]).size < 2:
            continue
        for k, p in scores.items():
            draws[k].append(roc_auc_score(y[idx], p[idx]))
    base = np.asarray(draws["logistic"])
    out = {}
    for k, p in scores.items():
        d = np.asarray(draws[k])
        out[k] = (
            float(roc_auc_score(y, p)),
            tuple(np.quantile(d, [0.025, 0.975])),
            tuple(np.quantile(d - base, [0.025, 0.975])),
        )
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--train", default=str(ROOT / "sample_data" / "uav75_chips"))
    ap.add_argument("--test", default=str(ROOT / "sample_data" / "uav75_test_chips"))
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--boot", type=int, default=2000)
    a = ap.parse_args()
    mtr, ytr, gtr = feature_maps(Path(a.train))
    mte, yte, gte = feature_maps(Path(a.test))
    print(f"train {ytr.size} chips ({ytr.sum()} crack) of {np.unique(gtr).size} photos; "
          f"test {yte.size} chips ({yte.sum()} crack) of {np.unique(gte).size} photos")  # fmt: skip
    pooled_tr, pooled_te = mtr.mean(axis=(2, 3)), mte.mean(axis=(2, 3))
    scores = {"logistic": logistic_head(pooled_tr, ytr, gtr, pooled_te, 0)}
    for name, se in (("linear (Adam)", False), ("SE head", True)):
        runs = [neural_head(mtr, ytr, gtr, mte, se, s) for s in range(a.seeds)]
        scores[name] = np.mean(runs, axis=0)
        from sklearn.metrics import roc_auc_score

        per_seed = ", ".join(f"{roc_auc_score(yte, r):.3f}" for r in runs)
        print(f"{name}: test ROC AUC per seed {per_seed}")
    res = photo_bootstrap(yte, gte, scores, a.boot, 0)
    print("| head | test ROC AUC (95 % CI, photos resampled) | difference from logistic (paired 95 % CI) |")
    print("|---|---|---|")
    for k, (auc, ci, diff) in res.items():
        d = "–" if k == "logistic" else f"{auc - res['logistic'][0]:+.3f} ({diff[0]:+.3f} to {diff[1]:+.3f})"
        print(f"| {k} | {auc:.3f} ({ci[0]:.3f}–{ci[1]:.3f}) | {d} |")


if __name__ == "__main__":
    main()
