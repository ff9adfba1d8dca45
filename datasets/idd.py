"""IDD-Lite reader (India Driving Dataset, level-1 labels): frames with a coarse 7-class mask.

Layout::

    ROOT/leftImg8bit/<split>/<seq>/<id>_image.jpg
    ROOT/gtFine/<split>/<seq>/<id>_label.png        (values 0..6 = IDD_COARSE_CLASSES, 255 = ignore)

The labels are coarser than ours, so a Sample carries no ``seg_mask``; the coarse mask is in
``meta["coarse_mask"]`` (``uint8[H, W]``, original pixels; transforms do not move it). ``FINE_TO_COARSE``
says which coarse class each of our segmentation classes falls into; ``perception.evaluate`` scores our
predictions through it (coarse mIoU).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ._common import check_index, read_image_bgr, read_label_png
from .classes import SEG_CLASSES
from .errors import DatasetFormatError
from .sample import Sample

IDD_COARSE_CLASSES: tuple[str, ...] = ("drivable", "non_drivable", "living_things", "vehicles",
                                       "road_side_objects", "far_objects", "sky")

# Our segmentation class -> IDD level-1 class. IDD puts riders with living things and their bikes with
# vehicles; our "cyclist" is mostly the rider's pixels, so it goes to living things.
FINE_TO_COARSE: dict[str, str] = {
    "road": "drivable", "sidewalk": "non_drivable", "building": "far_objects", "vegetation": "far_objects",
    "sky": "sky", "pole": "road_side_objects", "sign": "road_side_objects", "fence": "road_side_objects",
    "car": "vehicles", "pedestrian": "living_things", "cyclist": "living_things",
}


def coarse_lut(fine_classes: tuple[str, ...] = SEG_CLASSES) -> np.ndarray:
    """uint8[256]: our class index -> IDD coarse index (255 for indices without a class or a mapping)."""
    lut = np.full(256, 255, np.uint8)
    for i, name in enumerate(fine_classes):
        if name in FINE_TO_COARSE:
            lut[i] = IDD_COARSE_CLASSES.index(FINE_TO_COARSE[name])
    return lut


class IddLiteDataset:
    """IDD-Lite frames as Samples with ``meta["coarse_mask"]`` (no boxes, no fine mask, no lanes)."""

    def __init__(self, root: str | Path, split: str = "train"):
        self.root = Path(root)
        self.split = split
        image_dir = self.root / "leftImg8bit" / split
        if not image_dir.is_dir():
            raise FileNotFoundError(f"IDD image folder not found: {image_dir}")
        self.images = sorted(image_dir.glob("*/*_image.jpg"))

    def label_path(self, image_path: Path) -> Path:
        stem = image_path.name[: -len("_image.jpg")]
        return self.root / "gtFine" / self.split / image_path.parent.name / f"{stem}_label.png"

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> Sample:
        img_path = self.images[check_index(i, len(self))]
        img = read_image_bgr(img_path)
        meta: dict = {"dataset": "idd", "frame_id": f"{img_path.parent.name}/{img_path.name[:-len('_image.jpg')]}"}
        lbl = self.label_path(img_path)
        if lbl.is_file():
            mask = read_label_png(lbl, img.shape[:2])
            bad = np.setdiff1d(np.unique(mask), [*range(len(IDD_COARSE_CLASSES)), 255])
            if len(bad):
                raise DatasetFormatError(f"values {bad.tolist()} are not IDD level-1 ids", lbl)
            meta.update(coarse_mask=mask, coarse_classes=IDD_COARSE_CLASSES, mask_file=str(lbl))
        return Sample(image_bgr=img, source=str(img_path), meta=meta).validate()


__all__ = ["FINE_TO_COARSE", "IDD_COARSE_CLASSES", "IddLiteDataset", "coarse_lut"]
