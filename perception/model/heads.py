"""Task heads. Each returns named tensors; nothing downstream indexes outputs by position."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from perception.model.blocks import ConvBNAct, DepthwiseSeparable

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
