"""KITTI object detection (``label_2`` + ``calib``) reader.

Layout (the official one)::

    ROOT/training/image_2/000000.png   ROOT/training/label_2/000000.txt   ROOT/training/calib/000000.txt
    ROOT/testing/image_2/...           (no labels)                        ROOT/testing/calib/...

Label line, 15 whitespace-separated columns, plus a 16th ``score`` in result files::

    type truncated occluded alpha x1 y1 x2 y2 h w l x y z rotation_y

Boxes are KITTI's 2D boxes in pixels, clipped to the image; the 3D fields are kept per box in
``meta["box_attrs"]`` (camera frame of the rectified left colour camera, metres / radians).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ._common import check_index, decode_text, map_named_boxes, read_image_bgr, split_ids, warn_missing
from .classes import IGNORE_REGION, check_det_class_map
from .errors import DatasetFormatError
from .sample import Sample

# KITTI type -> our detection class. Matching is case-insensitive (KITTI-format exports from other datasets
# often write PEDESTRIAN / CAR). Types not in this dict raise in strict mode and are dropped otherwise.
KITTI_CLASS_MAP: dict[str, str | None] = {
    "Car": "car",
    "Van": "car",  # vans are passenger-car sized; the network has no van class
    "Truck": "truck",
    "Pedestrian": "pedestrian",
    "Person_sitting": "pedestrian",
    "Cyclist": "cyclist",
    "Tram": None,  # dropped: rail vehicle, no matching class (not made an ignore region: trams are rare)
    "Misc": None,  # dropped: trailers, segways, ... (heterogeneous)
    "DontCare": IGNORE_REGION,  # unlabelled regions -> ignore boxes
}
check_det_class_map(KITTI_CLASS_MAP)

_NUM_COLUMNS = 15  # without the optional score


@dataclass
class KittiObjects:
    """Parsed content of one KITTI-format label file (no class mapping, no clipping). Arrays have N rows."""

    names: list[str]
    boxes_xyxy: np.ndarray  # float64[N, 4] as written in the file
    truncated: np.ndarray  # float32[N] 0..1 (DontCare: -1)
    occluded: np.ndarray  # int8[N] 0 visible .. 3 unknown (DontCare: -1)
    alpha: np.ndarray  # float32[N] observation angle, rad
    dimensions_hwl_m: np.ndarray  # float32[N, 3] height, width, length
    location_xyz_m: np.ndarray  # float32[N, 3] bottom-centre in camera coordinates
    rotation_y_rad: np.ndarray  # float32[N]
    score: np.ndarray  # float32[N], NaN where the line has no score column
    lines: list[int] = field(default_factory=list)  # 1-based line number of each object

    def __len__(self) -> int:
        return len(self.names)


def parse_kitti_label_text(data: bytes | str, path: str | Path = "<string>") -> KittiObjects:
    """Parse KITTI-format label text (15 columns, optionally a 16th score).

    Blank lines are skipped. Raises DatasetFormatError (with file and line) for a wrong number of columns,
    a non-numeric or non-finite value, or a box with x2 < x1 or y2 < y1.
    """
    text = decode_text(data, path)
    names: list[str] = []
    rows: list[list[float]] = []
    lines: list[int] = []
    for lineno, raw in enumerate(text.splitlines(), start=1):
        fields = raw.split()
        if not fields:
            continue
        if len(fields) not in (_NUM_COLUMNS, _NUM_COLUMNS + 1):
            raise DatasetFormatError(
                f"expected {_NUM_COLUMNS} columns (or {_NUM_COLUMNS + 1} with a score), got {len(fields)}",
                path, lineno,
            )
        values = []
        for col, tok in enumerate(fields[1:], start=2):
            try:
                v = float(tok)
            except ValueError:
                raise DatasetFormatError(f"column {col}: {tok[:40]!r} is not a number", path, lineno) from None
            if not math.isfinite(v):
                raise DatasetFormatError(f"column {col}: {tok[:40]!r} is not finite", path, lineno)
            values.append(v)
        if len(values) == _NUM_COLUMNS - 1:
            values.append(math.nan)
        x1, y1, x2, y2 = values[3:7]
        if x2 < x1 or y2 < y1:
            raise DatasetFormatError(f"box ({x1}, {y1}, {x2}, {y2}) has x2 < x1 or y2 < y1", path, lineno)
        names.append(fields[0])
        rows.append(values)
        lines.append(lineno)
    a = np.asarray(rows, np.float64).reshape(-1, _NUM_COLUMNS)  # (N, 15): 14 numbers + score
    return KittiObjects(
        names=names,
        boxes_xyxy=a[:, 3:7].copy(),
        truncated=a[:, 0].astype(np.float32),
        occluded=a[:, 1].round().clip(-128, 127).astype(np.int8),
        alpha=a[:, 2].astype(np.float32),
        dimensions_hwl_m=a[:, 7:10].astype(np.float32),
        location_xyz_m=a[:, 10:13].astype(np.float32),
        rotation_y_rad=a[:, 13].astype(np.float32),
        score=a[:, 14].astype(np.float32),
        lines=lines,
    )


# Shapes of the KITTI calibration matrices; other keys are kept as flat arrays.
_CALIB_SHAPES = {"P0": (3, 4), "P1": (3, 4), "P2": (3, 4), "P3": (3, 4), "R0_rect": (3, 3), "R_rect": (3, 3),
                 "Tr_velo_to_cam": (3, 4), "Tr_velo_cam": (3, 4), "Tr_imu_to_velo": (3, 4), "Tr_imu_velo": (3, 4)}


def parse_kitti_calib_text(data: bytes | str, path: str | Path = "<string>") -> dict[str, np.ndarray]:
    """Parse a KITTI object calib file into ``{"P2": float64[3, 4], "R0_rect": float64[3, 3], ...}``.

    ``P2`` projects rectified camera-0 coordinates into image_2 pixels: ``uvw = P2 @ R0_rect @ [x y z 1]``.
    """
    text = decode_text(data, path)
    out: dict[str, np.ndarray] = {}
    for lineno, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        key, sep, rest = raw.partition(":")
        key = key.strip()
        if not sep or not key:
            raise DatasetFormatError("expected 'KEY: v1 v2 ...'", path, lineno)
        try:
            vals = np.array([float(t) for t in rest.split()], np.float64)
        except ValueError:
            raise DatasetFormatError(f"{key}: values must be numbers", path, lineno) from None
        shape = _CALIB_SHAPES.get(key)
        if shape is not None:
            if vals.size != shape[0] * shape[1]:
                raise DatasetFormatError(f"{key}: expected {shape[0] * shape[1]} values, got {vals.size}", path, lineno)
            vals = vals.reshape(shape)
        out[key] = vals
    return out


def objects_to_sample_fields(objs: KittiObjects, class_map: dict, width: int, height: int, *, strict: bool,
                             path: str | Path) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict, dict]:
    """Map parsed objects into (boxes, labels, ignore_boxes, box_attrs, stats) for a Sample."""
    mapped = map_named_boxes(objs.names, objs.boxes_xyxy, class_map, width, height, strict=strict, path=path,
                             lines=objs.lines)
    k = mapped.kept
    attrs = {
        "truncated": objs.truncated[k], "occluded": objs.occluded[k], "alpha_rad": objs.alpha[k],
        "dimensions_hwl_m": objs.dimensions_hwl_m[k].reshape(-1, 3),
        "location_xyz_m": objs.location_xyz_m[k].reshape(-1, 3), "rotation_y_rad": objs.rotation_y_rad[k],
        "score": objs.score[k], "class_name": np.asarray(objs.names, dtype=object)[k] if len(k) else
        np.zeros(0, dtype=object),
    }
    stats = {"num_objects_in_file": len(objs), "num_dropped_class": mapped.num_dropped_class,
             "num_dropped_degenerate": mapped.num_dropped_degenerate, "unknown_classes": mapped.unknown_names}
    return mapped.boxes_xyxy, mapped.labels, mapped.ignore_boxes_xyxy, attrs, stats


class KittiDataset:
    """KITTI object frames as Samples (detection boxes + ignore regions; calibration in ``meta["calib"]``).

    Args:
        root: folder holding ``training/`` and/or ``testing/``.
        split: sub-folder, ``"training"`` or ``"testing"``.
        ids: frame ids (file stems) to use; default all images in ``image_2``. Listed ids without an image
            are skipped, recorded in ``missing_ids`` and reported with one warning.
        class_map: KITTI type -> our class / IGNORE_REGION / None (default ``KITTI_CLASS_MAP``).
        strict: a type missing from ``class_map`` raises DatasetFormatError (True) or is dropped (False).

    Frames without a label file (``testing``) have ``boxes_xyxy = None``.
    """

    def __init__(self, root: str | Path, split: str = "training", *, ids: list[str] | None = None,
                 class_map: dict[str, str | None] = KITTI_CLASS_MAP, strict: bool = True):
        check_det_class_map(class_map)
        self.root = Path(root)
        self.split_dir = self.root / split
        self.image_dir = self.split_dir / "image_2"
        self.label_dir = self.split_dir / "label_2"
        self.calib_dir = self.split_dir / "calib"
        self.class_map = dict(class_map)
        self.strict = strict
        if not self.image_dir.is_dir():
            raise FileNotFoundError(f"KITTI image folder not found: {self.image_dir}")
        images = {p.stem: p for p in self.image_dir.iterdir() if p.suffix.lower() in (".png", ".jpg", ".jpeg")}
        wanted = sorted(images) if ids is None else list(ids)
        self.missing_ids = [i for i in wanted if i not in images]
        warn_missing("frames", self.image_dir, self.missing_ids)
        self.ids = [i for i in wanted if i in images]
        self._images = images

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, i: int) -> Sample:
        frame_id = self.ids[check_index(i, len(self))]
        img_path = self._images[frame_id]
        img = read_image_bgr(img_path)
        h, w = img.shape[:2]
        meta: dict = {"dataset": "kitti", "frame_id": frame_id}
        calib_path = self.calib_dir / f"{frame_id}.txt"
        if calib_path.is_file():
            meta["calib"] = parse_kitti_calib_text(calib_path.read_bytes(), calib_path)
        boxes = labels = ignore = None
        if self.label_dir.is_dir():
            label_path = self.label_dir / f"{frame_id}.txt"
            if not label_path.is_file():
                raise FileNotFoundError(f"label file not found for image {img_path}: {label_path}")
            objs = parse_kitti_label_text(label_path.read_bytes(), label_path)
            boxes, labels, ignore, attrs, stats = objects_to_sample_fields(
                objs, self.class_map, w, h, strict=self.strict, path=label_path)
            meta.update(label_file=str(label_path), box_attrs=attrs, **stats)
        return Sample(image_bgr=img, boxes_xyxy=boxes, labels=labels, ignore_boxes_xyxy=ignore,
                      source=str(img_path), meta=meta).validate()


def open_kitti(path: str | Path, split: str, *, val_fraction: float = 0.2, seed: int = 0, **kwargs) -> KittiDataset:
    """KITTI by split name: ``trainval`` (all of training/), ``train`` / ``val`` (deterministic
    ``split_ids(val_fraction, seed)`` partition of training/), ``test`` (testing/, unlabelled)."""
    if split == "test":
        return KittiDataset(path, "testing", **kwargs)
    if split not in ("train", "val", "trainval"):
        raise ValueError(f"unknown KITTI split {split!r}; expected train, val, trainval or test")
    full = KittiDataset(path, "training", **kwargs)
    if split == "trainval":
        return full
    train, val = split_ids(full.ids, val_fraction, seed)
    return KittiDataset(path, "training", ids=train if split == "train" else val, **kwargs)


__all__ = ["KITTI_CLASS_MAP", "KittiDataset", "KittiObjects", "open_kitti", "parse_kitti_calib_text",
           "parse_kitti_label_text"]
