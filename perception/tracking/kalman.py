"""Constant-velocity Kalman filter on image boxes, state (cx, cy, a, h, vcx, vcy, va, vh).

cx, cy: box centre (original pixels); a: width / height; h: height (pixels); v*: their change per frame.
Noise scales with the box height, so near (large) and far (small) objects are filtered alike.
"""

from __future__ import annotations

import numpy as np

_STD_POSITION = 1.0 / 20   # position noise per pixel of box height
_STD_VELOCITY = 1.0 / 160  # velocity noise per pixel of box height


def xyah_from_xyxy(box: np.ndarray) -> np.ndarray:
    """(x1, y1, x2, y2) -> (cx, cy, w / h, h)."""
    x1, y1, x2, y2 = (float(v) for v in box)
    w, h = max(x2 - x1, 1e-3), max(y2 - y1, 1e-3)
    return np.array([x1 + w / 2, y1 + h / 2, w / h, h])


def xyxy_from_xyah(state: np.ndarray) -> np.ndarray:
    """(cx, cy, a, h, ...) -> (x1, y1, x2, y2)."""
    cx, cy, a, h = state[:4]
    w = a * h
    return np.array([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2])


class BoxKalman:
    """One box's filter: ``predict()`` once per frame, ``update(xyah)`` when a detection is matched."""

    F = np.eye(8) + np.eye(8, k=4)  # x_{t+1} = x_t + v_t
    H = np.eye(4, 8)

    def __init__(self, xyah: np.ndarray) -> None:
        h = xyah[3]
        self.mean = np.r_[xyah, np.zeros(4)]
        std = np.array([2 * _STD_POSITION * h, 2 * _STD_POSITION * h, 1e-2, 2 * _STD_POSITION * h,
                        10 * _STD_VELOCITY * h, 10 * _STD_VELOCITY * h, 1e-5, 10 * _STD_VELOCITY * h])
        self.cov = np.diag(std ** 2)

    def predict(self) -> None:
        h = self.mean[3]
        q = np.array([_STD_POSITION * h, _STD_POSITION * h, 1e-2, _STD_POSITION * h,
                      _STD_VELOCITY * h, _STD_VELOCITY * h, 1e-5, _STD_VELOCITY * h])
        self.mean = self.F @ self.mean
        self.cov = self.F @ self.cov @ self.F.T + np.diag(q ** 2)
        self.mean[3] = max(self.mean[3], 1.0)

    def update(self, xyah: np.ndarray) -> None:
        h = self.mean[3]
        r = np.array([_STD_POSITION * h, _STD_POSITION * h, 1e-1, _STD_POSITION * h])
        s = self.H @ self.cov @ self.H.T + np.diag(r ** 2)   # (4, 4) innovation covariance
        gain = np.linalg.solve(s, self.H @ self.cov).T        # (8, 4)
        self.mean = self.mean + gain @ (xyah - self.H @ self.mean)
        self.cov = self.cov - gain @ s @ gain.T

    @property
    def box_xyxy(self) -> np.ndarray:
        return xyxy_from_xyah(self.mean)
