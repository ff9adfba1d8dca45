"""ROS ``camera_info`` YAML files (``camera_calibration_parsers`` layout), read and written with PyYAML.

Keys read: ``image_width``, ``image_height``, ``camera_name`` (optional), ``camera_matrix: {rows, cols, data}``,
``distortion_model`` (``plumb_bob``: 5 coefficients, or ``rational_polynomial``: 8), ``distortion_coefficients:
{rows, cols, data}``, and our optional mounting keys (``camera_height_m``, ``pitch_rad``, ``yaw_rad``,
``roll_rad``). ``rectification_matrix`` / ``projection_matrix`` describe stereo rectification of the images,
which this model does not represent; they are written as identity / ``[K | 0]`` and ignored on reading.
Other distortion models (``equidistant`` fisheye, ...) are refused: CameraModel cannot represent them.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import yaml

from calibration.camera import CameraModel
from calibration.errors import CameraFileError
from calibration.io_fields import (
    ANGLE_KEYS,
    HEIGHT_KEY,
    as_int,
    as_str,
    build_camera,
    intrinsics_from_K,
    matrix_from_rows_cols_data,
    mounting_from,
    require,
)

__all__ = ["looks_like_ros", "parse_ros_doc", "write_ros"]

# distortion_model -> number of coefficients it takes (ROS sensor_msgs/distortion_models.h)
_MODEL_LENGTHS = {"plumb_bob": 5, "rational_polynomial": 8}


def looks_like_ros(doc: object) -> bool:
    """True for a parsed YAML document shaped like a camera_info file."""
    return isinstance(doc, Mapping) and isinstance(doc.get("camera_matrix"), Mapping)


def parse_ros_doc(doc: Mapping, path: Path) -> CameraModel:
    """CameraModel from a parsed camera_info document; CameraFileError naming file and key otherwise."""
    K = matrix_from_rows_cols_data(path, "camera_matrix", require(path, doc, "camera_matrix"))  # noqa: N806
    fx, fy, cx, cy = intrinsics_from_K(path, "camera_matrix", K)
    dist: tuple[float, ...] = ()
    if doc.get("distortion_coefficients") is not None:
        D = matrix_from_rows_cols_data(path, "distortion_coefficients", doc["distortion_coefficients"])  # noqa: N806
        dist = tuple(float(c) for c in D.reshape(-1))
    model = doc.get("distortion_model")
    if model is not None or dist:
        model = as_str(path, "distortion_model", require(path, doc, "distortion_model"))
        if model not in _MODEL_LENGTHS:
            raise CameraFileError(
                path, f"key 'distortion_model': '{model}' is not supported (use one of {sorted(_MODEL_LENGTHS)})"
            )
        if dist and len(dist) != _MODEL_LENGTHS[model]:
            raise CameraFileError(
                path, f"key 'distortion_coefficients': {model} needs {_MODEL_LENGTHS[model]} numbers, got {len(dist)}"
            )
    name = as_str(path, "camera_name", doc["camera_name"]) if doc.get("camera_name") is not None else ""
    return build_camera(
        path,
        width_px=as_int(path, "image_width", require(path, doc, "image_width")),
        height_px=as_int(path, "image_height", require(path, doc, "image_height")),
        fx=fx,
        fy=fy,
        cx=cx,
        cy=cy,
        dist_coeffs=dist,
        name=name,
        **mounting_from(path, doc),
    )


def write_ros(camera: CameraModel, path: Path) -> None:
    """Write ``camera`` as camera_info YAML. Floats are written by ``repr``, so they load back bit-identical."""
    n = len(camera.dist_coeffs)
    if n in (0, 5):
        model, dist = "plumb_bob", list(camera.dist_coeffs) or [0.0] * 5
    elif n == 8:
        model, dist = "rational_polynomial", list(camera.dist_coeffs)
    elif n == 4:
        model, dist = "plumb_bob", [*camera.dist_coeffs, 0.0]  # k3 = 0: the same distortion
    else:
        raise CameraFileError(path, f"cannot write: ROS camera_info has no distortion model with {n} coefficients")
    doc: dict = {
        "image_width": camera.width_px,
        "image_height": camera.height_px,
        "camera_name": camera.name,
        "camera_matrix": {"rows": 3, "cols": 3, "data": camera.K.reshape(-1).tolist()},
        "distortion_model": model,
        "distortion_coefficients": {"rows": 1, "cols": len(dist), "data": [float(c) for c in dist]},
        "rectification_matrix": {"rows": 3, "cols": 3, "data": [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]},
        "projection_matrix": {
            "rows": 3,
            "cols": 4,
            "data": [camera.fx, 0.0, camera.cx, 0.0, 0.0, camera.fy, camera.cy, 0.0, 0.0, 0.0, 1.0, 0.0],
        },
    }
    if camera.height_m is not None:
        doc[HEIGHT_KEY] = camera.height_m
    for key in ANGLE_KEYS:  # zero angles of an unmounted camera would read like a measured mounting
        if camera.height_m is not None or getattr(camera, key) != 0.0:
            doc[key] = float(getattr(camera, key))
    if not path.parent.is_dir():
        raise CameraFileError(path, "cannot write: the folder does not exist")
    try:
        with open(path, "w", encoding="utf-8") as f:
            yaml.safe_dump(doc, f, sort_keys=False, default_flow_style=None, width=100)
    except OSError as exc:
        raise CameraFileError(path, f"cannot write: {exc.strerror or exc}") from None
