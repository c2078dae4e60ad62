"""A running mean of the model's weights over the later training steps (weight averaging).

Fine-tuning on a few thousand listings ends at a point of the loss surface that depends on
the seed and on which checkpoint early stopping happens to pick, and out of domain the
figures move by several points from one such point to the next (training/EXPERIMENTS.md,
sections 9 and 10). Averaging the weights of every step from some step on (stochastic
weight averaging, Izmailov et al., UAI 2018; done densely, every step, as in SWAD, Cha et
al., NeurIPS 2021, which was proposed for domain generalisation) lands in the middle of the
region the late steps explore: a flatter point, which is expected to carry over to unseen
domains better than any single checkpoint. The encoder has no batch norm, so the averaged
weights need no statistics recomputed.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn


class WeightAverage:
    """Running mean of a model's floating-point tensors (parameters and float buffers)."""

    def __init__(self) -> None:
        self.mean: dict[str, torch.Tensor] | None = None
        self.count = 0

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        """Add the model's current weights to the mean."""
        state = model.state_dict()
        self.count += 1
        if self.mean is None:
            self.mean = {k: v.detach().clone() for k, v in state.items()
                         if v.is_floating_point()}
            return
        for name, mean in self.mean.items():  # mean += (x - mean) / n, in place
            mean.lerp_(state[name], 1.0 / self.count)

    def apply_to(self, model: nn.Module) -> None:
        """Load the mean into ``model`` (tensors that are not averaged stay as they are)."""
        if self.mean is None:
            raise ValueError("no weights have been averaged yet")
        model.load_state_dict({**model.state_dict(), **self.mean})

    def state_dict(self) -> dict[str, Any]:
        return {"mean": self.mean, "count": self.count}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.mean, self.count = state["mean"], int(state["count"])
