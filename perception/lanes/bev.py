"""The bird's-eye view (BEV) the lane stage works in, and raw-pixel <-> road conversions for one camera.

Frames (conventions: ``calibration/__init__.py``):
    road: x forward, y left, metres, origin on the road below the camera;
    raw pixels: the camera's own (possibly distorted) image, pixel centres at integer (u, v);
    BEV pixels (col, row): row 0 is the far end (x = x_max), column 0 the left end (y = y_max); the centre of
        pixel (col, row) is at x = x_max - (row + 0.5) / x_px_per_m, y = y_max - (col + 0.5) / y_px_per_m.
Unlike :func:`calibration.ground.bev_homography` the BEV here has separate forward and lateral scales: lane
lines need centimetres sideways but only decimetres forward.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from calibration import CameraModel, distort_points, pixel_from_road, road_from_pixel, undistort_points

__all__ = ["BevGrid", "BevProjector"]


@dataclass(frozen=True)
class BevGrid:
    """The road rectangle the BEV covers and its resolution."""

    x_range_m: tuple[float, float] = (3.0, 60.0)  # forward (x_min, x_max); x_min is raised to the image bottom
    y_range_m: tuple[float, float] = (-9.0, 9.0)  # lateral (y_min, y_max), left positive: 2.5 lanes each side
    x_px_per_m: float = 4.0  # BEV rows per metre forward (0.25 m per row)
    y_px_per_m: float = 20.0  # BEV columns per metre sideways (5 cm per column)

    @property
    def size_wh(self) -> tuple[int, int]:
        """(width, height) of the BEV image, pixels."""
        (x0, x1), (y0, y1) = self.x_range_m, self.y_range_m
        return int(round((y1 - y0) * self.y_px_per_m)), int(round((x1 - x0) * self.x_px_per_m))

    def x_of_row(self, row: np.ndarray | float) -> np.ndarray:
        """Road x (metres) of BEV row(s)."""
        return self.x_range_m[1] - (np.asarray(row, np.float64) + 0.5) / self.x_px_per_m

    def y_of_col(self, col: np.ndarray | float) -> np.ndarray:
        """Road y (metres, left positive) of BEV column(s)."""
        return self.y_range_m[1] - (np.asarray(col, np.float64) + 0.5) / self.y_px_per_m

    def row_of_x(self, x_m: np.ndarray | float) -> np.ndarray:
        return (self.x_range_m[1] - np.asarray(x_m, np.float64)) * self.x_px_per_m - 0.5

    def col_of_y(self, y_m: np.ndarray | float) -> np.ndarray:
        return (self.y_range_m[1] - np.asarray(y_m, np.float64)) * self.y_px_per_m - 0.5


class BevProjector:
    """One camera (with its mounting) and one BEV grid: warps raw frames and converts points.

    Args:
        camera: the camera with a known mounting (``height_m`` set); its size is the raw frame size.
        grid: the BEV area; ``x_min`` is raised to where the bottom image row meets the road so the BEV holds
            no rows the camera cannot see.
    The warp maps (raw frame -> BEV) are computed once here; :meth:`warp` is one ``cv2.remap``.
    """

    def __init__(self, camera: CameraModel, grid: BevGrid = BevGrid()):
        if not camera.mounting_known:
            raise ValueError("the lane BEV needs a camera with a known mounting (height_m)")
        self.camera = camera
        x_bottom = self.x_of_bottom_row()
        x_min = max(grid.x_range_m[0], x_bottom if np.isfinite(x_bottom) else grid.x_range_m[0])
        if x_min >= grid.x_range_m[1] - 5.0:
            raise ValueError(f"the road is visible only beyond {x_min:.1f} m; the camera looks too far up")
        self.grid = BevGrid((x_min, grid.x_range_m[1]), grid.y_range_m, grid.x_px_per_m, grid.y_px_per_m)
        w, h = self.grid.size_wh
        cols, rows = np.meshgrid(np.arange(w, dtype=np.float64), np.arange(h, dtype=np.float64))
        road = np.column_stack([self.grid.x_of_row(rows.ravel()), self.grid.y_of_col(cols.ravel())])  # (h*w, 2)
        raw = self.raw_from_road(road)
        raw[~np.isfinite(raw)] = -1e4
        self._map_u = raw[:, 0].reshape(h, w).astype(np.float32)  # (h, w) raw u per BEV pixel
        self._map_v = raw[:, 1].reshape(h, w).astype(np.float32)
        inside = ((raw[:, 0] >= 0) & (raw[:, 0] <= camera.width_px - 1)
                  & (raw[:, 1] >= 0) & (raw[:, 1] <= camera.height_px - 1))
        self.valid = inside.reshape(h, w)  # (h, w) bool: BEV pixels the camera sees
        self.valid_rows = self.valid.any(axis=1)  # (h,) BEV rows with at least one pixel the camera sees
        self.valid_flat_index = np.flatnonzero(self.valid)  # (N,) the seen pixels in the flattened BEV
        self.valid_flat_row = self.valid_flat_index // w  # (N,) their BEV rows
        touched = ((raw[:, 0] > -1) & (raw[:, 0] < camera.width_px) & (raw[:, 1] > -1) & (raw[:, 1] < camera.height_px))
        if touched.any():  # the raw window the bilinear warp reads (both neighbours of every sample)
            u, v = raw[touched, 0], raw[touched, 1]
            self._window = (max(0, int(np.floor(u.min()))), max(0, int(np.floor(v.min()))),
                            min(camera.width_px, int(np.floor(u.max())) + 2),
                            min(camera.height_px, int(np.floor(v.max())) + 2))
        else:
            self._window = (0, 0, camera.width_px, camera.height_px)
        self._shifted_maps: dict[tuple[int, int], tuple[np.ndarray, np.ndarray]] = {}

    def x_of_bottom_row(self) -> float:
        """Road x (metres) where the image's bottom row meets the road at the principal column; nan if never."""
        uv = np.array([[self.camera.cx, self.camera.height_px - 1.0]])
        return float(road_from_pixel(self.camera, undistort_points(self.camera, uv))[0, 0])

    def warp(self, image: np.ndarray, interpolation: int = cv2.INTER_LINEAR) -> np.ndarray:
        """BEV image (h, w[, C]) of a raw frame (H, W[, C]); pixels the camera does not see are 0."""
        if image.shape[:2] != (self.camera.height_px, self.camera.width_px):
            raise ValueError(f"frame is {image.shape[1]}x{image.shape[0]}, camera is "
                             f"{self.camera.width_px}x{self.camera.height_px}")
        return cv2.remap(image, self._map_u, self._map_v, interpolation, borderMode=cv2.BORDER_CONSTANT)

    def source_window_px(self, margin_px: int = 0) -> tuple[int, int, int, int]:
        """(x0, y0, x1, y1) raw-pixel window (end exclusive) holding every pixel :meth:`warp` reads, grown by
        ``margin_px`` on each side and clipped to the frame. Filtering only this window before
        :meth:`warp_window` gives the BEV of filtering the whole frame, when the margin covers the filter."""
        x0, y0, x1, y1 = self._window
        cam = self.camera
        return (max(0, x0 - margin_px), max(0, y0 - margin_px), min(cam.width_px, x1 + margin_px),
                min(cam.height_px, y1 + margin_px))

    def warp_window(self, window_image: np.ndarray, origin_xy: tuple[int, int],
                    interpolation: int = cv2.INTER_LINEAR) -> np.ndarray:
        """:meth:`warp` of a window of the raw frame (H', W'[, C]) whose top-left pixel is ``origin_xy``; it must
        cover :meth:`source_window_px` (otherwise BEV pixels outside it read as 0)."""
        key = (int(origin_xy[0]), int(origin_xy[1]))
        if key not in self._shifted_maps:
            self._shifted_maps[key] = (self._map_u - np.float32(key[0]), self._map_v - np.float32(key[1]))
        map_u, map_v = self._shifted_maps[key]
        return cv2.remap(window_image, map_u, map_v, interpolation, borderMode=cv2.BORDER_CONSTANT)

    def road_from_raw(self, uv_px: np.ndarray) -> np.ndarray:
        """Road points float64[N, 2] (x, y metres) of raw pixels float[N, 2]; NaN rows at/above the horizon."""
        uv = np.asarray(uv_px, np.float64).reshape(-1, 2)
        if len(uv) == 0:
            return np.zeros((0, 2))
        return road_from_pixel(self.camera, undistort_points(self.camera, uv))

    def raw_from_road(self, xy_m: np.ndarray) -> np.ndarray:
        """Raw pixels float64[N, 2] of road points float[N, 2]; NaN rows for points behind the camera."""
        xy = np.asarray(xy_m, np.float64).reshape(-1, 2)
        if len(xy) == 0:
            return np.zeros((0, 2))
        uv = pixel_from_road(self.camera, xy)  # (N, 2) undistorted pixels
        if not self.camera.has_distortion:
            return uv
        # The distortion polynomial is only trusted near the image: points far outside keep their undistorted
        # position (they are outside the frame either way) instead of folding back into it.
        margin = 0.25 * max(self.camera.width_px, self.camera.height_px)
        near = (np.all(np.isfinite(uv), axis=1) & (uv[:, 0] > -margin) & (uv[:, 0] < self.camera.width_px + margin)
                & (uv[:, 1] > -margin) & (uv[:, 1] < self.camera.height_px + margin))
        out = uv.copy()
        if near.any():
            out[near] = distort_points(self.camera, uv[near])
        return out
