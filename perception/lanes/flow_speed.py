"""Ego speed from the motion of dashed lane markings in the bird's-eye view (for videos without a speed topic).

Per tracked line and frame, the BEV luma along the line (one value per BEV row, the brightest within
``band_m`` sideways of the tracked polynomial) is a profile over road x. A painted dash seen at x in one frame is
at x - v * dt in the next, so the current profile is the previous one shifted by ``k = v * dt * x_px_per_m`` rows
towards the car; the shift that best correlates the two (with a sub-row parabola) gives ``v``. Only dashed lines
count (a solid line or bare road has no feature to follow: the profile's darkest decile must be well below its
brightest), and only shifts that correlate at ``min_correlation`` or more.

The estimates of the last ``window_s`` seconds are pooled: the speed is their median, reported with its standard
error (1.253 sigma / sqrt(n), sigma from the p10-p90 range as for a normal spread) once that error is small.
The metres come from the lane stage's camera and mounting, so with the default mounting (no camera file) the
speed carries the mounting's scale error (``docs/history.md``).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np

from perception.lanes.bev import BevProjector

__all__ = ["FlowSpeedConfig", "LaneFlowSpeed"]


@dataclass(frozen=True)
class FlowSpeedConfig:
    band_m: float = 0.15  # a row's value is the brightest BEV luma within this distance sideways of the line
    min_profile_rows: int = 40  # a line needs this many BEV rows (0.25 m each) inside the camera's view
    min_dash_contrast: float = 0.35  # dashed: the profile's 10th percentile below (1 - this) x its 90th
    paint_share: tuple[float, float] = (0.1, 0.7)  # dashed: share of rows brighter than mid-way (paint on part)
    min_overlap_rows: int = 40  # rows both profiles must share at a tried shift
    min_correlation: float = 0.9  # a shift counts only when the profiles correlate at least this well
    max_speed_mps: float = 60.0  # the largest shift tried (x dt)
    max_dt_s: float = 0.2  # frames further apart give no estimate (dropped frames, a gap in a log)
    window_s: float = 2.0  # estimates of this many seconds are pooled
    min_estimates: int = 5  # a speed is reported once the window holds this many
    max_error_frac: float = 0.05  # ... and the median's standard error is at most this share of it
    min_error_limit_mps: float = 0.5  # (or at most this, near standstill)


class LaneFlowSpeed:
    """Call once per frame with the BEV luma and the tracked lines; returns the pooled estimate or None.

    Args:
        projector: the lane stage's BEV projector (grid and the camera's valid area).
    """

    def __init__(self, projector: BevProjector, config: FlowSpeedConfig = FlowSpeedConfig()):
        self.projector = projector
        self.config = config
        grid = projector.grid
        self._rows = np.arange(projector.valid.shape[0])
        self._x_m = grid.x_of_row(self._rows)  # (h,) road x of each BEV row
        half = max(1, int(round(config.band_m * grid.y_px_per_m)))
        self._offsets = np.arange(-half, half + 1)
        self._x2_m = self._x_m ** 2
        self._row_grid = np.broadcast_to(self._rows[:, None], (len(self._rows), len(self._offsets)))  # (h, band)
        self._previous: dict[int, tuple[np.ndarray, bool]] = {}  # track id -> (last profile, dashed)
        self._t_previous: float | None = None
        self._estimates: deque[tuple[float, float]] = deque()  # (t_s, speed m/s)

    def reset(self) -> None:
        """Forget earlier frames (unrelated stills follow)."""
        self._previous, self._t_previous = {}, None
        self._estimates.clear()

    def profile(self, luma: np.ndarray, coef: np.ndarray) -> np.ndarray:
        """float32 (h,) luma along the line y = c0 + c1 x + c2 x^2 per BEV row; nan where unseen."""
        grid = self.projector.grid
        ys = coef[0] + coef[1] * self._x_m + coef[2] * self._x2_m
        cols = np.rint(grid.col_of_y(ys)).astype(np.int64)[:, None] + self._offsets[None, :]  # (h, band)
        w = luma.shape[1]
        inside = (cols >= 0) & (cols < w)
        cols_c = np.clip(cols, 0, w - 1)
        rows = self._row_grid
        ok = inside & self.projector.valid[rows, cols_c]
        values = np.where(ok, luma[rows, cols_c], -np.inf).max(axis=1).astype(np.float32)
        values[~ok.all(axis=1)] = np.nan  # a row whose band leaves the view is not compared
        return values

    def is_dashed(self, profile: np.ndarray) -> bool:
        cfg = self.config
        v = np.sort(profile[np.isfinite(profile)])
        if len(v) < cfg.min_profile_rows:
            return False
        lo, hi = v[int(0.1 * (len(v) - 1))], v[int(0.9 * (len(v) - 1))]  # 10th and 90th percentiles (lower)
        if hi <= 0 or hi - lo < cfg.min_dash_contrast * hi:
            return False
        paint = float(np.mean(v > 0.5 * (lo + hi)))
        return cfg.paint_share[0] <= paint <= cfg.paint_share[1]

    def shift_rows(self, previous: np.ndarray, current: np.ndarray, max_rows: int) -> tuple[float, float]:
        """(shift in rows towards the car, its correlation) that maps ``previous`` onto ``current``."""
        n = len(current)
        source = np.arange(n)[None, :] - np.arange(max_rows + 1)[:, None]  # (K+1, n): current[r] ~ previous[r - k]
        b = np.where(source >= 0, previous[np.clip(source, 0, None)], np.nan)
        a = np.broadcast_to(current[None, :], b.shape)
        m = np.isfinite(a) & np.isfinite(b)
        count = m.sum(axis=1)
        safe = np.maximum(count, 1)
        a0, b0 = np.where(m, a, 0.0), np.where(m, b, 0.0)
        aa = np.where(m, a0 - (a0.sum(axis=1) / safe)[:, None], 0.0)
        bb = np.where(m, b0 - (b0.sum(axis=1) / safe)[:, None], 0.0)
        den = np.sqrt((aa * aa).sum(axis=1) * (bb * bb).sum(axis=1))
        ok = (count >= self.config.min_overlap_rows) & (den > 0)
        scores = np.where(ok, (aa * bb).sum(axis=1) / np.where(ok, den, 1.0), -1.0)
        k = int(np.argmax(scores))
        best = float(scores[k])
        if 0 < k < max_rows and scores[k - 1] > -1 and scores[k + 1] > -1:
            y0, y1, y2 = scores[k - 1], scores[k], scores[k + 1]
            den = y0 - 2 * y1 + y2
            if den < 0:
                return k + 0.5 * (y0 - y2) / den, best
        return float(k), best

    def __call__(self, luma: np.ndarray, tracks: list[tuple[int, np.ndarray]], t_s: float) -> dict | None:
        """``luma`` float32 (h, w) BEV of this frame; ``tracks`` (track id, (c0, c1, c2)) of the lines reported.

        Returns ``{"speed_mps", "error_mps", "estimates"}`` (pooled over the window) or None while the window
        holds too few estimates, or too spread ones, to trust."""
        cfg = self.config
        dt = None if self._t_previous is None else t_s - self._t_previous
        usable = dt is not None and 0 < dt <= cfg.max_dt_s
        ppm = self.projector.grid.x_px_per_m
        profiles = {}
        for track_id, coef in tracks:
            current = self.profile(luma, np.asarray(coef, np.float64))
            dashed = self.is_dashed(current)
            profiles[track_id] = current, dashed
            previous, was_dashed = self._previous.get(track_id, (None, False))
            if not (usable and dashed and was_dashed):
                continue
            rows, corr = self.shift_rows(previous, current, int(np.ceil(cfg.max_speed_mps * dt * ppm)))
            if corr >= cfg.min_correlation:
                self._estimates.append((t_s, rows / ppm / dt))
        self._previous, self._t_previous = profiles, t_s
        while self._estimates and self._estimates[0][0] < t_s - cfg.window_s:
            self._estimates.popleft()
        if len(self._estimates) < cfg.min_estimates:
            return None
        speeds = np.sort([s for _, s in self._estimates])
        n = len(speeds)
        median = float(0.5 * (speeds[(n - 1) // 2] + speeds[n // 2]))
        lo, hi = speeds[int(0.1 * (n - 1))], speeds[int(0.9 * (n - 1))]  # 10th and 90th percentiles (lower)
        error = 1.253 * float(hi - lo) / 2.563 / np.sqrt(n)  # standard error of the median
        if error > max(cfg.max_error_frac * median, cfg.min_error_limit_mps):
            return None
        return {"speed_mps": median, "error_mps": error, "estimates": n}
