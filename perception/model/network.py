"""The multi-task network: shared backbone + neck, detection / segmentation / lane heads."""

from __future__ import annotations

import torch
from torch import nn

from perception.model.backbone import LiteBackbone
from perception.model.config import ModelConfig, model_config
from perception.model.heads import DenseHead, DetectionHead, RowAnchorHead
from perception.model.neck import LitePAN
from perception.model.outputs import HEAD_NAMES, LANE_ROW_OUTPUT, OUTPUT_NAMES, RowAnchorLayout, output_names

__all__ = ["MultiTaskNet", "build_model", "build_multitask_lite", "HEAD_NAMES", "LANE_ROW_OUTPUT", "OUTPUT_NAMES",
           "output_names"]


class MultiTaskNet(nn.Module):
    """One CNN, three heads, composed from parts passed in.

    Any part left as None is built from ``config``, so a user can swap one head (or the backbone)
    without forking this file. A backbone must return a dict with ``s4``, ``s8``, ``s16``, ``s32``
    and expose ``out_channels``; a neck maps those to ``p3``, ``p4``, ``p5``.

    Input: ``images`` uint8 (B, 3, H, W), RGB, H and W multiples of 32. Normalisation happens here,
    so an exported graph takes uint8 too. Output: dict with the names in ``OUTPUT_NAMES``:

    - ``det_cls_logits`` (B, A, num_det_classes), ``det_ctr_logits`` (B, A),
      ``det_boxes_xyxy`` (B, A, 4) in network pixels — see ``DetectionHead``;
    - ``seg_logits`` (B, num_seg_classes, H/4, W/4);
    - ``lane_logits`` (B, 1, H/4, W/4), lane-line mask logits;
    - ``lane_row_logits`` (B, 4, R, W/8 + 1), only when ``config.lane_rows`` = R > 0: the row-anchor lane head
      (``RowAnchorHead``, layout in ``RowAnchorLayout``). ``output_names(config)`` lists what a config gives.
    """

    def __init__(self, config: ModelConfig | None = None, *, backbone: nn.Module | None = None,
                 neck: nn.Module | None = None, det_head: nn.Module | None = None,
                 seg_head: nn.Module | None = None, lane_head: nn.Module | None = None,
                 lane_row_head: nn.Module | None = None):
        super().__init__()
        cfg = config or ModelConfig()
        self.config = cfg
        self.backbone = backbone or LiteBackbone(cfg.stem_channels, cfg.stage_channels, cfg.stage_depths)
        self.neck = neck or LitePAN(self.backbone.out_channels, cfg.neck_channels)
        c_neck, c_s4 = self.neck.out_channels, self.backbone.out_channels["s4"]
        self.det_head = det_head or DetectionHead(c_neck, len(cfg.det_classes), cfg.strides,
                                                  cfg.head_channels, cfg.head_depth)
        self.seg_head = seg_head or DenseHead(c_neck, c_s4, len(cfg.seg_classes), "seg_logits", cfg.dense_channels)
        self.lane_head = lane_head or DenseHead(c_neck, c_s4, 1, "lane_logits", cfg.dense_channels,
                                                prior_bias=True)
        self.lane_row_head = lane_row_head
        if lane_row_head is None and cfg.lane_rows:
            self.lane_row_head = RowAnchorHead(c_neck, c_s4, cfg.lane_rows, RowAnchorLayout.of(cfg).num_cells,
                                               channels=cfg.lane_row_channels)
        mean = torch.tensor(cfg.mean_rgb).view(1, 3, 1, 1) * 255.0
        inv_std = 1.0 / (torch.tensor(cfg.std_rgb).view(1, 3, 1, 1) * 255.0)
        self.register_buffer("pixel_mean", mean, persistent=False)
        self.register_buffer("pixel_inv_std", inv_std, persistent=False)

    @property
    def output_names(self) -> tuple[str, ...]:
        return output_names(self.config)

    def forward(self, images: torch.Tensor, heads: tuple[str, ...] | None = None) -> dict[str, torch.Tensor]:
        """Outputs of every head, or only of the ``heads`` named (``HEAD_NAMES``; training a subset)."""
        x = (images.to(self.pixel_mean.dtype) - self.pixel_mean) * self.pixel_inv_std  # (B, 3, H, W) float
        feats = self.backbone(x)
        feats.update(self.neck(feats))
        out: dict[str, torch.Tensor] = {}
        for name in HEAD_NAMES:
            head = getattr(self, name)
            if head is not None and (heads is None or name in heads):
                out.update(head(feats))
        return out


def build_model(size: str = "lite", *, config: ModelConfig | None = None, seed: int = 0) -> MultiTaskNet:
    """A freshly initialised network of a named size (``MODEL_SIZES``), deterministic from ``seed``.

    ``config``, when given, is used as it is (``size`` is then ignored).
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = MultiTaskNet(config or model_config(size))
    return model.eval()


def build_multitask_lite(*, config: ModelConfig | None = None, seed: int = 0) -> MultiTaskNet:
    """The ``lite`` size, freshly initialised (deterministically from ``seed``)."""
    return build_model("lite", config=config, seed=seed)
