"""Image-space refinement of lane polylines found in the bird's-eye view (stills).

The BEV fit places a line from its markings on the road, through a camera whose pitch and yaw come from one
vanishing point. Small errors there move the projected polyline most near the bottom of the image, where a
line covers the most image rows. This step looks at the image itself: in every row the line covers, within
``search_frac`` of the image width of the polyline, it takes the strongest narrow bright ridge (a
morphological top-hat of the luma, sub-pixel by a 3-tap centroid), fits a robust linear correction
``du(v) = a + b v`` (raw pixels; v = image row) to the offsets, and shifts the polyline by it. A line keeps its
polyline unchanged when fewer than ``min_rows`` rows have a ridge within ``huber_px`` of the fitted correction
(ridges of noise or clutter scatter) or the correction would move it more than ``max_shift_frac`` of the image
width anywhere.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import cv2
import numpy as np

from perception.results import LaneLine

__all__ = ["RefineConfig", "refine_lines"]


@dataclass(frozen=True)
class RefineConfig:
    search_frac: float = 0.03  # half-width of the search window per row, share of the image width
    tophat_frac: float = 0.04  # top-hat kernel width, share of the image width (wider than any near marking)
    min_response: float = 6.0  # grey levels a ridge must stand out by (also >= noise_k x robust noise)
    noise_k: float = 4.0
    min_rows: int = 8  # rows whose ridge lies within huber_px of the fitted correction, needed to correct a line
    max_shift_frac: float = 0.04  # largest correction anywhere on the line, share of the image width
    huber_px: float = 2.0  # robust fit: residuals beyond this count linearly


def refine_lines(image_bgr: np.ndarray, lines: list[LaneLine], config: RefineConfig = RefineConfig()) -> list[LaneLine]:
    """``lines`` (raw-pixel polylines of ``image_bgr``, (H, W, 3)) shifted onto the ridges they lie near."""
    if not lines:
        return lines
    w = image_bgr.shape[1]
    gray = cv2.cvtColor(image_bgr, cv2.COLOR_BGR2GRAY).astype(np.float32)
    k = max(3, int(round(config.tophat_frac * w)) | 1)
    response = cv2.morphologyEx(gray, cv2.MORPH_TOPHAT, cv2.getStructuringElement(cv2.MORPH_RECT, (k, 1)))
    half = max(2, int(round(config.search_frac * w)))
    out = []
    for line in lines:
        pts = np.asarray(line.points_xy, dtype=np.float64)
        rows, offsets = _ridge_offsets(response, pts, half, config)
        shift = _robust_linear(rows, offsets, config.huber_px) if len(rows) >= config.min_rows else None
        if shift is not None and np.sum(np.abs(offsets - shift[0] - shift[1] * rows) <= config.huber_px) \
                >= config.min_rows:  # enough rows agree on one correction (noise gives scattered offsets)
            du = shift[0] + shift[1] * pts[:, 1]
            if np.max(np.abs(du)) <= config.max_shift_frac * w:
                pts = np.column_stack([pts[:, 0] + du, pts[:, 1]])
                line = replace(line, points_xy=pts)
        out.append(line)
    return out


def _ridge_offsets(response: np.ndarray, pts: np.ndarray, half: int, config: RefineConfig
                   ) -> tuple[np.ndarray, np.ndarray]:
    """(rows, offsets) float[K]: image rows where a ridge lies within ``half`` px of the polyline ``pts`` (N, 2),
    and the ridge's column minus the polyline's."""
    h, w = response.shape
    order = np.argsort(pts[:, 1])
    v_lo, v_hi = max(0, int(np.ceil(pts[:, 1].min()))), min(h - 1, int(np.floor(pts[:, 1].max())))
    if v_hi <= v_lo:
        return np.zeros(0), np.zeros(0)
    vs = np.arange(v_lo, v_hi + 1)
    us = np.interp(vs, pts[order, 1], pts[order, 0])
    inside = (us - half >= 1) & (us + half <= w - 2)
    vs, us = vs[inside], us[inside]
    if len(vs) == 0:
        return np.zeros(0), np.zeros(0)
    cols = np.round(us).astype(np.int64)[:, None] + np.arange(-half, half + 1)[None, :]  # (K, 2 half + 1)
    win = response[vs[:, None], cols]
    med = np.median(win)
    noise = 1.4826 * np.median(np.abs(win - med))
    peak = np.argmax(win, axis=1)
    strength = win[np.arange(len(vs)), peak]
    ok = (strength >= max(config.min_response, med + config.noise_k * noise)) & (peak > 0) & (peak < win.shape[1] - 1)
    idx = np.nonzero(ok)[0]
    left, mid, right = (win[idx, peak[idx] + d] for d in (-1, 0, 1))
    denom = np.maximum(left + mid + right, 1e-6)
    sub = (right - left) / denom  # 3-tap centroid, in (-1, 1)
    ridge_u = cols[idx, peak[idx]] + sub
    return vs[idx].astype(np.float64), ridge_u - us[idx]


def _robust_linear(v: np.ndarray, du: np.ndarray, huber_px: float, iterations: int = 10) -> tuple[float, float]:
    """(a, b) of du ~ a + b v by iteratively reweighted least squares with Huber weights."""
    a_mat = np.column_stack([np.ones_like(v), v])
    wt = np.ones_like(v)
    coef = np.zeros(2)
    for _ in range(iterations):
        sw = np.sqrt(wt)
        coef = np.linalg.lstsq(a_mat * sw[:, None], du * sw, rcond=None)[0]
        r = np.abs(du - a_mat @ coef)
        wt = np.where(r <= huber_px, 1.0, huber_px / np.maximum(r, 1e-9))
    return float(coef[0]), float(coef[1])
