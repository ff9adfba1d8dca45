"""Packed training sets: any dataset's samples, already scaled for one network size, in one portable folder.

``python -m perception.training.pack`` writes them (to take a training set to a GPU machine without the
original datasets). Layout::

    ROOT/<split>/index.json          {"format": "perception.pack", "version": 1, "frames": [...]}
    ROOT/<split>/images/NNNNNN.jpg   image, scaled to fit the network input (never enlarged), no padding
    ROOT/<split>/masks/NNNNNN.png    segmentation mask (our class indices, 255 = ignore), when labelled
    ROOT/<split>/coarse/NNNNNN.png   coarse mask (meta["coarse_mask"], e.g. IDD-Lite), when labelled

Each frame record holds the file names, its original ``kind`` and ``source``, and the labels it has
(``boxes_xyxy`` + ``labels`` + ``ignore_boxes_xyxy``, ``lanes`` + ``lane_sides``) in the stored image's pixels.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ._common import check_index, read_image_bgr, read_label_png
from .errors import DatasetFormatError
from .sample import Sample

PACK_FORMAT = "perception.pack"
PACK_VERSION = 1


def _boxes(value) -> np.ndarray | None:
    return None if value is None else np.asarray(value, np.float32).reshape(-1, 4)


class PackedDataset:
    """Samples of one split of a pack (see the module docstring)."""

    def __init__(self, root: str | Path, split: str = "train"):
        self.root = Path(root) / split
        index = self.root / "index.json"
        if not index.is_file():
            raise FileNotFoundError(f"pack index not found: {index}")
        try:
            blob = json.loads(index.read_text())
        except (OSError, ValueError) as e:
            raise DatasetFormatError(f"unreadable pack index ({e})", index) from None
        if blob.get("format") != PACK_FORMAT or blob.get("version") != PACK_VERSION:
            raise DatasetFormatError(f"not a {PACK_FORMAT} version {PACK_VERSION} index", index)
        self.frames: list[dict] = blob["frames"]

    def __len__(self) -> int:
        return len(self.frames)

    def __getitem__(self, i: int) -> Sample:
        f = self.frames[check_index(i, len(self))]
        img = read_image_bgr(self.root / f["image"])
        hw = img.shape[:2]
        meta: dict = {"dataset": f["kind"], "packed": str(self.root)}
        if f.get("coarse"):
            meta["coarse_mask"] = read_label_png(self.root / f["coarse"], hw)
        boxes = _boxes(f.get("boxes_xyxy"))
        labels = None if boxes is None else np.asarray(f["labels"], np.int64)
        lanes = None if f.get("lanes") is None else [np.asarray(p, np.float32).reshape(-1, 2) for p in f["lanes"]]
        mask = read_label_png(self.root / f["mask"], hw) if f.get("mask") else None
        ignore = _boxes(f.get("ignore_boxes_xyxy"))
        return Sample(image_bgr=img, boxes_xyxy=boxes, labels=labels, ignore_boxes_xyxy=ignore,
                      seg_mask=mask, lanes=lanes, lane_sides=f.get("lane_sides"), source=f.get("source", ""),
                      meta=meta).validate()


__all__ = ["PACK_FORMAT", "PACK_VERSION", "PackedDataset"]
