"""OpenCV FileStorage camera files (YAML or XML), as written by OpenCV's calibration sample and by us.

Also FileStorage JSON (``.json``), which PyYAML reads as YAML.
Keys: ``image_width``, ``image_height``, ``camera_matrix`` (3x3 opencv-matrix), ``distortion_coefficients``
(1xN or Nx1 opencv-matrix), and our optional ``camera_height_m``, ``pitch_rad``, ``yaw_rad``, ``roll_rad``,
``camera_name``. Other keys (``avg_reprojection_error``, ``nframes``, ...) are ignored.

Writing uses ``cv2.FileStorage``. Reading does not: fuzzing showed that ``cv2.FileStorage`` (OpenCV 5.0.0)
corrupts the heap and aborts the process on some truncated or garbled files, so a bad camera file would
kill the caller instead of raising. The same documents are read here with PyYAML (a loader that knows the
``!!opencv-matrix`` tag and OpenCV's ``%YAML:1.0`` header) and ElementTree; the tests check that files
written by ``cv2.FileStorage`` load identically.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from pathlib import Path

import cv2
import numpy as np
import yaml

from calibration.camera import CameraModel
from calibration.errors import CameraFileError
from calibration.io_fields import (
    ANGLE_KEYS,
    HEIGHT_KEY,
    NAME_KEY,
    as_int,
    as_str,
    build_camera,
    intrinsics_from_K,
    matrix_from_rows_cols_data,
    mounting_from,
    require,
)

__all__ = ["looks_like_opencv", "looks_like_opencv_doc", "parse_opencv_text", "camera_from_opencv_doc", "write_opencv"]

_OPENCV_YAML_HEADER = re.compile(r"^%YAML[: ]1\.\d+[ \t]*\r?\n")


class _OpenCVYamlLoader(yaml.SafeLoader):
    """SafeLoader that turns ``!!opencv-matrix`` nodes into plain mappings."""


def _construct_opencv_matrix(loader: yaml.SafeLoader, node: yaml.Node) -> dict:
    if not isinstance(node, yaml.MappingNode):
        raise yaml.constructor.ConstructorError(None, None, "opencv-matrix must be a mapping", node.start_mark)
    return loader.construct_mapping(node, deep=True)


_OpenCVYamlLoader.add_constructor("tag:yaml.org,2002:opencv-matrix", _construct_opencv_matrix)


def looks_like_opencv(text: str) -> bool:
    """True for OpenCV FileStorage YAML (``%YAML`` header or ``!!opencv-matrix``) or XML documents."""
    head = text.lstrip()[:200]
    return head.startswith(("%YAML", "<?xml", "<opencv_storage")) or "!!opencv-matrix" in text


def looks_like_opencv_doc(doc: object) -> bool:
    """True for a parsed document whose camera_matrix is tagged as an OpenCV matrix (FileStorage JSON)."""
    return (
        isinstance(doc, Mapping)
        and isinstance(doc.get("camera_matrix"), Mapping)
        and doc["camera_matrix"].get("type_id") == "opencv-matrix"
    )


def parse_opencv_text(text: str, path: Path) -> CameraModel:
    """CameraModel from the text of an OpenCV YAML or XML camera file; CameraFileError when malformed."""
    stripped = text.lstrip()
    doc = _parse_xml(stripped, path) if stripped.startswith("<") else _parse_yaml(text, path)
    return camera_from_opencv_doc(doc, path)


def _parse_yaml(text: str, path: Path) -> Mapping:
    # PyYAML rejects OpenCV's non-standard "%YAML:1.0" directive (and warns on 1.2); the header carries
    # nothing we need, so drop it.
    body = _OPENCV_YAML_HEADER.sub("", text.lstrip("\ufeff"), count=1)
    try:
        doc = yaml.load(body, Loader=_OpenCVYamlLoader)  # noqa: S506 (a SafeLoader subclass)
    except yaml.YAMLError as exc:
        raise CameraFileError(path, f"not valid OpenCV YAML: {_one_line(exc)}") from None
    if not isinstance(doc, Mapping):
        raise CameraFileError(path, "not an OpenCV camera file (top level is not a mapping)")
    return doc


def _parse_xml(text: str, path: Path) -> Mapping:
    try:
        root = ET.fromstring(text)
    except ET.ParseError as exc:
        raise CameraFileError(path, f"not valid OpenCV XML: {_one_line(exc)}") from None
    if root.tag != "opencv_storage":
        raise CameraFileError(path, f"not an OpenCV XML file (root element <{root.tag}>, expected <opencv_storage>)")
    doc: dict = {}
    for child in root:
        if child.get("type_id") == "opencv-matrix":
            node = {sub.tag: (sub.text or "").strip() for sub in child}
            doc[child.tag] = {
                "rows": _xml_scalar(node.get("rows", "")),
                "cols": _xml_scalar(node.get("cols", "")),
                "data": node.get("data", "").split(),  # numbers as text; as_float converts and checks them
            }
        else:
            doc[child.tag] = _xml_scalar((child.text or "").strip())
    return doc


def _xml_scalar(text: str) -> object:
    if len(text) >= 2 and text[0] == text[-1] == '"':
        return text[1:-1]  # OpenCV quotes strings that would read as numbers or hold spaces
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def camera_from_opencv_doc(doc: Mapping, path: Path) -> CameraModel:
    """CameraModel from a parsed OpenCV FileStorage document (YAML, XML or JSON)."""
    K = matrix_from_rows_cols_data(path, "camera_matrix", require(path, doc, "camera_matrix"))  # noqa: N806
    fx, fy, cx, cy = intrinsics_from_K(path, "camera_matrix", K)
    dist: tuple[float, ...] = ()
    if doc.get("distortion_coefficients") is not None:
        D = matrix_from_rows_cols_data(path, "distortion_coefficients", doc["distortion_coefficients"])  # noqa: N806
        if min(D.shape) > 1:
            raise CameraFileError(path, f"key 'distortion_coefficients': expected 1xN or Nx1, got {D.shape}")
        dist = tuple(float(c) for c in D.reshape(-1))
    name = as_str(path, NAME_KEY, doc[NAME_KEY]) if doc.get(NAME_KEY) is not None else ""
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


def write_opencv(camera: CameraModel, path: Path, extra: Mapping[str, int | float | str] | None = None) -> None:
    """Write ``camera`` with ``cv2.FileStorage`` (XML for ``.xml``, JSON for ``.json``, YAML otherwise).

    ``extra``: additional scalar keys to record (e.g. ``avg_reprojection_error``); readers ignore them.
    Doubles are written with 17 significant digits, so a load gives back bit-identical numbers.
    """
    reserved = {"image_width", "image_height", "camera_matrix", "distortion_coefficients", HEIGHT_KEY, NAME_KEY}
    reserved.update(ANGLE_KEYS)
    for key in extra or {}:
        if key in reserved or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key):
            raise ValueError(f"extra key {key!r} is reserved or not a valid FileStorage key")
    if not path.parent.is_dir():
        raise CameraFileError(path, "cannot write: the folder does not exist")
    fs = cv2.FileStorage(str(path), cv2.FILE_STORAGE_WRITE)
    if not fs.isOpened():
        raise CameraFileError(path, "cannot write: OpenCV could not open the file for writing")
    try:
        fs.write("image_width", camera.width_px)
        fs.write("image_height", camera.height_px)
        fs.write("camera_matrix", camera.K)
        dist = camera.dist if camera.has_distortion else np.zeros(5)
        fs.write("distortion_coefficients", dist.reshape(1, -1))  # (1, N), like OpenCV's sample
        if camera.height_m is not None:
            fs.write(HEIGHT_KEY, camera.height_m)
        for key in ANGLE_KEYS:  # zero angles of an unmounted camera would read like a measured mounting
            if camera.height_m is not None or getattr(camera, key) != 0.0:
                fs.write(key, float(getattr(camera, key)))
        if camera.name:
            fs.write(NAME_KEY, camera.name)
        for key, value in (extra or {}).items():
            fs.write(key, value)
    finally:
        fs.release()


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:200]
