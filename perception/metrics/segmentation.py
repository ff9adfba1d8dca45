"""Semantic segmentation: confusion matrix, per-class IoU, mIoU (ignore index respected)."""

from __future__ import annotations

import numpy as np


class ConfusionMatrix:
    """Accumulates a (K, K) matrix, rows = ground truth, columns = prediction; pixels labelled
    ``ignore_index`` in the ground truth are skipped."""

    def __init__(self, num_classes: int, ignore_index: int = 255):
        self.k = num_classes
        self.ignore_index = ignore_index
        self.matrix = np.zeros((num_classes, num_classes), dtype=np.int64)

    def update(self, target: np.ndarray, pred: np.ndarray) -> None:
        t = np.asarray(target).ravel().astype(np.int64)
        p = np.asarray(pred).ravel().astype(np.int64)
        if t.shape != p.shape:
            raise ValueError(f"target and prediction differ in size: {t.shape} vs {p.shape}")
        keep = (t != self.ignore_index) & (t >= 0) & (t < self.k)
        self.matrix += np.bincount(self.k * t[keep] + p[keep].clip(0, self.k - 1),
                                   minlength=self.k * self.k).reshape(self.k, self.k)

    def iou(self) -> np.ndarray:
        """Per-class IoU = TP / (TP + FP + FN); NaN for a class absent from both target and prediction."""
        tp = np.diag(self.matrix).astype(np.float64)
        denom = self.matrix.sum(0) + self.matrix.sum(1) - tp
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(denom > 0, tp / denom, np.nan)

    def summary(self, class_names: tuple[str, ...]) -> dict:
        iou = self.iou()
        total = self.matrix.sum()
        return {"miou": float(np.nanmean(iou)) if np.any(~np.isnan(iou)) else float("nan"),
                "pixel_accuracy": float(np.diag(self.matrix).sum() / total) if total else float("nan"),
                "per_class_iou": {n: (None if np.isnan(v) else round(float(v), 4)) for n, v in zip(class_names, iou)},
                "pixels": int(total)}
