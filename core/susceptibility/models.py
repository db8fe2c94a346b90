"""The six susceptibility models of the paper.

Deep models (PyTorch) take ``(patch, series)`` and return a logit:

* ``cnn``: spatial CNN on the factor patch (paper Sect. 2.6): 3x3 convolutions with ``filters``
  filters doubling per stage, activation + batch norm, two 2x2 max pools (30 -> 15 -> 7), a
  cross-layer (residual) connection from the first stage to the last, global average pooling to
  ``4 * filters`` (= 64 for 16 filters) and dropout.
* ``lstm``: stacked LSTM (3 layers x 32 units) on the series; last hidden state.
* ``cnn_lstm``: both branches concatenated (64 + 32 = 96) -> FC 256 -> FC -> logit.
* ``cnn_lstm_am``: the paper's attention fusion: the 96-d joint feature ``z`` passes FC 256 and a
  sigmoid to give attention weights ``a`` (96-d); the re-weighted features ``a * z`` are added to
  ``z`` (residual) and an FC head outputs the logit.

Tree models (``rf``, ``xgb_lr``) take the centre cell's factor vector.
"""

from __future__ import annotations

import functools
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..model_card import ModelKind

# the kinds' names and roles come from one enum (``model_card.ModelKind``); these tuples are views of it
DEEP_MODELS = tuple(k.value for k in ModelKind if k.is_deep)
TREE_MODELS = tuple(k.value for k in ModelKind if k.is_tree)
#: statistical baselines a reviewer asks for, on the same centre-cell factor vectors and folds
GLM_MODELS = (ModelKind.GLM.value, ModelKind.GAM.value)
#: models of centre-cell factor vectors (no patch, no sequence): trees and the GLM/GAM baselines
TABULAR_MODELS = TREE_MODELS + GLM_MODELS
ALL_MODELS = DEEP_MODELS + TABULAR_MODELS
#: models with an LSTM branch (need the climate series or a factor sequence)
SERIES_MODELS = tuple(k.value for k in ModelKind if k.uses_series)
DISPLAY = {k.value: k.display for k in ModelKind}
_ACT = {"tanh": nn.Tanh, "relu": nn.ReLU, "sigmoid": nn.Sigmoid}


@dataclass(frozen=True)
class DeepHP:
    """Hyper-parameters of the deep models (architecture defaults: the paper's Table 3 optimum).

    Two documented deviations, both measured on the bundled Ecuador sample (spatial-block test
    split, 40 epochs): the paper's learning rate 0.01 made every deep model overfit after the first
    epoch (CNN-LSTM-AM test AUC 0.76), 0.001 with dropout 0.3 gave 0.92. The paper's CNN dropout
    of 0.01 also lies outside its own search interval [0.1, 0.5]. Both are parameters, and the
    Bayesian search explores the paper's intervals.
    """

    filters: int = 16
    lr: float = 0.001
    l2: float = 1e-4
    dropout: float = 0.3
    activation: str = "tanh"
    lstm_units: int = 32
    lstm_layers: int = 3
    lstm_dropout: float = 0.2166
    fc_units: int = 256
    #: "valid" (unpadded convolutions: the per-patch result can be computed densely and exactly, see
    #: :func:`dense_cnn_features`), "same" (zero-padded, the first version; per-patch prediction only)
    #: or "auto" (valid when the patch is at least MIN_VALID_PATCH cells, else same)
    cnn_padding: str = "auto"

    def to_dict(self) -> dict:
        """JSON-serialisable form."""
        return asdict(self)


#: smallest patch whose unpadded CNN keeps at least one cell after three 3x3 convolutions and two pools
MIN_VALID_PATCH = 18


def resolved_padding(hp: DeepHP, patch: int) -> str:
    """The CNN padding of a model on ``patch``-cell patches ("auto" resolved)."""
    if hp.cnn_padding == "auto":
        return "valid" if patch >= MIN_VALID_PATCH else "same"
    if hp.cnn_padding == "valid" and patch < MIN_VALID_PATCH:
        raise ValueError(f"unpadded convolutions need patches of at least {MIN_VALID_PATCH} cells, not {patch}")
    return hp.cnn_padding


