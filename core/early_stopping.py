"""Early stopping on a validation loss, shared by the susceptibility and crack trainers."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from torch import nn


import copy

import numpy as np


class EarlyStopping:
    """Keeps the best weights; says stop after ``patience`` epochs without an improvement of ``min_delta``."""

    def __init__(self, patience: int, min_delta: float = 1e-4) -> None:
        self.patience, self.min_delta = patience, min_delta
        self.best, self.wait = np.inf, 0
        self.state: dict | None = None

    def step(self, loss: float, model: nn.Module) -> bool:
        """Record an epoch's validation loss; True when training should stop."""
        if loss < self.best - self.min_delta:
            self.best, self.state, self.wait = loss, copy.deepcopy(model.state_dict()), 0
            return False
        self.wait += 1
        return self.wait >= self.patience

    def restore(self, model: nn.Module) -> None:
        """Load the best weights seen (no-op if no epoch ran)."""
        if self.state is not None:
            model.load_state_dict(self.state)
