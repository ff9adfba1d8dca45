"""Decode detection outputs: scores, class-aware NMS, boxes back to original pixels."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torchvision.ops import batched_nms


@dataclass(frozen=True)
class DetectionDecodeConfig:
    conf_threshold: float = 0.3   # minimum score sqrt(p_class * p_centre) to keep a box
    iou_threshold: float = 0.6    # NMS IoU, applied per class
    max_candidates: int = 1000    # top-scoring (location, class) pairs kept before NMS
    max_detections: int = 100     # boxes kept per image after NMS
    min_box_size_px: float = 2.0  # boxes thinner than this (network pixels) are dropped


def decode_detections(cls_logits: np.ndarray, ctr_logits: np.ndarray, boxes_xyxy: np.ndarray,
                      config: DetectionDecodeConfig = DetectionDecodeConfig()
                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Turn one image's raw head outputs into final detections in network pixels.

    Args:
        cls_logits: (A, C) class logits; ctr_logits: (A,) centre-ness logits;
        boxes_xyxy: (A, 4) boxes in network pixels.
    Returns:
        boxes (K, 4) float32 network pixels, scores (K,) float32, class ids (K,) int64, best first.
    """
    cls = torch.from_numpy(np.asarray(cls_logits, dtype=np.float32))
    ctr = torch.from_numpy(np.asarray(ctr_logits, dtype=np.float32))
    boxes = torch.from_numpy(np.asarray(boxes_xyxy, dtype=np.float32))
    scores = torch.sqrt(torch.sigmoid(cls) * torch.sigmoid(ctr)[:, None])  # (A, C)
    flat = scores.reshape(-1)
    keep = torch.nonzero(flat > config.conf_threshold).squeeze(1)
    if keep.numel() > config.max_candidates:
        keep = keep[flat[keep].topk(config.max_candidates).indices]
    num_classes = cls.shape[1]
    loc, class_ids = keep // num_classes, keep % num_classes
    cand_boxes, cand_scores = boxes[loc], flat[keep]
    wh = cand_boxes[:, 2:] - cand_boxes[:, :2]
    ok = (wh >= config.min_box_size_px).all(dim=1)
    cand_boxes, cand_scores, class_ids = cand_boxes[ok], cand_scores[ok], class_ids[ok]
    kept = batched_nms(cand_boxes, cand_scores, class_ids, config.iou_threshold)[: config.max_detections]
    return cand_boxes[kept].numpy(), cand_scores[kept].numpy(), class_ids[kept].numpy().astype(np.int64)