class SpatialCNN(nn.Module):
    """CNN branch: patch (N, C, P, P) -> (N, 4 * filters).

    ``padding="valid"`` is the variant whose result a whole window can give at every cell at once
    (:func:`dense_cnn_features`): unpadded convolutions and pools are translation-equivariant, and
    both the stage-3 average and the cross-layer connection are plain means over the patch (the
    skip is a 1x1 convolution, so the mean of the skip is the skip of the mean).
    """

    def __init__(self, n_factors: int, hp: DeepHP, padding: str = "same") -> None:
        super().__init__()
        f, act = hp.filters, _ACT[hp.activation]
        self.padding = padding
        pad = 1 if padding == "same" else 0

        def block(cin: int, cout: int) -> nn.Sequential:
            return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=pad), act(), nn.BatchNorm2d(cout))

        self.stage1 = block(n_factors, f)
        self.stage2 = block(f, 2 * f)
        self.stage3 = block(2 * f, 4 * f)
        self.pool = nn.MaxPool2d(2)
        self.skip = nn.Conv2d(f, 4 * f, 1)  # cross-layer connection stage 1 -> stage 3
        self.drop = nn.Dropout(hp.dropout)
        self.out_dim = 4 * f

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Features (N, 4 * filters) of standardised patches (N, C, P, P)."""
        s1 = self.stage1(x)
        s2 = self.stage2(self.pool(s1))
        s3 = self.stage3(self.pool(s2))
        if self.padding == "valid":
            return self.drop(s3.mean(dim=(2, 3)) + self.skip(s1.mean(dim=(2, 3), keepdim=True)).flatten(1))
        skip = _adaptive_mean(self.skip(s1), int(s3.shape[-2]), int(s3.shape[-1]))
        return self.drop((s3 + skip).mean(dim=(2, 3)))


@functools.lru_cache(maxsize=64)
def _bin_matrix(n_in: int, n_out: int) -> torch.Tensor:
    """(n_out, n_in) averaging matrix of adaptive average pooling's bins (floor/ceil bounds).

    Built in NumPy from plain ints, so an ONNX trace records it as a constant, not as index arithmetic.
    """
    m = np.zeros((n_out, n_in), np.float32)
    for i in range(n_out):
        a, b = (i * n_in) // n_out, -((-(i + 1) * n_in) // n_out)
        m[i, a:b] = 1.0 / (b - a)
    return torch.from_numpy(m)


def _adaptive_mean(x: torch.Tensor, oh: int, ow: int) -> torch.Tensor:
    """``adaptive_avg_pool2d(x, (oh, ow))`` as two matrix products.

    Why: the ONNX exporter cannot express adaptive pooling whose output size does not divide the
    input (7 of 30 for the zero-padded CNN at patch 30); the bins as matrices are the same means.
    """
    ph = _bin_matrix(int(x.shape[-2]), oh).to(x)
    pw = _bin_matrix(int(x.shape[-1]), ow).to(x)
    return ph @ x @ pw.T


def _dilated(block: nn.Sequential, x: torch.Tensor, dilation: int) -> torch.Tensor:
    """A conv-act-BN block applied with its convolution dilated (the dense form of a strided input)."""
    conv = block[0]
    assert isinstance(conv, nn.Conv2d)
    y = nn.functional.conv2d(x, conv.weight, conv.bias, dilation=dilation)
    for layer in block[1:]:
        y = layer(y)
    return y


def dense_cnn_features(cnn: SpatialCNN, z: torch.Tensor, patch: int) -> torch.Tensor:
    """CNN features of every ``patch`` x ``patch`` window of ``z`` at once, exactly as the per-patch pass.

    ``z``: (1, C, H + patch - 1, W + patch - 1); returns (H * W, 4 * filters), row-major, where row
    ``y * W + x`` equals ``cnn(z[:, :, y:y+patch, x:x+patch])`` up to float rounding.

    Why it is exact: the per-patch network's 2x2 max pools keep every second cell, so the dense
    equivalent pools with stride 1 and dilates every later operation by the accumulated stride
    (1, 2, 4): the "shift-and-stitch" / a-trous identity. The stage-3 mean over its n x n cells is a
    dilated box sum; the skip's mean over the stage-1 map is a box mean. Cost per cell: a few tens
    of kFLOP instead of about 5 MFLOP for a 30-cell patch pushed through on its own.
    """
    if cnn.padding != "valid":
        raise ValueError("dense inference needs the unpadded ('valid') CNN")
    f = nn.functional
    n1 = patch - 2  # stage-1 map of one patch
    n3 = (n1 // 2 - 2) // 2 - 2  # stage-3 map of one patch
    a1 = cnn.stage1(z)
    a2 = _dilated(cnn.stage2, f.max_pool2d(a1, 2, stride=1), 2)
    a3 = _dilated(cnn.stage3, f.max_pool2d(a2, 2, stride=1, dilation=2), 4)
    h, w = z.shape[-2] - patch + 1, z.shape[-1] - patch + 1
    # separable box sums: n3 + n3 slices instead of n3 * n3, two 1-D means instead of an n1 x n1 one
    rows = a3[..., 0:h, :]
    for i in range(1, n3):
        rows = rows + a3[..., 4 * i : 4 * i + h, :]
    s3 = rows[..., 0:w]
    for j in range(1, n3):
        s3 = s3 + rows[..., 4 * j : 4 * j + w]
    s3 = s3 / (n3 * n3)
    m1 = f.avg_pool2d(f.avg_pool2d(a1, (n1, 1), stride=1), (1, n1), stride=1)[..., :h, :w]
    feats = s3 + cnn.skip(m1)
    return feats[0].flatten(1).T


class TemporalLSTM(nn.Module):
    """LSTM branch: series (N, T, V) -> (N, units)."""

    def __init__(self, n_vars: int, hp: DeepHP) -> None:
        super().__init__()
        self.lstm = nn.LSTM(
            n_vars,
            hp.lstm_units,
            num_layers=hp.lstm_layers,
            batch_first=True,
            dropout=hp.lstm_dropout if hp.lstm_layers > 1 else 0.0,
        )
        self.drop = nn.Dropout(hp.lstm_dropout)
        self.out_dim = hp.lstm_units

    def forward(self, s: torch.Tensor) -> torch.Tensor:
        """Last hidden state (N, units) of series (N, T, V)."""
        out, _ = self.lstm(s)
        return self.drop(out[:, -1])


class SusceptibilityNet(nn.Module):
    """One class for the four deep variants, so saving, loading and prediction share one path."""

    def __init__(self, kind: str, n_factors: int, n_vars: int, hp: DeepHP, patch: int = 0) -> None:
        super().__init__()
        if kind not in DEEP_MODELS:
            raise ValueError(kind)
        self.kind = kind
        self.cnn = SpatialCNN(n_factors, hp, resolved_padding(hp, patch)) if kind != "lstm" else None
        self.lstm = TemporalLSTM(n_vars, hp) if kind != "cnn" else None
        dim = (self.cnn.out_dim if self.cnn else 0) + (self.lstm.out_dim if self.lstm else 0)
        self.attention = None
        if kind == "cnn_lstm_am":
            self.attention = nn.Sequential(
                nn.Linear(dim, hp.fc_units), nn.Tanh(), nn.Linear(hp.fc_units, dim), nn.Sigmoid()
            )
            self.head = nn.Sequential(nn.Linear(dim, 64), nn.ReLU(), nn.Dropout(hp.dropout), nn.Linear(64, 1))
        elif kind == "cnn_lstm":
            self.head = nn.Sequential(
                nn.Linear(dim, hp.fc_units), nn.ReLU(), nn.Dropout(hp.dropout), nn.Linear(hp.fc_units, 1)
            )
        else:
            self.head = nn.Sequential(nn.Linear(dim, 64), nn.ReLU(), nn.Dropout(hp.dropout), nn.Linear(64, 1))

    @property
    def needs_series(self) -> bool:
        """True for models with an LSTM branch."""
        return self.lstm is not None

    def forward(self, patch: torch.Tensor, series: torch.Tensor | None = None) -> torch.Tensor:
        """Logit of landslide presence, shape (N,)."""
        return self.fuse(self.cnn(patch) if self.cnn is not None else None, series)

    @property
    def dense(self) -> bool:
        """True when the CNN branch can be computed densely over a window (:func:`dense_cnn_features`)."""
        return self.cnn is not None and self.cnn.padding == "valid"

    def fuse(self, cnn_features: torch.Tensor | None, series: torch.Tensor | None = None) -> torch.Tensor:
        """Logit from the CNN branch's features (already computed) and the series."""
        feats = [cnn_features] if cnn_features is not None else []
        if self.lstm is not None:
            feats.append(self.lstm(series))
        z = torch.cat(feats, dim=1)
        if self.attention is not None:
            z = z + self.attention(z) * z  # re-weighting with a residual connection
        return self.head(z).squeeze(1)


