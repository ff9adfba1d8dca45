"""Rotations between the road frame and the camera frame (conventions: see ``calibration/__init__.py``).

The camera's mounting is three angles applied as intrinsic z-y'-x'' (yaw, then pitch, then roll) rotations
of a "level" camera about the road axes (x forward, y left, z up); every angle is a right-handed rotation:

* yaw about z (up):       positive turns the camera to the left;
* pitch about y (left):   positive tilts the camera down toward the road;
* roll about x (forward): positive turns the camera clockwise as seen from behind it.

A level camera (all angles zero) looks along road +x with its image x axis pointing to road -y (right) and
its image y axis pointing to road -z (down).
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "ROAD_FROM_LEVEL_CAMERA",
    "road_from_camera_rotation",
    "camera_from_road_rotation",
    "mounting_angles_from_road_from_camera",
    "mounting_angles_from_forward_direction",
]

# Columns are the camera axes (x right, y down, z forward) written in road coordinates (x fwd, y left, z up)
# for a camera with zero pitch, yaw and roll.  float64[3, 3]
ROAD_FROM_LEVEL_CAMERA = np.array(
    [
        [0.0, 0.0, 1.0],  # road x (forward) = camera z
        [-1.0, 0.0, 0.0],  # road y (left)    = -camera x
        [0.0, -1.0, 0.0],  # road z (up)      = -camera y
    ]
)


def _rx(a: float) -> np.ndarray:
    c, s = np.cos(a), np.sin(a)
    return np.array([[1.0, 0.0, 0.0], [0.0, c, -s], [0.0, s, c]])


def _ry(a: float) -> np.ndarray:
    c, s = np.cos(a), np.sin(a)
    return np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])


def _rz(a: float) -> np.ndarray:
    c, s = np.cos(a), np.sin(a)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def _road_from_mounted_level(pitch_rad: float, yaw_rad: float, roll_rad: float) -> np.ndarray:
    """Rotation of the camera body in road axes: Rz(yaw) @ Ry(pitch) @ Rx(roll). float64[3, 3]."""
    return _rz(yaw_rad) @ _ry(pitch_rad) @ _rx(roll_rad)


def road_from_camera_rotation(pitch_rad: float = 0.0, yaw_rad: float = 0.0, roll_rad: float = 0.0) -> np.ndarray:
    """Rotation taking camera-frame vectors to road-frame vectors: ``v_road = R @ v_camera``. float64[3, 3]."""
    return _road_from_mounted_level(pitch_rad, yaw_rad, roll_rad) @ ROAD_FROM_LEVEL_CAMERA


def camera_from_road_rotation(pitch_rad: float = 0.0, yaw_rad: float = 0.0, roll_rad: float = 0.0) -> np.ndarray:
    """Rotation taking road-frame vectors to camera-frame vectors: ``v_camera = R @ v_road``. float64[3, 3]."""
    return road_from_camera_rotation(pitch_rad, yaw_rad, roll_rad).T


def mounting_angles_from_road_from_camera(road_from_camera: np.ndarray) -> tuple[float, float, float]:
    """Inverse of :func:`road_from_camera_rotation`: ``(pitch_rad, yaw_rad, roll_rad)`` of a rotation matrix.

    ``road_from_camera`` is float[3, 3], a proper rotation (camera vectors to road vectors). Unique for
    ``|pitch| < pi/2``.
    """
    body = np.asarray(road_from_camera, dtype=np.float64) @ ROAD_FROM_LEVEL_CAMERA.T
    # body = Rz(yaw) Ry(pitch) Rx(roll): its last row is (-sin p, cos p sin r, cos p cos r), its first column
    # (cos y cos p, sin y cos p, -sin p)
    pitch = -np.arcsin(np.clip(body[2, 0], -1.0, 1.0))
    yaw = np.arctan2(body[1, 0], body[0, 0])
    roll = np.arctan2(body[2, 1], body[2, 2])
    return float(pitch), float(yaw), float(roll)


def mounting_angles_from_forward_direction(
    forward_in_camera: np.ndarray, roll_rad: float = 0.0
) -> tuple[float, float]:
    """``(pitch_rad, yaw_rad)`` for which road +x (straight ahead) is seen along ``forward_in_camera``.

    ``forward_in_camera``: float[3], any length, camera frame, pointing forward (z > 0 for a sane camera);
    e.g. ``K^-1 @ (u, v, 1)`` of the vanishing point of lines parallel to the road's x axis.
    ``roll_rad`` cannot be observed from one direction and must be given (0 for a level camera).
    """
    d = np.asarray(forward_in_camera, dtype=np.float64).reshape(3)
    d = d / np.linalg.norm(d)
    # Undo the roll and the axis permutation; what is left is Ry(-pitch) @ Rz(-yaw) @ e_x
    # = (cos p cos y, -sin y, sin p cos y).
    w = _rx(roll_rad) @ ROAD_FROM_LEVEL_CAMERA @ d
    yaw = -np.arcsin(np.clip(w[1], -1.0, 1.0))
    pitch = np.arctan2(w[2], w[0])
    return float(pitch), float(yaw)
