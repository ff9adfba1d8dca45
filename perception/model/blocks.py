"""Small convolution blocks shared by backbone, neck and heads (BN + ReLU: fast on CPU, fusable on export)."""

from __future__ import annotations

import torch
from torch import nn


class ConvBNAct(nn.Sequential):
    """k x k convolution -> BatchNorm -> ReLU (activation optional)."""

    def __init__(self, c_in: int, c_out: int, k: int = 3, stride: int = 1, groups: int = 1, act: bool = True):
        layers: list[nn.Module] = [nn.Conv2d(c_in, c_out, k, stride, k // 2, groups=groups, bias=False),
                                   nn.BatchNorm2d(c_out)]
        if act:
            layers.append(nn.ReLU(inplace=True))
        super().__init__(*layers)


class DepthwiseSeparable(nn.Sequential):
    """3x3 depthwise (stride s) -> 1x1 pointwise; both with BN + ReLU."""

    def __init__(self, c_in: int, c_out: int, stride: int = 1):
        super().__init__(ConvBNAct(c_in, c_in, 3, stride, groups=c_in), ConvBNAct(c_in, c_out, 1))


class ResidualDW(nn.Module):
    """x + pw(dw(x)): a depthwise-separable block with an identity shortcut (channels unchanged)."""

    def __init__(self, channels: int):
        super().__init__()
        self.dw = ConvBNAct(channels, channels, 3, 1, groups=channels)
        self.pw = ConvBNAct(channels, channels, 1, act=False)
        self.act = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(x + self.pw(self.dw(x)))