class SeedEnsemble(nn.Module):
    """Members of one architecture trained with different seeds; the output is their mean probability.

    Why: a deep model trained on a few hundred landslides depends on its random initialisation and
    batch order; the average of a few members is steadier and usually better calibrated (a deep
    ensemble, Lakshminarayanan et al. 2017). ``forward`` returns the logit of the mean probability,
    so every caller that applies a sigmoid gets the ensemble's probability.
    """

    def __init__(self, members: list[SusceptibilityNet]) -> None:
        super().__init__()
        self.members = nn.ModuleList(members)
        self.kind = members[0].kind

    @property
    def cnn(self) -> SpatialCNN | None:
        """The first member's CNN branch (for callers that only ask whether there is one)."""
        return members_of(self)[0].cnn

    @property
    def lstm(self) -> TemporalLSTM | None:
        """The first member's LSTM branch (for callers that only ask whether there is one)."""
        return members_of(self)[0].lstm

    @property
    def needs_series(self) -> bool:
        """True for models with an LSTM branch."""
        return members_of(self)[0].needs_series

    @property
    def dense(self) -> bool:
        """True when every member's CNN branch can be computed densely."""
        return all(m.dense for m in members_of(self))

    def forward(self, patch: torch.Tensor, series: torch.Tensor | None = None) -> torch.Tensor:
        """Logit of the members' mean probability, shape (N,)."""
        p = torch.stack([torch.sigmoid(m(patch, series)) for m in self.members]).mean(0)
        return torch.logit(p.clamp(1e-7, 1 - 1e-7))


