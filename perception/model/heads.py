"""Task heads. Each returns named tensors; nothing downstream indexes outputs by position."""

from __future__ import annotations

import math
import torch
import torch.nn.functional as F
from torch import nn

from perception.model.blocks import ConvBNAct, DepthwiseSeparable
from perception.model.config import LANE_SLOTS

PRIOR_PROBABILITY = 0.01  # initial foreground probability of classification/lane logits (focal-loss style)


def _prior_bias() -> float:
    return -math.log((1 - PRIOR_PROBABILITY) / PRIOR_PROBABILITY)


class DetectionHead(nn.Module):
    """Anchor-free detection head (FCOS style), shared across levels ``p3``, ``p4``, ``p5``.

    Each feature-map cell at level stride ``s`` is a location with centre ``((i + 0.5) s, (j + 0.5) s)``
    in network pixels; the head predicts class logits, a centre-ness logit and distances to the
    four box sides. Outputs, with A = total locations over all levels (H/8*W/8 + H/16*W/16 + H/32*W/32):

    - ``det_cls_logits``: FloatTensor[B, A, num_classes]
    - ``det_ctr_logits``: FloatTensor[B, A]
    - ``det_boxes_xyxy``: FloatTensor[B, A, 4], network pixels, edge coordinates (0 <= x <= W)
    - ``det_points_xy`` / ``det_strides`` are exposed by ``locations()`` for training targets.
    """

    levels = ("p3", "p4", "p5")

    def __init__(self, in_channels: int, num_classes: int, strides: tuple[int, ...] = (8, 16, 32),
                 channels: int = 64, depth: int = 2):
        super().__init__()
        self.num_classes = num_classes
        self.strides = tuple(strides)
        layers: list[nn.Module] = []
        c = in_channels
        for _ in range(depth):
            layers.append(DepthwiseSeparable(c, channels))
            c = channels
        self.tower = nn.Sequential(*layers)
        self.cls = nn.Conv2d(channels, num_classes, 1)
        self.box = nn.Conv2d(channels, 4, 1)
        self.ctr = nn.Conv2d(channels, 1, 1)
        self.scales = nn.Parameter(torch.ones(len(self.strides)))
        nn.init.normal_(self.cls.weight, std=0.01)
        nn.init.constant_(self.cls.bias, _prior_bias())
        nn.init.normal_(self.box.weight, std=0.01)
        nn.init.constant_(self.box.bias, 1.0)
        nn.init.normal_(self.ctr.weight, std=0.01)
        nn.init.zeros_(self.ctr.bias)

    @staticmethod
    def level_points(h: int, w: int, stride: int, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
        """Location centres of one level, FloatTensor[h*w, 2] (x, y) in network pixels, row-major."""
        ys = (torch.arange(h, device=device, dtype=dtype) + 0.5) * stride
        xs = (torch.arange(w, device=device, dtype=dtype) + 0.5) * stride
        yy, xx = torch.meshgrid(ys, xs, indexing="ij")
        return torch.stack([xx.reshape(-1), yy.reshape(-1)], dim=1)

    def forward(self, feats: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        cls_all, ctr_all, box_all = [], [], []
        for i, (name, stride) in enumerate(zip(self.levels, self.strides)):
            x = self.tower(feats[name])
            b, _, h, w = x.shape
            cls = self.cls(x).permute(0, 2, 3, 1).reshape(b, h * w, self.num_classes)  # (B, HW, C)
            ctr = self.ctr(x).reshape(b, h * w)                                        # (B, HW)
            ltrb = F.relu(self.box(x) * self.scales[i]).permute(0, 2, 3, 1).reshape(b, h * w, 4) * stride
            pts = self.level_points(h, w, stride, x.device, x.dtype)                  # (HW, 2)
            boxes = torch.cat([pts - ltrb[..., :2], pts + ltrb[..., 2:]], dim=-1)     # (B, HW, 4)
            cls_all.append(cls)
            ctr_all.append(ctr)
            box_all.append(boxes)
        return {"det_cls_logits": torch.cat(cls_all, 1), "det_ctr_logits": torch.cat(ctr_all, 1),
                "det_boxes_xyxy": torch.cat(box_all, 1)}

    def locations(self, input_size_hw: tuple[int, int], device: torch.device | None = None
                  ) -> tuple[torch.Tensor, torch.Tensor]:
        """All locations for an input of ``input_size_hw``: points (A, 2) and their strides (A,)."""
        h, w = input_size_hw
        pts, strides = [], []
        for s in self.strides:
            p = self.level_points(math.ceil(h / s), math.ceil(w / s), s, device or torch.device("cpu"), torch.float32)
            pts.append(p)
            strides.append(torch.full((len(p),), float(s)))
        return torch.cat(pts), torch.cat(strides).to(pts[0].device)


class DenseHead(nn.Module):
    """Stride-4 dense prediction from ``p3`` (upsampled) fused with the backbone's ``s4`` feature.

    Used for semantic segmentation (``num_outputs`` = classes) and the lane-line mask
    (``num_outputs`` = 1). Output: FloatTensor[B, num_outputs, H/4, W/4] logits under ``output_name``.
    """

    def __init__(self, p3_channels: int, s4_channels: int, num_outputs: int, output_name: str,
                 channels: int = 32, prior_bias: bool = False):
        super().__init__()
        self.output_name = output_name
        self.reduce = ConvBNAct(p3_channels, channels, 1)
        self.skip = ConvBNAct(s4_channels, channels, 1)
        self.refine = nn.Sequential(DepthwiseSeparable(channels, channels), DepthwiseSeparable(channels, channels))
        self.out = nn.Conv2d(channels, num_outputs, 1)
        if prior_bias:
            nn.init.constant_(self.out.bias, _prior_bias())

    def forward(self, feats: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        s4 = feats["s4"]
        x = F.interpolate(self.reduce(feats["p3"]), size=s4.shape[-2:], mode="bilinear", align_corners=False)
        x = self.refine(x + self.skip(s4))
        return {self.output_name: self.out(x)}


class _RowContext(nn.Module):
    """x + pw(dw(x)) with a (3, 5) depthwise kernel dilated along the row: context across columns and rows."""

    def __init__(self, channels: int, dilation: int):
        super().__init__()
        self.dw = nn.Sequential(nn.Conv2d(channels, channels, (3, 5), 1, (1, 2 * dilation), (1, dilation),
                                          groups=channels, bias=False), nn.BatchNorm2d(channels), nn.ReLU(inplace=True))
        self.pw = ConvBNAct(channels, channels, 1, act=False)
        self.act = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(x + self.pw(self.dw(x)))


class RowAnchorHead(nn.Module):
    """Lane lines as row-anchor classification (UFLD's formulation, Qin et al. ECCV 2020).

    UFLD classifies, for each lane slot and anchor row, which horizontal grid cell the lane crosses (or none),
    from one global feature vector through a large fully connected layer. Here the cells are the columns of the
    stride-8 grid and the scores are computed by weights shared across columns and rows, so that a line marking
    looks the same wherever it is: far fewer parameters (about 16k), which a few dozen labelled frames can train.
    Each cell sees the neck's ``p3`` (context) and the backbone's ``s4`` (fine detail: its 2x2 stride-4 cells,
    through a 2x2 stride-2 convolution); where a lane is (which slot) comes from two coordinate channels (column and row
    position), row convolutions dilated up to 8 cells (the receptive field spans most of the width) and a
    global context vector; "absent" is scored from the row's mean and max features.

    Input: ``feats["p3"]`` (B, C3, H/8, W/8) and ``feats["s4"]`` (B, C4, H/4, W/4). Output: ``lane_row_logits``
    FloatTensor[B, S, R, G + 1] (see ``RowAnchorLayout``; S = ``num_slots``, R = ``rows``, G = W/8).
    """

    output_name = "lane_row_logits"

    def __init__(self, p3_channels: int, s4_channels: int, rows: int, num_cells: int,
                 num_slots: int = len(LANE_SLOTS), channels: int = 32, dilations: tuple[int, ...] = (1, 2, 4, 8)):
        super().__init__()
        self.rows = rows
        # one linear map of p3 (1x1) and of s4's 2x2 cells (a 2x2 stride-2 convolution), summed, then BN + ReLU
        self.reduce_p3 = nn.Conv2d(p3_channels, channels, 1, bias=False)
        self.reduce_s4 = nn.Conv2d(s4_channels, channels, 2, 2, bias=False)
        self.reduce_bn = nn.Sequential(nn.BatchNorm2d(channels), nn.ReLU(inplace=True))
        self.fuse = ConvBNAct(channels + 2, channels, 1)
        self.global_context = nn.Conv2d(channels, channels, 1)
        self.context = nn.Sequential(*[_RowContext(channels, d) for d in dilations])
        self.cells = nn.Conv2d(channels, num_slots, 1)
        self.absent = nn.Conv2d(2 * channels, num_slots, 1)
        nn.init.normal_(self.cells.weight, std=0.01)
        nn.init.zeros_(self.cells.bias)
        nn.init.normal_(self.absent.weight, std=0.01)
        nn.init.constant_(self.absent.bias, math.log(num_cells))  # p(absent) = 0.5 at the start

    @staticmethod
    def _coordinates(x: torch.Tensor) -> torch.Tensor:
        """(B, 2, R, G) column and row position in (-1, 1), built from shapes at run time (any input size)."""
        ones = torch.ones_like(x[:, :1], dtype=torch.int64)                    # (B, 1, R, G)
        col, row = ones.cumsum(3).to(x.dtype), ones.cumsum(2).to(x.dtype)       # 1..G, 1..R
        return torch.cat([(2 * col - 1) / col[..., -1:] - 1, (2 * row - 1) / row[:, :, -1:] - 1], 1)

    def forward(self, feats: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        x = (self.reduce_p3(feats["p3"][:, :, -self.rows:, :])                   # (B, c, R, G) bottom R rows
             + self.reduce_s4(feats["s4"][:, :, -2 * self.rows:, :]))           # (B, c, R, G) bottom 2R rows
        x = self.reduce_bn(x)
        x = self.fuse(torch.cat([x, self._coordinates(x)], 1))                   # (B, c, R, G)
        x = x + F.relu(self.global_context(x.mean((2, 3), keepdim=True)))       # (B, c, 1, 1) broadcast
        x = self.context(x)                                                      # (B, c, R, G)
        cells = self.cells(x)                                                    # (B, S, R, G)
        pooled = torch.cat([x.mean(3, keepdim=True), x.amax(3, keepdim=True)], 1)  # (B, 2c, R, 1)
        return {self.output_name: torch.cat([cells, self.absent(pooled)], 3)}    # (B, S, R, G + 1)
