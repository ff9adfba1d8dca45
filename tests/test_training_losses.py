"""Our focal and GIoU losses give torchvision's values (the training package does not import torchvision)."""

from __future__ import annotations

import pytest
import torch

from perception.training.losses import giou_loss, sigmoid_focal_loss


def test_focal_and_giou_losses_match_torchvision():
    ops = pytest.importorskip("torchvision.ops")
    gen = torch.Generator().manual_seed(0)
    logits = torch.randn(64, 7, generator=gen) * 3
    targets = (torch.rand(64, 7, generator=gen) > 0.8).float()
    expected = ops.sigmoid_focal_loss(logits, targets, alpha=0.25, gamma=2.0, reduction="none")
    assert torch.allclose(sigmoid_focal_loss(logits, targets), expected, atol=1e-6)

    def boxes() -> torch.Tensor:
        xy = torch.rand(64, 2, generator=gen) * 100
        return torch.cat([xy, xy + torch.rand(64, 2, generator=gen) * 50 + 1], 1)

    pred, target = boxes(), boxes()
    expected = ops.generalized_box_iou_loss(pred, target, reduction="none")
    assert torch.allclose(giou_loss(pred, target), expected, atol=1e-6)
    assert torch.allclose(giou_loss(pred, pred), torch.zeros(64), atol=1e-6)  # a perfect box costs nothing