def members_of(net: nn.Module) -> list[SusceptibilityNet]:
    """The single networks of a model: its members for an ensemble, else itself."""
    if isinstance(net, SeedEnsemble):
        return [m for m in net.members if isinstance(m, SusceptibilityNet)]
    assert isinstance(net, SusceptibilityNet)
    return [net]


_TREE_FORMAT = "landslide_ai.tree_model.v1"


def save_tree_model(model: object, path: str | Path) -> None:
    """Save a Random Forest or an XGBoost-LR with joblib, free of our package's name.

    Why: pickling ``XGBoostLR`` itself would store the module path it was imported under
    (``landslide_ai.core...`` inside QGIS, ``core...`` on the command line), so a model trained in
    one could not be loaded by the other. Only library objects are pickled; our class is rebuilt.
    """
    import joblib

    obj = (
        {"format": _TREE_FORMAT, "kind": "xgboost_lr", "state": dict(vars(model))}
        if isinstance(model, XGBoostLR)
        else model
    )
    joblib.dump(obj, path)


def load_tree_model(path: str | Path) -> object:
    """Load what :func:`save_tree_model` wrote (any error is left to the caller to explain)."""
    import joblib

    obj = joblib.load(path)
    if isinstance(obj, dict) and obj.get("format") == _TREE_FORMAT:
        model = XGBoostLR.__new__(XGBoostLR)
        model.__dict__.update(obj["state"])
        return model
    if not hasattr(obj, "predict_proba"):
        raise TypeError(f"{type(obj).__name__} is not a classifier")
    return obj


class XGBoostLR:
    """XGBoost whose tree leaves, one-hot encoded, feed a logistic regression (He et al., 2014).

    The trees and the regression are fitted on disjoint halves of the training set (default), so
    the regression does not learn the trees' own overfitting.
    """

    def __init__(
        self,
        n_estimators: int = 100,
        max_depth: int = 4,
        learning_rate: float = 0.1,
        holdout: float = 0.5,
        seed: int = 0,
    ) -> None:
        self.params = dict(n_estimators=n_estimators, max_depth=max_depth, learning_rate=learning_rate)
        self.holdout = holdout
        self.seed = seed

    def fit(self, x: np.ndarray, y: np.ndarray) -> XGBoostLR:
        """Fit trees on one half and the leaf-LR on the other (stratified)."""
        from sklearn.linear_model import LogisticRegression
        from sklearn.model_selection import train_test_split
        from sklearn.preprocessing import OneHotEncoder
        from xgboost import XGBClassifier

        if self.holdout > 0:
            xa, xb, ya, yb = train_test_split(x, y, test_size=self.holdout, stratify=y, random_state=self.seed)
        else:
            xa, xb, ya, yb = x, x, y, y
        self.xgb = XGBClassifier(**self.params, random_state=self.seed, n_jobs=2, eval_metric="logloss")
        self.xgb.fit(xa, ya)
        self.enc = OneHotEncoder(handle_unknown="ignore")
        leaves = self.enc.fit_transform(self.xgb.apply(xb))
        self.lr = LogisticRegression(max_iter=2000, C=1.0)
        self.lr.fit(leaves, yb)
        return self

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        """Class probabilities (N, 2)."""
        return self.lr.predict_proba(self.enc.transform(self.xgb.apply(x)))
