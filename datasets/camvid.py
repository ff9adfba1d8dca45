"""CamVid in the SegNet 11-class layout (segmentation only).

Layout (``shared/data/camvid``)::

    ROOT/<split>.txt                     lines ``<image path> <mask path>``, relative to ROOT
    ROOT/<split>/<stem>.jpg|png          480x360 RGB
    ROOT/<split>annot/<stem>.png         480x360 single channel, pixel value = CamVid class id below

Absolute paths in the list (as in SegNet's original lists, ``/SegNet/CamVid/train/x.png``) are resolved by
their last two components (``train/x.png``) under ROOT.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ._common import check_index, decode_text, read_image_bgr, read_label_png
from .classes import seg_lut_from_map
from .errors import DatasetFormatError
from .sample import Sample

# SegNet CamVid id -> our segmentation class; the 11 classes match ours one to one, 11 = Unlabelled -> 255.
CAMVID_CLASS_MAP: dict[int, str | None] = {
    0: "sky",
    1: "building",
    2: "pole",
    3: "road",
    4: "sidewalk",  # "Pavement"
    5: "vegetation",  # "Tree"
    6: "sign",  # "SignSymbol"
    7: "fence",
    8: "car",
    9: "pedestrian",
    10: "cyclist",  # "Bicyclist"
    11: None,  # "Unlabelled" -> SEG_IGNORE_INDEX
}
CAMVID_NAMES = ("Sky", "Building", "Pole", "Road", "Pavement", "Tree", "SignSymbol", "Fence", "Car",
                "Pedestrian", "Bicyclist", "Unlabelled")


def _resolve(root: Path, token: str) -> Path:
    p = Path(token)
    if p.is_absolute():
        p = Path(*p.parts[-2:])
    return root / p


class CamVidDataset:
    """CamVid frames as Samples with ``seg_mask`` (no boxes, no lanes: those fields are None).

    Args:
        root: CamVid folder with ``<split>.txt``.
        split: ``train``, ``val`` or ``test`` (the list file name without ``.txt``).
        class_map: CamVid id -> our class or None (default ``CAMVID_CLASS_MAP``).
        strict: mask values missing from ``class_map`` raise DatasetFormatError (True) or become 255.

    A list line without exactly two paths, or naming a file that does not exist, raises DatasetFormatError
    with the list file and line.
    """

    def __init__(self, root: str | Path, split: str = "train", *,
                 class_map: dict[int, str | None] = CAMVID_CLASS_MAP, strict: bool = True):
        self.root = Path(root)
        self.split = split
        self.list_path = self.root / f"{split}.txt"
        if not self.list_path.is_file():
            raise FileNotFoundError(f"CamVid split list not found: {self.list_path}")
        self._lut, self._known = seg_lut_from_map(class_map)
        self.strict = strict
        self.pairs: list[tuple[Path, Path]] = []
        text = decode_text(self.list_path.read_bytes(), self.list_path)
        for lineno, raw in enumerate(text.splitlines(), start=1):
            fields = raw.split()
            if not fields:
                continue
            if len(fields) != 2:
                raise DatasetFormatError(f"expected '<image path> <mask path>', got {len(fields)} fields",
                                         self.list_path, lineno)
            img, mask = _resolve(self.root, fields[0]), _resolve(self.root, fields[1])
            for p in (img, mask):
                if not p.is_file():
                    raise DatasetFormatError(f"listed file does not exist: {p}", self.list_path, lineno)
            self.pairs.append((img, mask))

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, i: int) -> Sample:
        img_path, mask_path = self.pairs[check_index(i, len(self))]
        img = read_image_bgr(img_path)
        raw = read_label_png(mask_path, img.shape[:2])
        if self.strict and not self._known[raw].all():
            bad = sorted(v for v in np.unique(raw).tolist() if not self._known[v])
            raise DatasetFormatError(f"mask values {bad} are not CamVid class ids 0..11", mask_path)
        return Sample(image_bgr=img, seg_mask=self._lut[raw], source=str(img_path),
                      meta={"dataset": "camvid", "frame_id": img_path.stem, "mask_file": str(mask_path)}).validate()


__all__ = ["CAMVID_CLASS_MAP", "CAMVID_NAMES", "CamVidDataset"]
