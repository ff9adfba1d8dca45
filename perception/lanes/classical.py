"""Classical lane-line finder: colour + gradient thresholds in the bird's-eye view, histogram peaks, windows.

Per frame, no learning (road frame and BEV: :mod:`perception.lanes.bev`):
1. BEV of two channels of the raw frame: luma, and a "yellowness" channel (Lab b*), blurred a little first
   against aliasing (kernel scaled with the frame width).
2. Marking mask: a lane marking is a narrow stripe brighter than the road on *both* sides. Per BEV row, the
   lateral differences (finite gradients) to the pixels ``ridge_offset_m`` to the left and to the right must
   both exceed a contrast threshold, on luma (white paint) or on yellowness (yellow paint); a white stripe
   must also be lighter than the row's median road luma. Each run of mask pixels in a row becomes one point
   at its centre; runs wider than ``max_marking_width_m`` (cars, shadows) are dropped.
3. Road model: all lines of a road share heading and curvature, y_k(x) = c0_k (1 + fan x) + c1 x + c2 x^2.
   A grid search over (c1, c2, fan) picks the model under which the points' lateral positions c0 form the
   sharpest histogram (sum of squared bins), damped by a Gaussian prior (straight aligned road for stills,
   the previous frame's model in a video).
4. Lines: peaks of that lateral histogram with enough marking length along them.
5. Per line, "sliding windows" along x over the points within ``band_m`` of its model curve: one centroid per
   2 m window; a weighted quadratic through the centroids (:func:`perception.lanes.model.fit_line`, prior at the
   model's line, nearer windows weigh more), one pass of outlier removal.
The thresholds were tuned on the Udacity P1 test images and the 6 LaneNet TuSimple frames, at their own size
and downscaled to 512x288; never on the tusimple_sample_512x288 frames (docs/history.md, "Lanes").
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from perception.lanes.bev import BevGrid, BevProjector
from perception.lanes.model import FitPrior, LineObservation, fit_line

__all__ = ["ClassicalConfig", "ClassicalLaneFinder", "bev_channels", "marking_mask", "mask_from_channels"]


@dataclass(frozen=True)
class ClassicalConfig:
    grid: BevGrid = field(default_factory=BevGrid)  # BEV area and resolution
    blur_px: int = 5  # Gaussian blur kernel before the warp, pixels at 1280 px frame width (scaled); 1 = none
    ridge_offset_m: float = 0.20  # a marking is compared with the road this far to its left and right
    min_luma_contrast: float = 16.0  # grey levels the stripe must exceed both sides by (white paint)
    min_yellow_contrast: float = 8.0  # Lab b* levels above both sides (yellow paint)
    min_luma_over_road: float = 6.0  # the stripe's luma must exceed the road's median luma in its row by this
    noise_k: float = 0.0  # adaptive thresholds: in a BEV row whose ridge response is quiet (faint, low-contrast
    #   frames) the three thresholds above shrink in proportion, to noise_k x the row's robust noise of the luma
    #   ridge, but never below contrast_floor_frac of their values; 0 = fixed thresholds
    contrast_floor_frac: float = 0.25
    max_marking_width_m: float = 0.45  # wider runs of mask pixels in a BEV row are not paint (cars, shadows)
    max_pixels: int = 6000  # marking pixels used for the road-model search (evenly thinned beyond this)
    coarse_max_pixels: int = 1000  # ... of them for the whole-grid step (its best is then refined on all of them)
    near_weight_m: float = 20.0  # pixels beyond this distance count less (weight near_weight_m / x): clutter
    near_power: float = 1.0  # per-line fit: windows beyond near_weight_m weigh (near_weight_m / x) ** near_power
    search_max_x_m: float = 35.0  # the road-model search uses marking pixels up to this distance only
    search_prior: tuple[float, float, float] = (0.02, 0.001, 0.008)  # std of heading, half curvature, fan:
    #   the search score is damped by this Gaussian around a straight aligned road (single images) or around
    #   the previous frame's model (video), so clutter must beat the expected road
    heading_range: tuple[float, float, float] = (-0.04, 0.04, 0.005)  # search grid (min, max, step) of c1, rad
    half_curv_range: tuple[float, float, float] = (-0.002, 0.002, 0.00025)  # ... of c2, 1/m (R >= 250 m)
    fan_range: tuple[float, float, float] = (-0.015, 0.015, 0.0025)  # ... of the fan, 1/m (about +-1.3 deg pitch)
    hist_bin_m: float = 0.05  # lateral histogram bin, metres
    hist_smooth_m: float = 0.08  # Gaussian sigma of the histogram smoothing, metres
    peak_min_sep_m: float = 1.6  # two lines are at least this far apart sideways
    peak_min_marking_m: float = 3.0  # a line needs this much forward length (metres) with marking on it
    band_m: float = 0.35  # marking pixels within this distance of a model line belong to it
    window_len_m: float = 2.0  # forward length of one window of the per-line fit
    window_min_px: int = 1  # marking pixels that make a window "hit"
    min_hits: int = 3  # windows with marking needed for a line
    min_span_m: float = 4.0  # forward span between the first and last hit window
    max_outlier_m: float = 0.25  # window centroids further than this from the first fit are dropped
    max_lines: int = 6  # keep at most this many lines (most marking first)
    line_prior: FitPrior = field(default_factory=lambda: FitPrior(c1_std=0.03, c2_std=0.001))  # around the model


def bev_channels(projector: BevProjector, image_bgr: np.ndarray, blur_px: int) -> tuple[np.ndarray, np.ndarray]:
    """(luma, yellowness) BEV images float32 (h, w) of a raw BGR frame (the warp: the costly part of a mask)."""
    cam = projector.camera
    if image_bgr.shape[:2] != (cam.height_px, cam.width_px):
        raise ValueError(f"frame is {image_bgr.shape[1]}x{image_bgr.shape[0]}, camera is "
                         f"{cam.width_px}x{cam.height_px}")
    k = int(round(blur_px * image_bgr.shape[1] / 1280.0)) | 1  # kernel scales with the frame width, odd
    # Only the window the warp reads, plus the blur's reach: the same BEV as blurring the whole frame.
    x0, y0, x1, y1 = projector.source_window_px(margin_px=k // 2 + 1)
    img = image_bgr[y0:y1, x0:x1]
    img = cv2.GaussianBlur(img, (k, k), 0) if k > 1 else img
    lab = cv2.cvtColor(img, cv2.COLOR_BGR2LAB)  # uint8: L 0..255, b* offset by 128
    luma = projector.warp_window(np.ascontiguousarray(lab[..., 0]), (x0, y0)).astype(np.float32)
    yellow = projector.warp_window(np.ascontiguousarray(lab[..., 2]), (x0, y0)).astype(np.float32)
    return luma, yellow


def _ridge(channel: np.ndarray, offset_px: int) -> np.ndarray:
    """min(c - c[left], c - c[right]) per pixel, float32 (h, w): > 0 where brighter than both sides."""
    left = np.empty_like(channel)
    right = np.empty_like(channel)
    left[:, offset_px:] = channel[:, :-offset_px]
    left[:, :offset_px] = np.inf
    right[:, :-offset_px] = channel[:, offset_px:]
    right[:, -offset_px:] = np.inf
    return np.minimum(channel - left, channel - right)


def marking_mask(projector: BevProjector, image_bgr: np.ndarray, config: ClassicalConfig) -> np.ndarray:
    """uint8 (h, w) BEV mask, 1 where lane paint is likely (see the module docstring, step 2)."""
    return mask_from_channels(projector, *bev_channels(projector, image_bgr, config.blur_px), config)


def mask_from_channels(projector: BevProjector, luma: np.ndarray, yellow: np.ndarray,
                       config: ClassicalConfig) -> np.ndarray:
    """:func:`marking_mask` from the BEV channels of :func:`bev_channels` (so two thresholds share one warp)."""
    offset = max(1, int(round(config.ridge_offset_m * projector.grid.y_px_per_m)))
    valid = cv2.erode(projector.valid.astype(np.uint8), np.ones((1, 2 * offset + 1), np.uint8)) > 0
    road_luma = np.full((luma.shape[0], 1), 255.0, np.float32)  # (h, 1) typical road luma per row
    seen = projector.valid_rows
    if seen.any():
        road_luma[seen, 0] = _row_medians_u8(luma, projector)[seen]
    ridge_luma, ridge_yellow = _ridge(luma, offset), _ridge(yellow, offset)
    scale = np.ones((luma.shape[0], 1), np.float32)  # (h, 1) threshold factor per row
    if config.noise_k > 0:
        noise = _row_noise(ridge_luma, valid)
        scale = np.clip(config.noise_k * noise / config.min_luma_contrast, config.contrast_floor_frac, 1.0)
    light = luma > road_luma + config.min_luma_over_road * scale
    white = (ridge_luma > config.min_luma_contrast * scale) & light
    yellowish = ((ridge_yellow > config.min_yellow_contrast * scale)
                 & (yellow > 128 + config.min_yellow_contrast * scale))
    return ((white | yellowish) & valid).astype(np.uint8)


def _row_medians_u8(values: np.ndarray, projector: BevProjector) -> np.ndarray:
    """(h,) float32 median of each BEV row of ``values`` (h, w), integers 0..255, over the row's pixels the camera
    sees (``projector.valid``; nan in rows without any): exactly ``np.nanmedian`` of those pixels, by counting
    instead of sorting (the mean of the two middle values when a row has an even count)."""
    h = values.shape[0]
    bins = projector.valid_flat_row * 256 + values.ravel()[projector.valid_flat_index].astype(np.int64)  # (N,)
    counts = np.bincount(bins, minlength=h * 256).reshape(h, 256)
    cum = np.cumsum(counts, axis=1)  # (h, 256)
    n = cum[:, -1:]  # (h, 1)
    lower = (cum < (n + 1) // 2).sum(axis=1)  # the ceil(n/2)-th smallest value
    upper = (cum < n // 2 + 1).sum(axis=1)  # the (n/2 + 1)-th smallest (equal to lower when n is odd)
    medians = ((lower + upper) / 2.0).astype(np.float32)
    medians[n[:, 0] == 0] = np.nan
    return medians


def _row_noise(response: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """(h, 1) float32 robust spread of ``response`` (h, w) per row: 1.4826 x the median absolute deviation over the
    row's ``valid`` pixels (the standard deviation for Gaussian noise, unmoved by the few marking pixels);
    +inf in rows without valid pixels."""
    use = valid & np.isfinite(response)
    rows = use.any(axis=1)  # (h,) rows with something to measure
    out = np.full((response.shape[0], 1), np.inf, np.float32)
    if rows.any():
        use_rows = use[rows]
        r = np.where(use_rows, response[rows], np.nan)
        n = use_rows.sum(axis=1)  # (m,) >= 1
        med = _nanmedian_rows(r, n)
        out[rows] = 1.4826 * _nanmedian_rows(np.abs(r - med), n)
    return out


def _nanmedian_rows(values: np.ndarray, n: np.ndarray) -> np.ndarray:
    """(m, 1) median of each row of ``values`` (m, w) over its ``n`` (m,) finite entries (NaN elsewhere): the
    same numbers as ``np.nanmedian(values, axis=1, keepdims=True)`` (NaN sorts last; the two middle values'
    mean when n is even), without its masked-array path (about 2 ms a call on a still's BEV)."""
    ordered = np.sort(values, axis=1)
    index = np.arange(len(values))
    return ((ordered[index, (n - 1) // 2] + ordered[index, n // 2]) / 2)[:, None]


@dataclass(frozen=True)
class RoadModel:
    """All lines of a lane share heading and curvature: y_k(x) = c0_k (1 + fan x) + heading x + half_curv x^2.

    ``fan`` (1/m) absorbs a wrong pitch or a slope change of the road: lines that should be parallel spread
    out (fan > 0) or close in (fan < 0) linearly with distance in a BEV made with a slightly wrong pitch.
    """

    heading: float  # c1, rad
    half_curv: float  # c2, 1/m
    fan: float  # 1/m
    score: float  # sharpness of the lateral histogram (sum of squares of its smoothed bins)

    def lateral(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """c0 each road point (x, y) would have under this model (metres)."""
        return (y - self.heading * x - self.half_curv * x * x) / (1.0 + self.fan * x)

    def line_coef(self, c0: float) -> np.ndarray:
        """(c0, c1, c2) of the line at lateral position c0 (exact: the model is quadratic in x)."""
        return np.array([c0, self.heading + self.fan * c0, self.half_curv])


def _run_centres(mask: np.ndarray, max_width_px: int) -> tuple[np.ndarray, np.ndarray]:
    """(rows, cols) float64 of the centre of each horizontal run of mask pixels at most ``max_width_px`` wide.

    One point per marking per BEV row, so a line is scored by its forward length, not by its width, and wide
    blobs (cars, shadows) drop out.
    """
    padded = np.zeros((mask.shape[0], mask.shape[1] + 2), np.int8)
    padded[:, 1:-1] = mask > 0
    d = np.diff(padded, axis=1)  # (h, w + 1): +1 where a run starts, -1 one past where it ends
    r0, c0 = np.nonzero(d == 1)
    r1, c1 = np.nonzero(d == -1)  # same order as the starts: row-major, runs do not overlap
    width = c1 - c0
    keep = width <= max_width_px
    return r0[keep].astype(np.float64), (c0[keep] + c1[keep] - 1) / 2.0


def _grid(r: tuple[float, float, float]) -> np.ndarray:
    lo, hi, step = r
    return np.linspace(lo, hi, int(round((hi - lo) / step)) + 1)


class ClassicalLaneFinder:
    """Finds lane lines in raw frames of one camera; returns them in the road frame.

    Args:
        projector: camera (with mounting) + BEV grid.
        config: thresholds and search ranges (the projector's grid is used, not ``config.grid``).
    """

    def __init__(self, projector: BevProjector, config: ClassicalConfig = ClassicalConfig()):
        self.projector = projector
        self.config = config
        self.grid = projector.grid
        self.last_model: RoadModel | None = None  # the road model of the last frame (for inspection)
        self.last_luma: np.ndarray | None = None  # float32 (h, w) BEV luma of the last frame (blurred as the mask's)

    def __call__(self, image_bgr: np.ndarray, prior_model: RoadModel | None = None, *,
                 local: bool = False) -> list[LineObservation]:
        """Lane lines in one raw BGR frame (H, W, 3) uint8, ordered left to right.

        ``prior_model``: centre of the search prior (e.g. the previous frame's model in a video); default a
        straight road aligned with the camera. ``local`` (with a prior): search only the fine grid around the
        prior instead of the whole grid (video, between full searches: about 25 times less work).
        """
        luma, yellow = bev_channels(self.projector, image_bgr, self.config.blur_px)
        self.last_luma = luma
        return self.lines_from_mask(mask_from_channels(self.projector, luma, yellow, self.config), prior_model,
                                    local=local)

    def lines_from_mask(self, mask: np.ndarray, prior_model: RoadModel | None = None, *,
                        local: bool = False) -> list[LineObservation]:
        """Line observations from a BEV marking mask (h, w) (steps 3-5 of the module docstring)."""
        rows, cols = _run_centres(mask, int(round(self.config.max_marking_width_m * self.grid.y_px_per_m)))
        self.last_model = None
        if len(rows) < self.config.window_min_px * self.config.min_hits:
            return []
        x, y = self.grid.x_of_row(rows), self.grid.y_of_col(cols)  # (N,) road metres
        model = self._search(x, y, prior_model, local=local)
        self.last_model = model
        lines = []
        for c0 in self._peaks(model, x, y):
            line = self._fit(model, c0, x, y)
            if line is not None:
                lines.append(line)
        lines.sort(key=lambda ln: -(ln.x_far_m - ln.x_near_m) * ln.support)
        return sorted(lines[: self.config.max_lines], key=lambda ln: -float(ln.coef[0]))

    # ------------------------------------------------------------------------------------------------------
    def _histogram(self, lateral: np.ndarray, weights: np.ndarray) -> np.ndarray:
        """Smoothed weighted histograms of lateral positions: lateral (M, N) -> (M, n_bins) over the y range."""
        cfg = self.config
        y0, y1 = self.grid.y_range_m
        n_bins = int(round((y1 - y0) / cfg.hist_bin_m))
        m = lateral.shape[0]
        idx = np.floor((lateral - y0) / cfg.hist_bin_m)  # (M, N) bin of each pixel under each hypothesis
        # Pixels outside the range land in two spill bins per row (-1 and n_bins), dropped after counting: the
        # same sums as selecting the pixels inside first, without copying them out.
        np.clip(idx, -1, n_bins, out=idx)
        idx += (np.arange(m) * (n_bins + 2) + 1)[:, None]
        counts = np.bincount(idx.astype(np.int64).ravel(), weights=np.broadcast_to(weights, lateral.shape).ravel(),
                             minlength=m * (n_bins + 2)).reshape(m, n_bins + 2)
        hist = np.ascontiguousarray(counts[:, 1:-1], dtype=np.float32)
        sigma = cfg.hist_smooth_m / cfg.hist_bin_m
        radius = int(np.ceil(3 * sigma))
        kernel = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma) ** 2).astype(np.float32)
        return cv2.sepFilter2D(hist, -1, kernel, np.ones(1, np.float32), borderType=cv2.BORDER_CONSTANT)

    def _search(self, x: np.ndarray, y: np.ndarray, prior: RoadModel | None, *, local: bool = False) -> RoadModel:
        """The road model whose lateral histogram of the marking pixels is sharpest (coarse grid, then fine; with
        ``local`` and a prior, the fine grid around the prior only)."""
        cfg = self.config
        if len(x) > cfg.max_pixels:  # thin evenly: keeps the spatial spread, bounds the cost
            keep = np.linspace(0, len(x) - 1, cfg.max_pixels).astype(np.int64)
            x, y = x[keep], y[keep]
        near = x <= cfg.search_max_x_m
        x, y = x[near], y[near]
        w = np.minimum(1.0, cfg.near_weight_m / np.maximum(x, 1e-3))  # (N,)
        headings, curvs, fans = _grid(cfg.heading_range), _grid(cfg.half_curv_range), _grid(cfg.fan_range)
        centre = (0.0, 0.0, 0.0) if prior is None else (prior.heading, prior.half_curv, prior.fan)
        steps = (cfg.heading_range[2], cfg.half_curv_range[2], cfg.fan_range[2])
        fine = [np.array([-0.5, -0.25, 0.0, 0.25, 0.5]) * s for s in steps]
        if local and prior is not None:
            best = prior
        else:  # the whole grid on an even thinning of the pixels (the refinement below uses them all)
            keep = np.linspace(0, len(x) - 1, min(len(x), cfg.coarse_max_pixels)).astype(np.int64)
            best = self._best_of(x[keep], y[keep], w[keep], headings, curvs, fans, centre)
        # Refine once on a grid of half steps around the best coarse hypothesis (or the prior).
        return self._best_of(x, y, w, best.heading + fine[0], best.half_curv + fine[1], best.fan + fine[2], centre)

    def _best_of(self, x, y, w, headings, curvs, fans, centre) -> RoadModel:
        """Best (heading, half_curv, fan) on the given grids; x, y, w float[N] (road metres, weights);
        ``centre`` (heading, half_curv, fan) is the centre of the search prior."""
        s_h, s_c, s_f = self.config.search_prior
        hh, cc = np.meshgrid(headings, curvs, indexing="ij")  # (H, C) each
        hh, cc = hh.ravel(), cc.ravel()  # (M,) hypotheses for one fan value
        shift = hh[:, None] * x[None, :] + cc[:, None] * (x * x)[None, :]  # (M, N)
        best = RoadModel(0.0, 0.0, 0.0, -1.0)
        for fan in fans:
            lateral = (y[None, :] - shift) / (1.0 + fan * x)[None, :]  # (M, N)
            hist = self._histogram(lateral, w)  # (M, bins)
            damp = np.exp(-0.5 * (((hh - centre[0]) / s_h) ** 2 + ((cc - centre[1]) / s_c) ** 2
                                  + ((fan - centre[2]) / s_f) ** 2))  # (M,)
            scores = np.einsum("mb,mb->m", hist, hist) * damp  # (M,) sharpness, damped by the prior
            k = int(np.argmax(scores))
            if scores[k] > best.score:
                best = RoadModel(float(hh[k]), float(cc[k]), float(fan), float(scores[k]))
        return best

    def _peaks(self, model: RoadModel, x: np.ndarray, y: np.ndarray) -> list[float]:
        """Lateral positions c0 (metres) of the lines under ``model``: histogram peaks with enough marking."""
        cfg, grid = self.config, self.grid
        lateral = model.lateral(x, y)
        hist = self._histogram(lateral[None], np.ones_like(x))[0]  # (bins,)
        sep = int(round(cfg.peak_min_sep_m / cfg.hist_bin_m))
        # candidates, highest first: positive bins at least as high as both neighbours (local maxima)
        padded = np.concatenate([[-np.inf], hist, [-np.inf]])
        peak = (hist > 0) & (hist >= padded[:-2]) & (hist >= padded[2:])
        order = np.argsort(-hist)
        found: list[int] = []
        for b in order[peak[order]]:
            if any(abs(int(b) - f) < sep for f in found):
                continue
            c0 = grid.y_range_m[0] + (b + 0.5) * cfg.hist_bin_m
            near = np.abs(lateral - c0) < cfg.band_m
            marking_m = len(np.unique(x[near])) / grid.x_px_per_m  # forward length with paint on it
            if marking_m >= cfg.peak_min_marking_m:
                found.append(int(b))
        return [grid.y_range_m[0] + (b + 0.5) * cfg.hist_bin_m for b in found]

    def _fit(self, model: RoadModel, c0: float, x: np.ndarray, y: np.ndarray) -> LineObservation | None:
        """One line near ``model``'s line at ``c0``: window centroids of its band, then a quadratic fit."""
        cfg = self.config
        near = np.abs(model.lateral(x, y) - c0) < cfg.band_m
        xb, yb = x[near], y[near]
        if len(xb) == 0:
            return None
        x0 = self.grid.x_range_m[0]
        win = np.floor((xb - x0) / cfg.window_len_m).astype(np.int64)  # window index per pixel
        counts = np.bincount(win)
        hit = np.nonzero(counts >= cfg.window_min_px)[0]
        if len(hit) < cfg.min_hits:
            return None
        xs = np.bincount(win, weights=xb)[hit] / counts[hit]  # (K,) centroid per window, metres
        ys = np.bincount(win, weights=yb)[hit] / counts[hit]
        # Nearer windows weigh more: they hold most image rows (rows ~ 1/x) and decide the offset at x = 0.
        wt = np.sqrt(counts[hit].astype(np.float64)) * np.minimum(1.0, cfg.near_weight_m / xs) ** cfg.near_power
        if xs[-1] - xs[0] < cfg.min_span_m:
            return None
        prior_mean = model.line_coef(c0)
        coef, cov = fit_line(xs, ys, wt, cfg.line_prior, prior_mean)
        keep = np.abs(ys - (coef[0] + coef[1] * xs + coef[2] * xs * xs)) <= cfg.max_outlier_m
        if keep.sum() < cfg.min_hits:
            return None
        if not keep.all():
            xs, ys, wt = xs[keep], ys[keep], wt[keep]
            coef, cov = fit_line(xs, ys, wt, cfg.line_prior, prior_mean)
        windows_in_span = (xs[-1] - xs[0]) / cfg.window_len_m + 1
        support = float(min(1.0, len(xs) / windows_in_span))
        return LineObservation(coef=coef, cov=cov, x_near_m=float(xs[0]), x_far_m=float(xs[-1]), support=support)
