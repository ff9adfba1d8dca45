"""Decode detection outputs: scores, class-aware NMS, boxes back to original pixels."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class DetectionDecodeConfig:
    conf_threshold: float = 0.3   # minimum score sqrt(p_class * p_centre) to keep a box
    iou_threshold: float = 0.6    # NMS IoU, applied per class
    max_candidates: int = 1000    # top-scoring (location, class) pairs kept before NMS
    max_detections: int = 100     # boxes kept per image after NMS
    min_box_size_px: float = 2.0  # boxes thinner than this (network pixels) are dropped
    classes: tuple[int, ...] | None = None  # keep only these class ids (None: all)


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
    cls = np.asarray(cls_logits, dtype=np.float32)
    ctr = np.asarray(ctr_logits, dtype=np.float32)
    boxes = np.asarray(boxes_xyxy, dtype=np.float32)
    scores = np.sqrt(_sigmoid(cls) * _sigmoid(ctr)[:, None])  # (A, C)
    if config.classes is not None:  # the other classes never become candidates
        scores[:, np.setdiff1d(np.arange(scores.shape[1]), config.classes)] = 0.0
    flat = scores.reshape(-1)
    keep = np.flatnonzero(flat > config.conf_threshold)
    if keep.size > config.max_candidates:
        keep = keep[np.argpartition(-flat[keep], config.max_candidates - 1)[: config.max_candidates]]
    num_classes = cls.shape[1]
    loc, class_ids = keep // num_classes, keep % num_classes
    cand_boxes, cand_scores = boxes[loc], flat[keep]
    wh = cand_boxes[:, 2:] - cand_boxes[:, :2]
    ok = (wh >= config.min_box_size_px).all(axis=1)
    cand_boxes, cand_scores, class_ids = cand_boxes[ok], cand_scores[ok], class_ids[ok]
    kept = nms_per_class(cand_boxes, cand_scores, class_ids, config.iou_threshold, max_keep=config.max_detections)
    return cand_boxes[kept], cand_scores[kept], class_ids[kept].astype(np.int64)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * x))  # = 1 / (1 + exp(-x)), without overflow warnings for large |x|


def nms_per_class(boxes_xyxy: np.ndarray, scores: np.ndarray, class_ids: np.ndarray,
                  iou_threshold: float, max_keep: int | None = None) -> np.ndarray:
    """Greedy non-maximum suppression within each class.

    Args: boxes_xyxy (N, 4), scores (N,), class_ids (N,). A box is dropped when its IoU with a higher-scoring
    kept box of the same class is above ``iou_threshold``. Returns the kept indices (K,) int64, best first
    (equal scores keep their input order); with ``max_keep``, the first ``max_keep`` of them (the search stops
    there: later boxes cannot change the earlier ones).
    """
    if len(boxes_xyxy) == 0:
        return np.zeros(0, np.int64)
    boxes = boxes_xyxy.astype(np.float64)
    # Boxes of different classes never overlap once each class is moved to its own stretch of the plane.
    span = float(boxes.max() - boxes.min()) + 1.0
    boxes = boxes + (class_ids.astype(np.float64) * span)[:, None]
    x1, y1, x2, y2 = boxes.T
    area = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    order = np.argsort(-scores, kind="stable")
    kept = []
    while order.size and (max_keep is None or len(kept) < max_keep):
        best, rest = order[0], order[1:]
        kept.append(best)
        inter = (np.maximum(np.minimum(x2[best], x2[rest]) - np.maximum(x1[best], x1[rest]), 0.0)
                 * np.maximum(np.minimum(y2[best], y2[rest]) - np.maximum(y1[best], y1[rest]), 0.0))
        iou = inter / np.maximum(area[best] + area[rest] - inter, 1e-12)
        order = rest[iou <= iou_threshold]
    return np.asarray(kept, np.int64)
