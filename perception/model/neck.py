"""Neck: FPN (top-down) + PAN (bottom-up) over strides 8, 16 and 32."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from perception.model.blocks import ConvBNAct, DepthwiseSeparable


class LitePAN(nn.Module):
    """Fuse backbone features ``s8``, ``s16``, ``s32`` into ``p3``, ``p4``, ``p5`` of equal width.

    Input: dict with (B, C_s, H/s, W/s) per stride. Output: dict ``p3`` (B, C, H/8, W/8),
    ``p4`` (B, C, H/16, W/16), ``p5`` (B, C, H/32, W/32), where C = ``out_channels``.
    """

    def __init__(self, in_channels: dict[str, int], out_channels: int = 64):
        super().__init__()
        self.lateral = nn.ModuleDict({k: ConvBNAct(in_channels[k], out_channels, 1) for k in ("s8", "s16", "s32")})
        self.smooth_td = nn.ModuleDict({k: DepthwiseSeparable(out_channels, out_channels) for k in ("s8", "s16")})
        self.down = nn.ModuleDict({k: DepthwiseSeparable(out_channels, out_channels, stride=2) for k in ("s8", "s16")})
        self.smooth_bu = nn.ModuleDict({k: DepthwiseSeparable(out_channels, out_channels) for k in ("s16", "s32")})
        self.out_channels = out_channels

    def forward(self, feats: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        l8, l16, l32 = (self.lateral[k](feats[k]) for k in ("s8", "s16", "s32"))
        # top-down
        t16 = self.smooth_td["s16"](l16 + F.interpolate(l32, size=l16.shape[-2:], mode="nearest"))
        t8 = self.smooth_td["s8"](l8 + F.interpolate(t16, size=l8.shape[-2:], mode="nearest"))
        # bottom-up
        b16 = self.smooth_bu["s16"](t16 + self.down["s8"](t8))
        b32 = self.smooth_bu["s32"](l32 + self.down["s16"](b16))
        return {"p3": t8, "p4": b16, "p5": b32}
