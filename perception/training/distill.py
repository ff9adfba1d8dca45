"""Knowledge distillation: a student network learns the outputs of a larger teacher on the same images.

Both networks see the same (augmented, cropped) batch; the teacher runs without gradients in eval mode. Terms:

- ``kd_seg``: KL(teacher || student) of the per-pixel class distributions at temperature ``T`` (times T^2, Hinton
  et al. 2015), averaged over all pixels of the stride-4 grid;
- ``kd_cls``: binary cross-entropy of the student's class logits against the teacher's class probabilities,
  weighted by their squared difference (the quality focal loss of GFL, Li et al. 2020: easy background counts
  little), summed over locations and classes and divided by the number of locations the teacher finds an object
  at (score >= ``POSITIVE_PROB``; at least one per image), as FCOS normalises by positives;
- ``kd_box``: GIoU loss between the student's and the teacher's boxes at those locations, weighted by the
  teacher's score (its confident boxes teach most).

This gives every training frame detection targets, also the frames with masks only (Cityscapes, IDD-Lite, the
lane frames): pseudo-labels in their soft form.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from perception.training.losses import giou_loss

POSITIVE_PROB = 0.3  # a teacher location with a class probability at least this counts as an object


def distillation_loss(student: dict[str, torch.Tensor], teacher: dict[str, torch.Tensor],
                      temperature: float = 2.0) -> dict[str, torch.Tensor]:
    """{"kd_seg", "kd_cls", "kd_box", "kd_total"} for outputs named as ``MultiTaskNet``'s (float32)."""
    t = temperature
    s_seg, t_seg = student["seg_logits"], teacher["seg_logits"]            # (B, K, h, w)
    kd_seg = F.kl_div(F.log_softmax(s_seg / t, 1), F.log_softmax(t_seg / t, 1), reduction="none",
                      log_target=True).sum(1).mean() * t * t
    t_prob = torch.sigmoid(teacher["det_cls_logits"]) * torch.sigmoid(teacher["det_ctr_logits"])[..., None]
    t_score, _ = t_prob.max(-1)                                             # (B, A)
    positive = t_score >= POSITIVE_PROB
    n_pos = positive.sum().clamp(min=1).float()
    s_logits, t_cls = student["det_cls_logits"], torch.sigmoid(teacher["det_cls_logits"])
    focus = (torch.sigmoid(s_logits) - t_cls).abs() ** 2  # easy agreement (most of the background) counts little
    kd_cls = (focus * F.binary_cross_entropy_with_logits(s_logits, t_cls, reduction="none")).sum() \
        / torch.maximum(n_pos, torch.tensor(float(len(s_logits)), device=n_pos.device))
    if positive.any():
        w = t_score[positive]
        kd_box = (giou_loss(student["det_boxes_xyxy"][positive], teacher["det_boxes_xyxy"][positive]) * w).sum() \
            / w.sum()
    else:
        kd_box = student["det_boxes_xyxy"].sum() * 0.0
    return {"kd_seg": kd_seg, "kd_cls": kd_cls, "kd_box": kd_box, "kd_total": kd_seg + kd_cls + kd_box}
