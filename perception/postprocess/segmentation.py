"""Segmentation logits -> class map in original pixels and per-class pixel fractions."""

from __future__ import annotations

import cv2
import numpy as np

OUTSIDE = 255  # label for original pixels the network did not see (never happens with letterboxing)


def seg_labels_small(seg_logits: np.ndarray) -> np.ndarray:
    """Argmax over classes: (K, h, w) logits -> (h, w) uint8 labels, in the network's stride-4 grid."""
    return np.asarray(seg_logits).argmax(axis=0).astype(np.uint8)


def labels_to_src(labels_small: np.ndarray, grid_xy: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """Resample a small label map (h, w) to original pixels (H, W) with nearest neighbour.

    ``grid_xy`` is ``Preprocessor.src_grid_in_net(params, downsample)``.
    """
    return cv2.remap(labels_small, grid_xy[0], grid_xy[1], cv2.INTER_NEAREST,
                     borderMode=cv2.BORDER_CONSTANT, borderValue=OUTSIDE)


def class_fractions(labels: np.ndarray, class_names: tuple[str, ...]) -> dict[str, float]:
    """Fraction of pixels per class name (classes with no pixels included as 0.0)."""
    counts = np.bincount(labels.ravel(), minlength=256)
    total = float(labels.size) or 1.0
    return {name: float(counts[i]) / total for i, name in enumerate(class_names)}
