"""Comparing backends on real frames: read frames, compare raw outputs per output name.

Errors are reported per output as
- ``max_abs``: max |got - ref| over all elements;
- ``max_rel``: ``max_abs / max |ref|``, i.e. relative to the output's range. (Element-wise relative
  error is meaningless for logits near zero, so it is not used here.)
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from perception.errors import UserInputError
from perception.preprocess import Preprocessor
from perception.sources import Frame, open_source


def read_real_frames(video: str | Path, count: int, input_size_wh: tuple[int, int]) -> np.ndarray:
    """``count`` frames spread evenly over ``video``, preprocessed: uint8 (count, 3, H, W) RGB."""
    source = open_source(video)
    try:
        total = source.info.frame_count or count
        wanted = sorted(set(np.linspace(0, max(total - 1, 0), count).round().astype(int).tolist()))
        pre = Preprocessor(input_size_wh)
        frames: list[np.ndarray] = []
        for item in source.iter_frames():
            if isinstance(item, Frame) and item.index in wanted:
                rgb, _ = pre(item.image_bgr)               # (H, W, 3) uint8
                frames.append(rgb.transpose(2, 0, 1))     # (3, H, W)
            if len(frames) == len(wanted) or (wanted and item.index >= wanted[-1]):
                break
    finally:
        source.close()
    if not frames:
        raise UserInputError(f"no decodable frames in {video}")
    while len(frames) < count:  # short clips: repeat what there is
        frames.append(frames[len(frames) % max(len(wanted), 1)])
    return np.stack(frames[:count])


def batch_of(frames: np.ndarray, batch: int) -> np.ndarray:
    """First ``batch`` frames of ``frames`` (N, 3, H, W), cycling when N < batch."""
    idx = np.arange(batch) % len(frames)
    return np.ascontiguousarray(frames[idx])


def output_errors(ref: dict[str, np.ndarray], got: dict[str, np.ndarray]) -> dict[str, dict[str, float]]:
    """Per output name: {"max_abs": ..., "max_rel": ...} of ``got`` against ``ref`` (same shapes)."""
    errors: dict[str, dict[str, float]] = {}
    for name, r in ref.items():
        g = got[name]
        if g.shape != r.shape:
            raise ValueError(f"output {name}: shape {g.shape} differs from reference {r.shape}")
        r64, g64 = r.astype(np.float64), g.astype(np.float64)
        max_abs = float(np.max(np.abs(g64 - r64))) if r.size else 0.0
        scale = float(np.max(np.abs(r64))) if r.size else 0.0
        errors[name] = {"max_abs": max_abs, "max_rel": max_abs / scale if scale > 0 else max_abs}
    return errors


def worst(errors: dict[str, dict[str, float]]) -> tuple[float, float]:
    """(largest max_abs, largest max_rel) over all outputs."""
    return (max(e["max_abs"] for e in errors.values()), max(e["max_rel"] for e in errors.values()))
