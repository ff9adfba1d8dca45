"""Synthetic drives with known lane geometry: curved roads, lateral drift and lane changes, for tests and benchmarks.

The world (road frame of the car at each frame: x forward, y left, metres; conventions in
``calibration/__init__.py``): a flat road whose lane lines are parallel curves. Line k sits at road-fixed
lateral position ``Y_k = (k + 1/2) * lane_width_m`` (k = -2 .. 1 by default: four lines, three lanes, the car
starting in the middle one); the car is at lateral position ``p`` (left positive) and points along the road,
so in the car's frame line k is ``y = Y_k - p + curvature/2 * x^2``. Outer lines are solid, inner ones dashed.
Markings are filled road-plane polygons projected with :func:`calibration.ground.pixel_from_road`
(pinhole, no distortion), then blurred and noised a little.

Truth per frame: the lane the car is in is the one whose lines bracket ``p``; ``lane_offset_m`` is the car's
position relative to that lane's centre (+ = right), ``curvature_1pm`` the road's curvature (+ = left), and
``lane_change`` "left"/"right" on the frame where ``p`` crosses a line.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import cv2
import numpy as np

from calibration import CameraModel, horizon_line, pixel_from_road

__all__ = ["SyntheticRoad", "SyntheticFrame", "render_road", "drive", "fade"]

_SHIFT = 4  # fillPoly fixed-point bits (1/16 px)


@dataclass(frozen=True)
class SyntheticRoad:
    lane_width_m: float = 3.6  # distance between line centres
    line_width_m: float = 0.15  # painted width
    line_indices: tuple[int, ...] = (-2, -1, 0, 1)  # line k at (k + 1/2) * lane_width_m
    x_near_m: float = 1.0  # markings start here (behind the bottom of the image)
    x_far_m: float = 90.0
    dash_length_m: float = 3.0
    dash_period_m: float = 12.0
    noise_std: float = 5.0  # Gaussian pixel noise, grey levels
    blur_px: int = 3  # box blur (odd), 1 = none

    def line_y0(self) -> np.ndarray:
        """Road-fixed lateral positions Y_k of the lines, metres (left positive), ascending k."""
        return (np.asarray(self.line_indices, np.float64) + 0.5) * self.lane_width_m


@dataclass(frozen=True)
class SyntheticFrame:
    index: int
    timestamp_s: float
    image_bgr: np.ndarray  # (H, W, 3) uint8
    car_y_m: float  # the car's road-fixed lateral position p, metres (left positive)
    lane_offset_m: float  # truth, + = right of the lane centre
    curvature_1pm: float  # truth, + = bending left
    lane_change: str | None  # truth event on this frame


def _fill(image: np.ndarray, camera: CameraModel, left_xy: np.ndarray, right_xy: np.ndarray, colour) -> None:
    """Fill the road-plane polygon between two edges float[N, 2] (metres, both ordered near to far)."""
    poly = np.concatenate([left_xy, right_xy[::-1]])  # (2N, 2)
    uv = pixel_from_road(camera, poly)
    if not np.all(np.isfinite(uv)):
        return
    pts = np.round(uv * (1 << _SHIFT)).astype(np.int64)
    if np.abs(pts).max() > 2 ** 30:
        return
    cv2.fillPoly(image, [pts.astype(np.int32)], colour, lineType=cv2.LINE_AA, shift=_SHIFT)


def render_road(camera: CameraModel, road: SyntheticRoad = SyntheticRoad(), *, car_y_m: float = 0.0,
                curvature_1pm: float = 0.0, travelled_m: float = 0.0, seed: int = 0) -> np.ndarray:
    """BGR image (H, W, 3) uint8 of ``road`` seen by ``camera`` (needs its mounting; distortion is ignored)."""
    h, w = camera.height_px, camera.width_px
    image = np.full((h, w, 3), (170, 150, 130), np.uint8)  # sky
    a, b, c = horizon_line(camera)
    vv, uu = np.mgrid[0:h, 0:w]
    image[a * uu + b * vv + c > 0] = (95, 95, 95)  # road below the horizon
    half = road.line_width_m / 2
    white = (235, 235, 235)
    inner = set(road.line_indices[1:-1])
    for k, y0 in zip(road.line_indices, road.line_y0()):
        if k in inner:
            start = road.x_near_m - (travelled_m % road.dash_period_m)
            pieces = [(max(s, road.x_near_m), min(s + road.dash_length_m, road.x_far_m))
                      for s in np.arange(start, road.x_far_m, road.dash_period_m)]
        else:
            pieces = [(road.x_near_m, road.x_far_m)]
        for x0, x1 in pieces:
            if x1 <= x0:
                continue
            n = max(2, int(math.ceil((x1 - x0) / 0.5)) + 1)
            x = np.geomspace(x0, x1, n)  # denser near the car, where the image is larger
            y = y0 - car_y_m + 0.5 * curvature_1pm * x * x
            _fill(image, camera, np.column_stack([x, y + half]), np.column_stack([x, y - half]), white)
    if road.blur_px > 1:
        image = cv2.blur(image, (road.blur_px, road.blur_px))
    if road.noise_std > 0:
        noise = np.random.default_rng(seed).normal(0.0, road.noise_std, image.shape)
        image = np.clip(image + noise, 0, 255).astype(np.uint8)
    return image


def _truth_offset(road: SyntheticRoad, car_y_m: float) -> float:
    """The car's offset from the centre of the lane it is in (+ = right), metres."""
    centre = (math.floor(car_y_m / road.lane_width_m + 0.5)) * road.lane_width_m  # lane centres at k * W
    return centre - car_y_m


def drive(camera: CameraModel, n_frames: int, *, fps: float = 25.0, speed_mps: float = 25.0,
          car_y_m: Callable[[float], float] = lambda t: 0.0, curvature_1pm: Callable[[float], float] = lambda t: 0.0,
          road: SyntheticRoad = SyntheticRoad(), seed: int = 0) -> Iterator[SyntheticFrame]:
    """Frames of a drive: ``car_y_m(t)`` and ``curvature_1pm(t)`` give the car's lateral position and the
    road's curvature at time t (seconds)."""
    lines = road.line_y0()
    previous = None
    for i in range(n_frames):
        t = i / fps
        p = float(car_y_m(t))
        kappa = float(curvature_1pm(t))
        event = None
        if previous is not None:
            crossed = [y for y in lines if min(previous, p) < y <= max(previous, p)]
            if crossed:
                event = "left" if p > previous else "right"
        previous = p
        image = render_road(camera, road, car_y_m=p, curvature_1pm=kappa, travelled_m=speed_mps * t, seed=seed + i)
        yield SyntheticFrame(i, t, image, p, _truth_offset(road, p), kappa, event)


def fade(image_bgr: np.ndarray, contrast: float, seed: int = 0) -> np.ndarray:
    """``image_bgr`` (H, W, 3) uint8 with its local contrast scaled by ``contrast`` (0..1: every pixel pulled
    towards its Gaussian local mean, sigma 8 px) plus 2 grey levels of noise: geometry and labels stay, the paint
    fades, as in haze, on worn paint or in a downscaled JPEG."""
    f = image_bgr.astype(np.float32)
    mean = cv2.GaussianBlur(f, (0, 0), 8)
    noise = np.random.default_rng(seed).normal(0.0, 2.0, f.shape)
    return np.clip(mean + contrast * (f - mean) + noise, 0, 255).astype(np.uint8)
