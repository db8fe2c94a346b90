"""The deep susceptibility networks (PyTorch): CNN, LSTM, CNN-LSTM and CNN-LSTM with attention.

Separate from :mod:`.models` (names, hyper-parameters, tabular models) so that importing the
engine never needs torch; only training or running a deep model does.
"""

from __future__ import annotations

import functools

import numpy as np
import torch
from torch import nn

from .models import DEEP_MODELS, DeepHP, resolved_padding

_ACT = {"tanh": nn.Tanh, "relu": nn.ReLU, "sigmoid": nn.Sigmoid}


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
        #: the target cell's own factors -> features (DeepHP.centre_skip); a 1x1 convolution, so the
        #: dense pass applies it to every window cell at once
        self.centre = nn.Conv2d(n_factors, 4 * f, 1) if hp.centre_skip else None
        self.drop = nn.Dropout(hp.dropout)
        self.out_dim = 4 * f

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Features (N, 4 * filters) of standardised patches (N, C, P, P)."""
        s1 = self.stage1(x)
        s2 = self.stage2(self.pool(s1))
        s3 = self.stage3(self.pool(s2))
        if self.padding == "valid":
            feats = s3.mean(dim=(2, 3)) + self.skip(s1.mean(dim=(2, 3), keepdim=True)).flatten(1)
        else:
            skip = _adaptive_mean(self.skip(s1), int(s3.shape[-2]), int(s3.shape[-1]))
            feats = (s3 + skip).mean(dim=(2, 3))
        if self.centre is not None:
            c = int(x.shape[-1]) // 2  # the labelled cell (as the factor-sequence series reads it)
            feats = feats + self.centre(x[:, :, c : c + 1, c : c + 1]).flatten(1)
        return self.drop(feats)


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
    if cnn.centre is not None:  # each output cell's own factors: the window shifted by half a patch
        c = patch // 2
        feats = feats + cnn.centre(z[..., c : c + h, c : c + w])
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
