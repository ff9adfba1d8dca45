"""Cityscapes (gtFine) semantic segmentation reader: labelIds -> trainIds -> our SEG_CLASSES.

Layout (official)::

    ROOT/leftImg8bit/<split>/<city>/<stem>_leftImg8bit.png
    ROOT/gtFine/<split>/<city>/<stem>_gtFine_labelIds.png        (or _gtFine_labelTrainIds.png)

Our segmentation classes follow the SegNet CamVid 11-class grouping (our main segmentation data), so the
Cityscapes classes are grouped the same way: wall -> building, traffic light -> sign, terrain ->
vegetation, every vehicle body (car, truck, bus, train) -> car, rider / motorcycle / bicycle -> cyclist.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import cv2
import numpy as np

from ._common import check_index, read_image_bgr, read_label_png
from .classes import SEG_IGNORE_INDEX, seg_lut_from_map
from .errors import DatasetFormatError
from .sample import Sample

# Cityscapes labelId -> trainId (cityscapesScripts labels.py; 255 = not evaluated).
CITYSCAPES_LABELID_TO_TRAINID: dict[int, int] = {
    # 0..6: unlabeled, ego vehicle, rectification border, out of roi, static, dynamic, ground
    **{i: 255 for i in range(0, 7)},
    7: 0, 8: 1,  # road, sidewalk
    9: 255, 10: 255,  # parking, rail track
    11: 2, 12: 3, 13: 4,  # building, wall, fence
    14: 255, 15: 255, 16: 255,  # guard rail, bridge, tunnel
    17: 5, 18: 255,  # pole, polegroup
    19: 6, 20: 7, 21: 8, 22: 9, 23: 10,  # traffic light, traffic sign, vegetation, terrain, sky
    24: 11, 25: 12, 26: 13, 27: 14, 28: 15,  # person, rider, car, truck, bus
    29: 255, 30: 255,  # caravan, trailer
    31: 16, 32: 17, 33: 18,  # train, motorcycle, bicycle
}
CITYSCAPES_TRAINID_NAMES = ("road", "sidewalk", "building", "wall", "fence", "pole", "traffic light",
                            "traffic sign", "vegetation", "terrain", "sky", "person", "rider", "car", "truck",
                            "bus", "train", "motorcycle", "bicycle")

# Cityscapes trainId -> our segmentation class (None / 255 -> ignore).
CITYSCAPES_CLASS_MAP: dict[int, str | None] = {
    0: "road",
    1: "sidewalk",
    2: "building",
    3: "building",  # wall
    4: "fence",
    5: "pole",
    6: "sign",  # traffic light
    7: "sign",  # traffic sign
    8: "vegetation",
    9: "vegetation",  # terrain (grass, soil)
    10: "sky",
    11: "pedestrian",  # person
    12: "cyclist",  # rider (of bicycle or motorcycle)
    13: "car",
    14: "car",  # truck: our seg "car" is any vehicle body, as in CamVid
    15: "car",  # bus
    16: "car",  # train
    17: "cyclist",  # motorcycle
    18: "cyclist",  # bicycle
    255: None,
}


def _labelid_lut() -> np.ndarray:
    lut = np.full(256, SEG_IGNORE_INDEX, np.uint8)
    for k, v in CITYSCAPES_LABELID_TO_TRAINID.items():
        lut[k] = v
    return lut


class CityscapesDataset:
    """Cityscapes frames as Samples with ``seg_mask`` (boxes and lanes None).

    Args:
        root: folder holding ``leftImg8bit/`` and ``gtFine/``.
        split: ``train``, ``val`` or ``test``.
        label_kind: read ``labelIds`` (mapped through CITYSCAPES_LABELID_TO_TRAINID) or ``trainIds``.
        class_map: trainId -> our class or None (default ``CITYSCAPES_CLASS_MAP``).

    Frames without a label file have ``seg_mask = None``. Label values outside the Cityscapes ids raise
    DatasetFormatError.
    """

    def __init__(self, root: str | Path, split: str = "train", *,
                 label_kind: Literal["labelIds", "trainIds"] = "labelIds",
                 class_map: dict[int, str | None] = CITYSCAPES_CLASS_MAP):
        if label_kind not in ("labelIds", "trainIds"):
            raise ValueError(f"label_kind must be 'labelIds' or 'trainIds', got {label_kind!r}")
        self.root = Path(root)
        self.split = split
        self.label_kind = label_kind
        image_dir = self.root / "leftImg8bit" / split
        if not image_dir.is_dir():
            raise FileNotFoundError(f"Cityscapes image folder not found: {image_dir}")
        self.images = sorted(image_dir.glob("*/*_leftImg8bit.png"))
        self._train_lut, known_train = seg_lut_from_map(class_map)
        self._labelid_lut = _labelid_lut()
        if label_kind == "labelIds":
            self._known = np.zeros(256, bool)
            self._known[list(CITYSCAPES_LABELID_TO_TRAINID)] = True
        else:
            self._known = known_train

    def label_path(self, image_path: Path) -> Path:
        stem = image_path.name[: -len("_leftImg8bit.png")]
        suffix = "_gtFine_labelIds.png" if self.label_kind == "labelIds" else "_gtFine_labelTrainIds.png"
        return self.root / "gtFine" / self.split / image_path.parent.name / (stem + suffix)

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> Sample:
        img_path = self.images[check_index(i, len(self))]
        img = read_image_bgr(img_path)
        lbl_path = self.label_path(img_path)
        mask = None
        meta = {"dataset": "cityscapes", "frame_id": img_path.name[: -len("_leftImg8bit.png")]}
        if lbl_path.is_file():
            raw = read_label_png(lbl_path, img.shape[:2])
            if not self._known[raw].all():
                bad = sorted(v for v in np.unique(raw).tolist() if not self._known[v])
                raise DatasetFormatError(f"values {bad} are not Cityscapes {self.label_kind}", lbl_path)
            train_ids = self._labelid_lut[raw] if self.label_kind == "labelIds" else raw
            mask = self._train_lut[train_ids]
            meta["mask_file"] = str(lbl_path)
        return Sample(image_bgr=img, seg_mask=mask, source=str(img_path), meta=meta).validate()


def trainids_from_labelids(label_ids: np.ndarray) -> np.ndarray:
    """``uint8[H, W]`` Cityscapes labelIds -> trainIds (255 = ignore)."""
    return _labelid_lut()[label_ids]


__all__ = ["CITYSCAPES_CLASS_MAP", "CITYSCAPES_LABELID_TO_TRAINID", "CITYSCAPES_TRAINID_NAMES",
           "CityscapesDataset", "trainids_from_labelids"]


class CityscapesSquashedDataset:
    """The 256x256 pix2pix copy of Cityscapes, with its 2:1 aspect restored (Samples 512x256, ``seg_mask`` only).

    Layout::

        ROOT/images/<split>/<N>.jpg             (photo squashed from 2048x1024 to 256x256)
        ROOT/labels/<split>/<N>_trainIds.png    (19-class trainIds, 255 = ignore)

    The image is stretched back to 512x256 with linear interpolation and the label with nearest neighbour, so
    objects keep their real proportions (a squashed car would teach the detector a wrong shape). trainIds map
    to our classes through ``CITYSCAPES_CLASS_MAP``.
    """

    RESTORED_WH = (512, 256)

    def __init__(self, root: str | Path, split: str = "train", *,
                 class_map: dict[int, str | None] = CITYSCAPES_CLASS_MAP):
        self.root = Path(root)
        self.split = split
        image_dir = self.root / "images" / split
        if not image_dir.is_dir():
            raise FileNotFoundError(f"Cityscapes image folder not found: {image_dir}")
        self.images = sorted(image_dir.glob("*.jpg"), key=lambda p: (len(p.stem), p.stem))
        self._train_lut, self._known = seg_lut_from_map(class_map)

    def label_path(self, image_path: Path) -> Path:
        return self.root / "labels" / self.split / f"{image_path.stem}_trainIds.png"

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> Sample:
        img_path = self.images[check_index(i, len(self))]
        img = read_image_bgr(img_path)
        img = cv2.resize(img, self.RESTORED_WH, interpolation=cv2.INTER_LINEAR)
        meta = {"dataset": "cityscapes", "frame_id": img_path.stem, "aspect_restored_from": "256x256"}
        mask = None
        lbl_path = self.label_path(img_path)
        if lbl_path.is_file():
            raw = read_label_png(lbl_path)
            if not self._known[raw].all():
                bad = sorted(v for v in np.unique(raw).tolist() if not self._known[v])
                raise DatasetFormatError(f"values {bad} are not Cityscapes trainIds", lbl_path)
            raw = cv2.resize(raw, self.RESTORED_WH, interpolation=cv2.INTER_NEAREST)
            mask = self._train_lut[raw]
            meta["mask_file"] = str(lbl_path)
        return Sample(image_bgr=img, seg_mask=mask, source=str(img_path), meta=meta).validate()


def open_cityscapes(path: str | Path, split: str):
    """Cityscapes in either layout: the official ``leftImg8bit/`` + ``gtFine/`` folders, or the squashed
    256x256 ``images/`` + ``labels/`` copy (aspect restored). split: train / val / test."""
    if (Path(path) / "images").is_dir() and not (Path(path) / "leftImg8bit").is_dir():
        return CityscapesSquashedDataset(path, split)
    return CityscapesDataset(path, split)
