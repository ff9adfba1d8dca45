"""YOLO-format detection reader: one ``class cx cy w h`` line per box, normalised to [0, 1].

Layout::

    ROOT/classes.txt                  one class name per line; line k names class id k
    ROOT/images/<split>/<ID>.jpg      (.png, .jpeg, .bmp too)
    ROOT/labels/<split>/<ID>.txt      missing file = a frame with no boxes (YOLO's convention)

Names map to our classes through ``YOLO_CLASS_MAP`` (case-insensitive). ``vehicle`` maps to ``car``: in the
only YOLO data we have (48 KITTI frames) it merges car, van, truck and tram, and KITTI's official labels of
the same kind of road count 234 cars and vans against 9 trucks, so "car" is right for about 96 % of them.
An "any vehicle" loss would need a second class hierarchy in the detection head for 4 % of one small set.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ._common import check_index, decode_text, map_named_boxes, read_image_bgr
from .classes import IGNORE_REGION
from .errors import DatasetFormatError
from .sample import Sample

# YOLO class name -> our class / IGNORE_REGION / None. Unknown names are an error (strict) or dropped.
YOLO_CLASS_MAP: dict[str, str | None] = {
    "car": "car",
    "vehicle": "car",  # see the module docstring
    "van": "car",
    "truck": "truck",
    "bus": "bus",
    "pedestrian": "pedestrian",
    "person": "pedestrian",
    "cyclist": "cyclist",
    "bicycle": IGNORE_REGION,  # a bike without its rider: neither a cyclist nor background
    "motorcyclist": "motorcyclist",
    "motorcycle": IGNORE_REGION,
    "traffic_cone": "traffic_cone",
}

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")


def parse_yolo_label_text(data: bytes | str, path: str | Path, num_classes: int, width: int, height: int
                          ) -> tuple[np.ndarray, np.ndarray, list[int]]:
    """(class_ids int64[N], boxes_xyxy float32[N, 4] in pixel-edge coordinates, line numbers) of one file."""
    ids, boxes, lines = [], [], []
    for n, line in enumerate(decode_text(data, path).splitlines(), start=1):
        parts = line.split()
        if not parts:
            continue
        if len(parts) != 5:
            raise DatasetFormatError(f"expected 'class cx cy w h', got {len(parts)} fields", path, n)
        try:
            cls = int(parts[0])
            cx, cy, w, h = (float(v) for v in parts[1:])
        except ValueError:
            raise DatasetFormatError(f"not numbers: {line.strip()!r}", path, n) from None
        if not 0 <= cls < num_classes:
            raise DatasetFormatError(f"class id {cls} outside 0..{num_classes - 1} (classes.txt)", path, n)
        if not all(np.isfinite(v) for v in (cx, cy, w, h)) or w < 0 or h < 0:
            raise DatasetFormatError(f"box values must be finite with w, h >= 0: {line.strip()!r}", path, n)
        ids.append(cls)
        boxes.append([(cx - w / 2) * width, (cy - h / 2) * height, (cx + w / 2) * width, (cy + h / 2) * height])
        lines.append(n)
    return np.asarray(ids, np.int64), np.asarray(boxes, np.float32).reshape(-1, 4), lines


class YoloDataset:
    """YOLO-format frames as Samples (boxes, labels, ignore regions; no masks or lanes).

    Args:
        root: folder with ``classes.txt``, ``images/<split>/`` and ``labels/<split>/``.
        split: sub-folder name, e.g. ``train`` or ``val``.
        class_map: YOLO class name -> our class / IGNORE_REGION / None (default ``YOLO_CLASS_MAP``).
        strict: a name missing from ``class_map`` raises DatasetFormatError (True) or is dropped (False).
    """

    def __init__(self, root: str | Path, split: str = "train", *,
                 class_map: dict[str, str | None] = YOLO_CLASS_MAP, strict: bool = True):
        self.root = Path(root)
        self.split = split
        names_file = self.root / "classes.txt"
        if not names_file.is_file():
            raise FileNotFoundError(f"YOLO class-name file not found: {names_file}")
        self.class_names = [n.strip() for n in decode_text(names_file.read_bytes(), names_file).splitlines()
                            if n.strip()]
        image_dir = self.root / "images" / split
        if not image_dir.is_dir():
            raise FileNotFoundError(f"YOLO image folder not found: {image_dir}")
        self.images = sorted(p for p in image_dir.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        self.label_dir = self.root / "labels" / split
        self.class_map = dict(class_map)
        self.strict = strict

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> Sample:
        img_path = self.images[check_index(i, len(self))]
        img = read_image_bgr(img_path)
        h, w = img.shape[:2]
        label_path = self.label_dir / f"{img_path.stem}.txt"
        data = label_path.read_bytes() if label_path.is_file() else b""
        ids, boxes, lines = parse_yolo_label_text(data, label_path, len(self.class_names), w, h)
        mapped = map_named_boxes([self.class_names[c] for c in ids], boxes, self.class_map, w, h,
                                 strict=self.strict, path=label_path, lines=lines)
        meta = {"dataset": "yolo", "frame_id": img_path.stem, "label_file": str(label_path),
                "num_dropped_class": mapped.num_dropped_class}
        return Sample(image_bgr=img, boxes_xyxy=mapped.boxes_xyxy, labels=mapped.labels,
                      ignore_boxes_xyxy=mapped.ignore_boxes_xyxy, source=str(img_path), meta=meta).validate()


__all__ = ["YOLO_CLASS_MAP", "YoloDataset", "parse_yolo_label_text"]
