"""Several views of one still and the consensus of their lane lines (test-time augmentation for stills).

The classical finder's answer on a still can change a lot with small changes of the input: a marking falls
just under a threshold, a window follows a seam, the vanishing point moves a little. So a still is seen in
several views: resized to each of ``widths_px`` (the aspect ratio kept) and, with ``mirror``, each of those
also flipped left-right. In every view the whole single-view finder runs with the camera resized (and
mirrored) to match, and its polylines are mapped back to the original pixels (a mirrored view's left lines
are the original's right ones). Per side, the answer is the polyline *nearest all the others* (the medoid:
the smallest sum of median row-wise distances to the other views' polylines of that side). A side is kept when
at least ``min_agree`` views found it. The medoid is one view's own polyline, never an average of several.

The default is four views (widths 512 and 1024 px, each mirrored; two must agree): four single-view runs per
still, within TuSimple's 200 ms per still on 2 CPU cores, where eight views (512-1280 px) were not. How the
views were chosen, with their measurements: docs/history.md, "Lanes".
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import cv2
import numpy as np

from perception.lanes.sides import SIDES
from perception.metrics.lanes import x_at_rows
from perception.results import LaneLine

__all__ = ["ViewsConfig", "View", "views_of", "consensus"]

MIRROR_SIDE = dict(zip(SIDES, reversed(SIDES)))  # left to right becomes right to left


@dataclass(frozen=True)
class ViewsConfig:
    widths_px: tuple[int, ...] = (512, 1024)  # working widths, pixels (any input width)
    mirror: bool = True  # each resized copy also flipped left-right
    min_agree: int = 2  # views that must find a side for it to be kept
    compare_from_frac: float = 0.45  # medoid distances over rows from this share of the height to the bottom
    compare_rows: int = 30  # rows sampled there

    def __post_init__(self) -> None:
        widths = tuple(int(w) for w in self.widths_px)
        if not widths or min(widths) < 64:
            raise ValueError(f"ViewsConfig.widths_px: need at least one width >= 64 px, got {self.widths_px}")
        object.__setattr__(self, "widths_px", widths)
        if not 1 <= self.min_agree <= self.n_views:
            raise ValueError(f"ViewsConfig.min_agree must be within [1, {self.n_views}], got {self.min_agree}")
        if not 0.0 <= self.compare_from_frac < 1.0 or self.compare_rows < 5:
            raise ValueError("ViewsConfig: need 0 <= compare_from_frac < 1 and compare_rows >= 5")

    @property
    def n_views(self) -> int:
        return len(self.widths_px) * (2 if self.mirror else 1)


@dataclass(frozen=True)
class View:
    """One view: the image it shows (BGR, (h, w, 3)), and how its pixels map to the original's."""

    image_bgr: np.ndarray
    scale_xy: tuple[float, float]  # view pixels per original pixel, along u and v
    mirrored: bool
    original_wh: tuple[int, int]

    def to_original(self, points_xy: np.ndarray) -> np.ndarray:
        """(N, 2) view pixels -> original pixels (pixel-centre convention, as ``CameraModel.scaled_to``).

        Points on the view's border (first or last column, last row: where polylines leave the frame) land on
        the original's border exactly, not a fraction of a pixel inside or outside it.
        """
        p = np.asarray(points_xy, np.float64).copy()
        hv, wv = self.image_bgr.shape[:2]
        w, h = self.original_wh
        on_left, on_right, on_bottom = p[:, 0] <= 1e-6, p[:, 0] >= wv - 1 - 1e-6, p[:, 1] >= hv - 1 - 1e-6
        if self.mirrored:
            p[:, 0] = (wv - 1) - p[:, 0]
            on_left, on_right = on_right, on_left
        sx, sy = self.scale_xy
        p[:, 0] = (p[:, 0] + 0.5) / sx - 0.5
        p[:, 1] = (p[:, 1] + 0.5) / sy - 0.5
        p[on_left, 0], p[on_right, 0], p[on_bottom, 1] = 0.0, w - 1.0, h - 1.0
        return p

    def side_in_original(self, side: str) -> str:
        return MIRROR_SIDE.get(side, side) if self.mirrored else side


def views_of(image_bgr: np.ndarray, config: ViewsConfig) -> list[View]:
    """The views of ``config`` of one BGR image (H, W, 3): per width, the resized copy, then its mirror."""
    h, w = image_bgr.shape[:2]
    views = []
    for width in config.widths_px:
        height = max(1, int(round(h * width / w)))
        if (width, height) == (w, h):
            resized = image_bgr
        else:
            interpolation = cv2.INTER_AREA if width < w else cv2.INTER_CUBIC
            resized = cv2.resize(image_bgr, (width, height), interpolation=interpolation)
        for mirrored in ((False, True) if config.mirror else (False,)):
            shown = np.ascontiguousarray(resized[:, ::-1]) if mirrored else resized
            views.append(View(shown, (width / w, height / h), mirrored, (w, h)))
    return views


def consensus(image_bgr: np.ndarray, detect: Callable[[View], list[LaneLine]],
              config: ViewsConfig = ViewsConfig()) -> list[LaneLine]:
    """Lane lines of ``image_bgr`` agreed by the views of ``config`` (module docstring).

    ``detect(view)`` returns the single-view finder's lines in the view's own pixels. The result's points are
    original pixels, bottom to top; lines are listed left to right with ids 0, 1, ...; each keeps the
    confidence of the view it came from.
    """
    found: dict[str, list[LaneLine]] = {}
    for view in views_of(image_bgr, config):
        for line in detect(view):
            side = view.side_in_original(line.side)
            found.setdefault(side, []).append(replace(line, side=side, points_xy=view.to_original(line.points_xy)))
    h = image_bgr.shape[0]
    rows = np.linspace(config.compare_from_frac * (h - 1), h - 1, config.compare_rows)
    order = {side: i for i, side in enumerate(SIDES)}
    out = []
    for side in sorted(found, key=lambda s: order.get(s, len(order))):
        candidates = found[side]
        if len(candidates) < config.min_agree:
            continue
        xs = [x_at_rows(c.points_xy, rows) for c in candidates]
        totals = [sum(_row_distance(a, b) for j, b in enumerate(xs) if j != i) for i, a in enumerate(xs)]
        best = candidates[int(np.argmin(totals))]
        out.append(replace(best, id=len(out)))
    return out


def _row_distance(xa: np.ndarray, xb: np.ndarray, min_common: int = 5) -> float:
    """Median |xa - xb| over the rows both lines cover; a large constant when fewer than ``min_common``."""
    d = np.abs(xa - xb)
    d = d[np.isfinite(d)]
    return float(np.median(d)) if len(d) >= min_common else 1e9
