"""KITTI calibration text files (``calib/000000.txt``): ``KEY: n1 n2 ...`` per line.

Only ``P2`` (3x4 projection of the left colour camera, rectified) is needed for the CameraModel:
K = P2[:, :3]. The images of ``image_2`` are rectified, so there is no distortion. ``R0_rect`` (3x3) and the
other matrices are checked for shape and returned by :func:`read_kitti_matrices`. KITTI files carry no image
size; it must be given or read from the image.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from calibration.camera import CameraModel
from calibration.errors import CameraFileError
from calibration.io_fields import as_float, build_camera, intrinsics_from_K

__all__ = [
    "looks_like_kitti",
    "read_kitti_matrices",
    "kitti_intrinsics",
    "camera_from_kitti_text",
    "kitti_image_beside",
]

# Known keys and their shapes; other keys are kept as flat float64 arrays.
_SHAPES = {
    "P0": (3, 4),
    "P1": (3, 4),
    "P2": (3, 4),
    "P3": (3, 4),
    "R0_rect": (3, 3),
    "R_rect": (3, 3),
    "Tr_velo_to_cam": (3, 4),
    "Tr_imu_to_velo": (3, 4),
    "Tr_velo_cam": (3, 4),
    "Tr_imu_velo": (3, 4),
}


def looks_like_kitti(text: str) -> bool:
    return any(line.lstrip().startswith("P2:") for line in text.splitlines())


def read_kitti_matrices(text: str, path: Path) -> dict[str, np.ndarray]:
    """``{key: float64 array}`` for every ``KEY: numbers`` line; known keys reshaped (P2 -> (3, 4), ...)."""
    out: dict[str, np.ndarray] = {}
    for line_no, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        key, sep, rest = line.partition(":")
        key = key.strip()
        if not sep or not key or " " in key:
            raise CameraFileError(path, f"line {line_no}: expected 'KEY: numbers', got {line.strip()[:60]!r}")
        values = np.array([as_float(path, f"{key} (line {line_no})", v) for v in rest.split()], dtype=np.float64)
        shape = _SHAPES.get(key)
        if shape is not None:
            if values.size != shape[0] * shape[1]:
                raise CameraFileError(
                    path, f"line {line_no}: '{key}' needs {shape[0] * shape[1]} numbers, got {values.size}"
                )
            values = values.reshape(shape)
        out[key] = values
    return out


def kitti_intrinsics(text: str, path: Path) -> tuple[float, float, float, float]:
    """``(fx, fy, cx, cy)`` from P2 of a KITTI calib text; CameraFileError if the file is malformed."""
    matrices = read_kitti_matrices(text, path)
    if "P2" not in matrices:
        raise CameraFileError(path, "missing key 'P2'")
    return intrinsics_from_K(path, "P2", matrices["P2"][:, :3])


def camera_from_kitti_text(text: str, path: Path, width_px: int, height_px: int) -> CameraModel:
    """CameraModel of KITTI's rectified left colour camera (P2) for images of the given size."""
    fx, fy, cx, cy = kitti_intrinsics(text, path)
    return build_camera(
        path, width_px=width_px, height_px=height_px, fx=fx, fy=fy, cx=cx, cy=cy, name=f"KITTI P2 of {path.name}"
    )


def kitti_image_beside(path: Path) -> Path | None:
    """The image of a calib file in the KITTI layout: ``.../calib/000123.txt`` -> ``.../image_2/000123.png``."""
    candidate = path.parent.parent / "image_2" / f"{path.stem}.png"
    return candidate if path.parent.name == "calib" and candidate.is_file() else None
