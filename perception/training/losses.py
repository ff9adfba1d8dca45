"""Multi-task loss where each sample contributes only to the tasks it has labels for."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from perception.training.targets import IGNORE


@dataclass(frozen=True)
class LossWeights:
    det: float = 1.0   # focal + GIoU + centre-ness, together
    seg: float = 1.0   # cross-entropy over semantic classes (ignore index 255)
    lane: float = 1.0  # BCE on the lane-line mask
    seg_class: tuple[float, ...] = ()  # per-class cross-entropy weights (empty = unweighted)
    # coarse labels: coarse_groups[k] lists the fine class indices inside coarse class k (empty = none used)
    coarse_groups: tuple[tuple[int, ...], ...] = ()
    lane_rows: float = 1.0  # row-anchor head: cross-entropy over cells + absent, plus LANE_ROW_LOC_WEIGHT x location


# seg_mask values from COARSE_LABEL_OFFSET up (and below 255) are coarse-class labels: value - offset = index
# into LossWeights.coarse_groups. Only training builds such masks (perception/training/data.py).
COARSE_LABEL_OFFSET = 128
# Row-anchor location term: smooth-L1 (cells) between the soft-argmax expectation over the G cells and the labelled
# sub-cell x, on rows where the lane is present (UFLD's expectation; it also sharpens the cell distribution).
LANE_ROW_LOC_WEIGHT = 0.1


def sigmoid_focal_loss(logits: torch.Tensor, targets: torch.Tensor, alpha: float = 0.25,
                       gamma: float = 2.0) -> torch.Tensor:
    """Focal loss (Lin et al. 2017) per element, no reduction: ``targets`` in [0, 1], same shape as ``logits``.
    The cross-entropy of each element is scaled by ``(1 - p_t) ** gamma`` and weighted ``alpha`` for positives,
    ``1 - alpha`` for negatives."""
    p = torch.sigmoid(logits)
    ce = F.binary_cross_entropy_with_logits(logits, targets, reduction="none")
    p_t = p * targets + (1 - p) * (1 - targets)
    weight = alpha * targets + (1 - alpha) * (1 - targets)
    return weight * ce * (1 - p_t) ** gamma


def giou_loss(pred_xyxy: torch.Tensor, target_xyxy: torch.Tensor, eps: float = 1e-7) -> torch.Tensor:
    """1 - generalised IoU (Rezatofighi et al. 2019) of matching rows of two (N, 4) xyxy box tensors: (N,)."""
    px1, py1, px2, py2 = pred_xyxy.unbind(-1)
    tx1, ty1, tx2, ty2 = target_xyxy.unbind(-1)
    inter = (torch.min(px2, tx2) - torch.max(px1, tx1)).clamp(min=0) * \
        (torch.min(py2, ty2) - torch.max(py1, ty1)).clamp(min=0)
    union = (px2 - px1) * (py2 - py1) + (tx2 - tx1) * (ty2 - ty1) - inter
    iou = inter / (union + eps)
    hull = (torch.max(px2, tx2) - torch.min(px1, tx1)) * (torch.max(py2, ty2) - torch.min(py1, ty1))
    return 1 - (iou - (hull - union) / (hull + eps))


def lane_row_loss(logits: torch.Tensor, cls_target: torch.Tensor, cell_target: torch.Tensor
                  ) -> tuple[torch.Tensor, torch.Tensor]:
    """(classification, location) losses of the row-anchor head.

    ``logits`` (B, S, R, G + 1); ``cls_target`` (B, S, R) long in 0..G (G = absent); ``cell_target`` (B, S, R) float
    sub-cell x (NaN where absent). Classification: mean cross-entropy over every (slot, row). Location: mean
    smooth-L1 of the expected cell under the softmax over the G cells, over present rows (0 when there are none).
    """
    g = logits.shape[-1] - 1
    cls = F.cross_entropy(logits.reshape(-1, g + 1), cls_target.reshape(-1))
    present = cls_target != g                                                  # (B, S, R)
    if not present.any():
        return cls, logits.sum() * 0.0
    p = torch.softmax(logits[present][:, :g], dim=-1)                          # (P, G)
    expected = (p * torch.arange(g, dtype=p.dtype, device=p.device)).sum(-1)  # (P,) cells
    return cls, F.smooth_l1_loss(expected, cell_target[present])


def coarse_log_likelihood(logits: torch.Tensor, coarse: torch.Tensor,
                          groups: tuple[tuple[int, ...], ...]) -> torch.Tensor:
    """Mean of ``-log sum_{c in group} p_c`` over pixels with a coarse label.

    ``logits`` (N, C) fine-class logits of the labelled pixels; ``coarse`` (N,) coarse index of each. The
    network still predicts fine classes; a coarse label only says which group their probability belongs to.
    """
    log_p = torch.log_softmax(logits, dim=1)                                      # (N, C)
    member = torch.zeros(len(groups), logits.shape[1], dtype=torch.bool, device=logits.device)
    for k, group in enumerate(groups):
        member[k, list(group)] = True
    masked = log_p.unsqueeze(1).masked_fill(~member.unsqueeze(0), float("-inf"))  # (N, K, C)
    group_log_p = torch.logsumexp(masked, dim=2)                                  # (N, K)
    return -group_log_p.gather(1, coarse.long().unsqueeze(1)).mean()


def log_inverse_class_weights(masks: list, num_classes: int, c: float = 1.02) -> tuple[float, ...]:
    """Per-class weights ``1 / ln(c + p_k)`` (the ENet recipe), ``p_k`` = class k's share of labelled pixels.

    ``masks``: (H, W) integer arrays, 255 = ignore. The weights are scaled so that the pixel-weighted mean is 1,
    which keeps the loss on the scale of plain cross-entropy. A class with no pixels gets the largest weight.
    """
    import numpy as np

    counts = np.zeros(num_classes, dtype=np.float64)
    for m in masks:
        valid = m[m < num_classes]  # drops 255 (ignore) and coarse labels
        counts += np.bincount(valid.ravel().astype(np.int64), minlength=num_classes)[:num_classes]
    if counts.sum() == 0:
        return tuple([1.0] * num_classes)
    share = counts / counts.sum()
    w = 1.0 / np.log(c + share)
    w = w / float((w * share).sum())
    return tuple(round(float(x), 4) for x in w)


def multitask_loss(out: dict[str, torch.Tensor], batch: dict[str, torch.Tensor],
                   weights: LossWeights = LossWeights()) -> dict[str, torch.Tensor]:
    """Return {"total", "det_cls", "det_box", "det_ctr", "seg", "seg_coarse", "lane", "lane_row", "lane_row_loc"}.

    ``batch`` holds, for B images: ``has_det``/``has_seg``/``has_lane`` (B,) bools; ``cls_target`` (B, A),
    ``box_target`` (B, A, 4), ``ctr_target`` (B, A); ``seg_mask`` (B, H, W) long (255 = ignore, values from
    ``COARSE_LABEL_OFFSET`` = coarse labels scored through ``weights.coarse_groups``);
    ``lane_mask`` (B, 1, H/4, W/4) float; with the row-anchor head, ``has_lane_rows``, ``lane_row_cls`` and
    ``lane_row_cell`` (``perception.training.data.Collate``). A task whose samples are all unlabelled adds 0, and
    so does a head whose output is not in ``out`` (a training run that trains and runs only some heads).
    """
    zero = next(iter(out.values())).sum() * 0.0
    losses = {k: zero for k in ("det_cls", "det_box", "det_ctr", "seg", "seg_coarse", "lane", "lane_row",
                                "lane_row_loc")}
    has_det = batch["has_det"]
    if has_det.any() and "det_cls_logits" in out:
        cls_logits = out["det_cls_logits"][has_det]                       # (b, A, C)
        cls_t, box_t, ctr_t = batch["cls_target"][has_det], batch["box_target"][has_det], batch["ctr_target"][has_det]
        valid = cls_t != IGNORE
        pos = cls_t >= 0
        num_pos = max(1.0, float(pos.sum()))
        onehot = torch.zeros_like(cls_logits)
        onehot[pos] = F.one_hot(cls_t[pos], cls_logits.shape[-1]).to(onehot.dtype)
        focal = sigmoid_focal_loss(cls_logits, onehot, alpha=0.25, gamma=2.0).sum(-1)
        losses["det_cls"] = (focal * valid).sum() / num_pos
        if pos.any():
            pred_boxes = out["det_boxes_xyxy"][has_det][pos]
            ctr_w = ctr_t[pos]
            giou = giou_loss(pred_boxes, box_t[pos])
            losses["det_box"] = (giou * ctr_w).sum() / ctr_w.sum().clamp(min=1e-6)
            losses["det_ctr"] = F.binary_cross_entropy_with_logits(out["det_ctr_logits"][has_det][pos], ctr_w)
    has_seg = batch["has_seg"]
    if has_seg.any() and "seg_logits" in out:
        logits = out["seg_logits"][has_seg]
        target = batch["seg_mask"][has_seg]
        logits = F.interpolate(logits, size=target.shape[-2:], mode="bilinear", align_corners=False)
        coarse = (target >= COARSE_LABEL_OFFSET) & (target != 255)
        fine_target = target.masked_fill(coarse, 255)
        if (fine_target != 255).any():
            cw = torch.tensor(weights.seg_class, dtype=logits.dtype, device=logits.device) if weights.seg_class else None
            losses["seg"] = F.cross_entropy(logits, fine_target, weight=cw, ignore_index=255)
        if weights.coarse_groups and coarse.any():
            pix = logits.permute(0, 2, 3, 1)[coarse]                              # (N, C)
            losses["seg_coarse"] = coarse_log_likelihood(pix, target[coarse] - COARSE_LABEL_OFFSET,
                                                         weights.coarse_groups)
    has_lane = batch["has_lane"]
    if has_lane.any() and "lane_logits" in out:
        logits = out["lane_logits"][has_lane]
        target = batch["lane_mask"][has_lane]
        losses["lane"] = F.binary_cross_entropy_with_logits(logits, target, pos_weight=torch.tensor(10.0))
    has_rows = batch.get("has_lane_rows")
    if has_rows is not None and has_rows.any() and "lane_row_logits" in out:
        losses["lane_row"], losses["lane_row_loc"] = lane_row_loss(
            out["lane_row_logits"][has_rows], batch["lane_row_cls"][has_rows], batch["lane_row_cell"][has_rows])
    losses["total"] = (weights.det * (losses["det_cls"] + 2.0 * losses["det_box"] + losses["det_ctr"])
                       + weights.seg * (losses["seg"] + losses["seg_coarse"]) + weights.lane * losses["lane"]
                       + weights.lane_rows * (losses["lane_row"] + LANE_ROW_LOC_WEIGHT * losses["lane_row_loc"]))
    return losses
