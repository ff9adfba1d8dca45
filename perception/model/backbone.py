"""Backbone: image -> multi-scale features."""

from __future__ import annotations

import torch
from torch import nn

from perception.model.blocks import ConvBNAct, DepthwiseSeparable, ResidualDW


class LiteBackbone(nn.Module):
    """A small CPU-friendly CNN for 640x384 input.

    Stem: full 3x3 convolutions (cheap at 3 and 16 channels, and they learn well from scratch),
    then depthwise-separable stages. Input: float (B, 3, H, W), normalised. Output: dict of
    features ``s4`` (B, C0, H/4, W/4), ``s8``, ``s16``, ``s32``. ``out_channels`` maps those names
    to channel counts so a neck can be built for any backbone passed in.
    """

    def __init__(self, stem_channels: int = 16, stage_channels: tuple[int, ...] = (32, 64, 96, 128),
                 stage_depths: tuple[int, ...] = (1, 2, 3, 2)):
        super().__init__()
        self.stem = ConvBNAct(3, stem_channels, 3, 2)  # stride 2
        stages = []
        c_prev = stem_channels
        for i, (c, d) in enumerate(zip(stage_channels, stage_depths)):
            down = ConvBNAct(c_prev, c, 3, 2) if i == 0 else DepthwiseSeparable(c_prev, c, stride=2)
            stages.append(nn.Sequential(down, *[ResidualDW(c) for _ in range(d)]))
            c_prev = c
        self.stages = nn.ModuleList(stages)
        self.out_channels = {f"s{4 * 2 ** i}": c for i, c in enumerate(stage_channels)}

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        x = self.stem(x)
        feats = {}
        for i, stage in enumerate(self.stages):
            x = stage(x)
            feats[f"s{4 * 2 ** i}"] = x
        return feats
