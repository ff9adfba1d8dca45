"""Moving between distorted (raw) pixels and undistorted pixels of the same camera (OpenCV underneath).

"Undistorted pixels" are those of the ideal pinhole with the same K and no distortion: the geometry in
:mod:`calibration.ground` works on them. For a camera without distortion both are the same.
"""

from __future__ import annotations

import dataclasses

import cv2
import numpy as np

from calibration.camera import CameraModel

__all__ = ["undistort_points", "distort_points", "undistortion_maps", "undistort_image", "pinhole_of"]


def _as_points(uv_px: np.ndarray) -> np.ndarray:
    pts = np.asarray(uv_px, dtype=np.float64)
    if pts.ndim != 2 or pts.shape[1] != 2:
        raise ValueError(f"expected points of shape (N, 2), got {pts.shape}")
    return pts


def pinhole_of(camera: CameraModel) -> CameraModel:
    """The same camera without distortion: what an undistorted image (same K, same size) was taken with."""
    return dataclasses.replace(camera, dist_coeffs=())


def undistort_points(camera: CameraModel, uv_px: np.ndarray) -> np.ndarray:
    """Raw pixel coordinates float[N, 2] -> undistorted pixel coordinates float64[N, 2] (same K)."""
    pts = _as_points(uv_px)
    if not camera.has_distortion or len(pts) == 0:
        return pts.copy()
    out = cv2.undistortPoints(
        pts.reshape(-1, 1, 2),  # (N, 1, 2)
        camera.K,
        camera.dist,
        R=None,
        P=camera.K,
        criteria=(cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, 40, 1e-10),
    )
    return out.reshape(-1, 2)


def distort_points(camera: CameraModel, uv_px: np.ndarray) -> np.ndarray:
    """Undistorted pixel coordinates float[N, 2] -> raw (distorted) pixel coordinates float64[N, 2]."""
    pts = _as_points(uv_px)
    if not camera.has_distortion or len(pts) == 0:
        return pts.copy()
    normalised = np.column_stack(
        [(pts[:, 0] - camera.cx) / camera.fx, (pts[:, 1] - camera.cy) / camera.fy, np.ones(len(pts))]
    )  # (N, 3) camera-frame directions with z = 1
    out, _ = cv2.projectPoints(normalised, np.zeros(3), np.zeros(3), camera.K, camera.dist)
    return out.reshape(-1, 2)


def undistortion_maps(camera: CameraModel, output_camera: CameraModel | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``(map_u, map_v)`` float32[H_out, W_out] for ``cv2.remap``: raw image -> image of ``output_camera``.

    ``output_camera`` defaults to :func:`pinhole_of` ``(camera)``; give e.g.
    ``pinhole_of(camera).scaled_to(640, 360)`` to undistort and resize in one remap.
    """
    target = pinhole_of(camera) if output_camera is None else output_camera
    return cv2.initUndistortRectifyMap(
        camera.K, camera.dist, None, target.K, target.image_size_wh, cv2.CV_32FC1
    )


def undistort_image(camera: CameraModel, image: np.ndarray, interpolation: int = cv2.INTER_LINEAR) -> np.ndarray:
    """Raw image (H, W[, C]) of ``camera`` -> undistorted image of the same size and K."""
    if image.shape[:2] != (camera.height_px, camera.width_px):
        raise ValueError(
            f"image is {image.shape[1]}x{image.shape[0]} but the camera model is "
            f"{camera.width_px}x{camera.height_px}; use camera.scaled_to(...) first"
        )
    if not camera.has_distortion:
        return image.copy()
    map_u, map_v = undistortion_maps(camera)
    return cv2.remap(image, map_u, map_v, interpolation, borderMode=cv2.BORDER_CONSTANT)
