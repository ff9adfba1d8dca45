"""Class-balanced sampling of detection frames: repeat factors (the LVIS paper's rule, Gupta et al. 2019).

A frame's repeat factor is ``r = max(1, max over its classes c of sqrt(t / f_c))``: ``f_c`` is the fraction of
detection-labelled frames holding class ``c`` and ``t`` the threshold. Frames with only common classes, hard
negatives (no boxes) and frames without detection labels keep ``r = 1``.

An epoch keeps the length of plain shuffling (``len(samples)`` draws, so the same number of steps): each frame
gets ``floor(r)`` or ``ceil(r)`` copies by stochastic rounding, the copies are shuffled and the first
``len(samples)`` taken. Rare-class frames are therefore seen more often and common ones a little less.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from datasets import Sample


def class_frame_fractions(samples: Sequence[Sample], num_classes: int) -> np.ndarray:
    """(num_classes,) fraction of detection-labelled samples holding at least one box of each class."""
    counts = np.zeros(num_classes, np.float64)
    labelled = 0
    for s in samples:
        if s.boxes_xyxy is None:
            continue
        labelled += 1
        if s.labels is not None and len(s.labels):
            counts[np.unique(s.labels.astype(np.int64))] += 1
    return counts / max(labelled, 1)


def repeat_factors(samples: Sequence[Sample], num_classes: int, threshold: float) -> np.ndarray:
    """(len(samples),) float repeat factor of every sample (1.0 for samples without detection labels)."""
    fractions = class_frame_fractions(samples, num_classes)
    per_class = np.maximum(1.0, np.sqrt(threshold / np.maximum(fractions, 1e-12)))
    factors = np.ones(len(samples), np.float64)
    for i, s in enumerate(samples):
        if s.boxes_xyxy is not None and s.labels is not None and len(s.labels):
            factors[i] = per_class[np.unique(s.labels.astype(np.int64))].max()
    return factors


def epoch_indices(factors: np.ndarray, seed: int, epoch: int) -> list[int]:
    """``len(factors)`` draws for one epoch, frame i about in proportion to ``factors[i]``.

    Copy k of frame i is the index ``k * len(factors) + i``: ``TrainSet`` reads frame ``index % len`` and seeds
    its augmentation with the whole index, so two copies of a frame get different crops.
    """
    n = len(factors)
    rng = np.random.default_rng((seed, epoch, 7919))
    copies = np.floor(factors).astype(np.int64)
    copies += rng.random(n) < (factors - copies)
    frame = np.repeat(np.arange(n), copies)
    copy = np.arange(len(frame)) - np.repeat(np.cumsum(copies) - copies, copies)
    pool = copy * n + frame
    rng.shuffle(pool)
    return pool[:n].tolist()
