"""Typed access to values parsed from camera files; every failure is a CameraFileError naming file and key.

Shared by the format readers (:mod:`calibration.io_opencv`, :mod:`calibration.io_ros`,
:mod:`calibration.io_kitti`). Parsed documents are untrusted: nothing here assumes a type.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from calibration.camera import CameraModel
from calibration.errors import CalibrationError, CameraFileError

# Optional keys this project adds to OpenCV and ROS camera files to carry the mounting.
HEIGHT_KEY = "camera_height_m"
ANGLE_KEYS = ("pitch_rad", "yaw_rad", "roll_rad")
NAME_KEY = "camera_name"

# YAML 1.1 (PyYAML) reads "1e-05" (no dot) as a string; OpenCV writes such numbers. Accept them explicitly.
_FLOAT_TEXT = re.compile(r"^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$")


def as_float(path: Path, key: str, value: object) -> float:
    """A finite float from an int, float or numeric text; CameraFileError otherwise."""
    if isinstance(value, bool):
        raise CameraFileError(path, f"key '{key}': expected a number, got {value!r}")
    if isinstance(value, str) and _FLOAT_TEXT.match(value.strip()):
        value = float(value)
    if not isinstance(value, (int, float)):
        raise CameraFileError(path, f"key '{key}': expected a number, got {_short(value)}")
    try:
        out = float(value)
    except OverflowError:
        raise CameraFileError(path, f"key '{key}': number out of range") from None
    if not math.isfinite(out):
        raise CameraFileError(path, f"key '{key}': expected a finite number, got {out}")
    return out


def as_int(path: Path, key: str, value: object) -> int:
    """A positive int below 2**31 (an image size); CameraFileError otherwise."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise CameraFileError(path, f"key '{key}': expected an integer, got {_short(value)}")
    if not 0 < value < 2**31:
        raise CameraFileError(path, f"key '{key}': expected a positive image size, got {value}")
    return value


def as_str(path: Path, key: str, value: object) -> str:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)  # a numeric camera name read back as a number
    if not isinstance(value, str):
        raise CameraFileError(path, f"key '{key}': expected text, got {_short(value)}")
    return value


def require(path: Path, doc: Mapping, key: str) -> object:
    if key not in doc:
        raise CameraFileError(path, f"missing key '{key}'")
    return doc[key]


def matrix_from_rows_cols_data(path: Path, key: str, node: object) -> np.ndarray:
    """float64[rows, cols] from a ``{rows, cols, data}`` mapping (OpenCV and ROS files both use it)."""
    if not isinstance(node, Mapping):
        raise CameraFileError(path, f"key '{key}': expected a matrix with rows, cols, data; got {_short(node)}")
    rows = require(path, node, "rows")
    cols = require(path, node, "cols")
    if isinstance(rows, bool) or isinstance(cols, bool) or not isinstance(rows, int) or not isinstance(cols, int):
        raise CameraFileError(path, f"key '{key}': rows and cols must be integers")
    if not (0 <= rows <= 64 and 0 <= cols <= 64):
        raise CameraFileError(path, f"key '{key}': implausible matrix shape {rows}x{cols}")
    data = node.get("data")
    if not isinstance(data, list):
        raise CameraFileError(path, f"key '{key}': 'data' must be a list of numbers")
    if len(data) != rows * cols:
        raise CameraFileError(path, f"key '{key}': {rows}x{cols} matrix needs {rows * cols} numbers, got {len(data)}")
    values = [as_float(path, f"{key}.data[{i}]", v) for i, v in enumerate(data)]
    return np.array(values, dtype=np.float64).reshape(rows, cols)


def intrinsics_from_K(path: Path, key: str, K: np.ndarray) -> tuple[float, float, float, float]:  # noqa: N803
    """``(fx, fy, cx, cy)`` of a 3x3 camera matrix ``[[fx, 0, cx], [0, fy, cy], [0, 0, 1]]``.

    Skew or a scaled last row is refused rather than silently dropped: CameraModel has no skew.
    """
    if K.shape != (3, 3):
        raise CameraFileError(path, f"key '{key}': expected a 3x3 matrix, got shape {K.shape}")
    if K[0, 1] != 0.0:
        raise CameraFileError(path, f"key '{key}': skew K[0,1]={K[0, 1]!r} is not supported (must be 0)")
    if K[1, 0] != 0.0 or K[2, 0] != 0.0 or K[2, 1] != 0.0 or K[2, 2] != 1.0:
        raise CameraFileError(path, f"key '{key}': not a camera matrix (need K[1,0]=K[2,0]=K[2,1]=0, K[2,2]=1)")
    return float(K[0, 0]), float(K[1, 1]), float(K[0, 2]), float(K[1, 2])


def mounting_from(path: Path, doc: Mapping) -> dict:
    """The optional mounting keys of a parsed document as CameraModel keyword arguments."""
    out: dict = {}
    if doc.get(HEIGHT_KEY) is not None:
        out["height_m"] = as_float(path, HEIGHT_KEY, doc[HEIGHT_KEY])
    for key in ANGLE_KEYS:
        if doc.get(key) is not None:
            out[key] = as_float(path, key, doc[key])
    return out


def build_camera(path: Path, **fields: object) -> CameraModel:
    """CameraModel(**fields), turning its validation errors into a CameraFileError naming the file."""
    try:
        return CameraModel(**fields)
    except CalibrationError as exc:
        raise CameraFileError(path, str(exc)) from None


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
