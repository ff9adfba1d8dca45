"""Load and save camera files: OpenCV FileStorage YAML/XML, ROS camera_info YAML, KITTI calib txt.

Every problem with a file (missing, unreadable, not text, malformed, missing keys, wrong matrix shapes,
invalid values) raises :class:`~calibration.errors.CameraFileError` whose one-line message names the file
and, when known, the key or line. Nothing else escapes :func:`load_camera`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import cv2
import yaml

from calibration.camera import CameraModel
from calibration.errors import CameraFileError
from calibration.io_kitti import camera_from_kitti_text, kitti_image_beside, kitti_intrinsics, looks_like_kitti
from calibration.io_opencv import (
    camera_from_opencv_doc,
    looks_like_opencv,
    looks_like_opencv_doc,
    parse_opencv_text,
    write_opencv,
)
from calibration.io_ros import looks_like_ros, parse_ros_doc, write_ros

__all__ = ["load_camera", "load_kitti_calib", "save_camera_opencv", "save_camera_ros", "MAX_CAMERA_FILE_BYTES"]

# Camera files are a few KB; anything much larger is the wrong file (a video passed as --camera, ...).
MAX_CAMERA_FILE_BYTES = 1 << 20


def load_camera(path: str | os.PathLike) -> CameraModel:
    """Read a camera file, detecting its format from the content.

    * OpenCV FileStorage YAML (``%YAML`` header or ``!!opencv-matrix``), XML (``<opencv_storage>``) or JSON;
    * KITTI calib txt (a ``P2:`` line): the image size is taken from ``../image_2/<stem>.png`` (KITTI
      layout); otherwise use :func:`load_kitti_calib` with the size;
    * ROS camera_info YAML (``camera_matrix: {rows, cols, data}``).
    """
    path = Path(path)
    text = _read_text(path)
    if looks_like_opencv(text):
        return parse_opencv_text(text, path)
    if looks_like_kitti(text):
        return load_kitti_calib(path)
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise CameraFileError(path, f"not valid YAML (and not OpenCV or KITTI): {_one_line(exc)}") from None
    except (ValueError, RecursionError) as exc:  # PyYAML raises ValueError for impossible dates, e.g. 2001-13-45
        raise CameraFileError(path, f"not a camera file: {_one_line(exc)}") from None
    if looks_like_opencv_doc(doc):  # FileStorage JSON
        return camera_from_opencv_doc(doc, path)
    if looks_like_ros(doc):
        return parse_ros_doc(doc, path)
    if isinstance(doc, Mapping) and "camera_matrix" in doc:
        raise CameraFileError(path, "key 'camera_matrix': expected a matrix with rows, cols, data")
    raise CameraFileError(path, "not a camera file: no 'camera_matrix' (OpenCV/ROS) and no 'P2:' line (KITTI)")


def load_kitti_calib(
    path: str | os.PathLike,
    width_px: int | None = None,
    height_px: int | None = None,
    *,
    image_path: str | os.PathLike | None = None,
) -> CameraModel:
    """CameraModel of KITTI's left colour camera (P2, rectified: no distortion) from a calib txt file.

    The image size comes from ``width_px``/``height_px`` if given, else from ``image_path``, else from the
    KITTI layout (``calib/000123.txt`` -> ``image_2/000123.png``). KITTI frames differ in size (e.g. 1242x375
    and 1224x370), so no default size is assumed.
    """
    path = Path(path)
    text = _read_text(path)
    if (width_px is None) != (height_px is None):
        raise ValueError("give both width_px and height_px, or neither")
    kitti_intrinsics(text, path)  # a malformed file is reported as such before any image-size problem
    if width_px is None:
        image = Path(image_path) if image_path is not None else kitti_image_beside(path)
        if image is None:
            raise CameraFileError(
                path, "KITTI calib has no image size: pass width_px/height_px or the image (image_2/<stem>.png)"
            )
        width_px, height_px = _image_size_wh(image)
    return camera_from_kitti_text(text, path, width_px, height_px)


def save_camera_opencv(
    camera: CameraModel, path: str | os.PathLike, extra: Mapping[str, int | float | str] | None = None
) -> None:
    """Write an OpenCV FileStorage camera file (YAML; XML for a ``.xml`` name, JSON for ``.json``).

    ``extra`` scalar keys (e.g. ``avg_reprojection_error``) are recorded and ignored on loading.
    ``load_camera`` of the result equals ``camera`` exactly.
    """
    write_opencv(camera, Path(path), extra)


def save_camera_ros(camera: CameraModel, path: str | os.PathLike) -> None:
    """Write a ROS camera_info YAML file; ``load_camera`` of the result equals ``camera`` exactly."""
    write_ros(camera, Path(path))


def _read_text(path: Path) -> str:
    try:
        if not path.exists():
            raise CameraFileError(path, "no such file")
        if path.is_dir():
            raise CameraFileError(path, "is a folder, not a camera file")
        size = path.stat().st_size
        if size > MAX_CAMERA_FILE_BYTES:
            raise CameraFileError(path, f"{size} bytes is too large for a camera file (limit {MAX_CAMERA_FILE_BYTES})")
        data = path.read_bytes()
    except OSError as exc:
        raise CameraFileError(path, f"cannot read: {exc.strerror or exc}") from None
    if not data.strip():
        raise CameraFileError(path, "empty file")
    if b"\x00" in data:
        raise CameraFileError(path, "not a text file (contains NUL bytes)")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise CameraFileError(path, f"not a text file (invalid UTF-8 at byte {exc.start})") from None


def _image_size_wh(image: Path) -> tuple[int, int]:
    pixels = cv2.imread(str(image), cv2.IMREAD_UNCHANGED) if image.is_file() else None
    if pixels is None:
        raise CameraFileError(image, "cannot read the image to get the KITTI image size")
    return int(pixels.shape[1]), int(pixels.shape[0])


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:200]
