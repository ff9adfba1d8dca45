"""Exponential moving average of model weights (the copy that is validated and shipped when enabled)."""

from __future__ import annotations

import copy
import math

import torch


class ModelEMA:
    """``ema = d * ema + (1 - d) * model`` after every optimiser step, with ``d`` ramping up from 0.

    ``d = decay * (1 - exp(-updates / ramp_steps))``: early on the average follows the model closely, so a
    short fine-tune is not dragged back to its starting weights. Buffers (BatchNorm statistics) are copied.
    """

    def __init__(self, model: torch.nn.Module, decay: float = 0.999, ramp_steps: int = 500, updates: int = 0):
        if not 0.0 < decay < 1.0:
            raise ValueError(f"EMA decay must be in (0, 1), got {decay}")
        self.module = copy.deepcopy(model).eval()
        for p in self.module.parameters():
            p.requires_grad_(False)
        self.decay, self.ramp_steps, self.updates = decay, ramp_steps, updates

    @torch.no_grad()
    def update(self, model: torch.nn.Module) -> None:
        model = getattr(model, "_orig_mod", model)  # a torch.compile wrapper shares the original's weights
        self.updates += 1
        d = self.decay * (1.0 - math.exp(-self.updates / self.ramp_steps))
        ema_state = self.module.state_dict()
        for name, value in model.state_dict().items():
            target = ema_state[name]
            if value.dtype.is_floating_point:
                target.mul_(d).add_(value.detach(), alpha=1.0 - d)
            else:
                target.copy_(value)
