"""COCO-format detection json (instances), read through pycocotools.

Layout: an image folder plus an annotation file in the COCO ``instances_*.json`` format
(``images[].file_name / width / height``, ``annotations[].image_id / category_id / bbox [x, y, w, h] /
iscrowd``, ``categories[].id / name``). Categories are matched by *name*, so other COCO-format datasets
with different category ids work too.
"""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import numpy as np

from ._common import check_index, decode_text, map_named_boxes, read_image_bgr, warn_missing
from .classes import IGNORE_REGION, check_det_class_map
from .errors import DatasetFormatError
from .sample import Sample

# COCO category name -> our class. Categories not listed are dropped (COCO has 80; most are not road users).
# Crowd annotations (iscrowd=1) of a mapped category become ignore regions; crowds of unmapped ones are dropped.
COCO_CLASS_MAP: dict[str, str | None] = {
    "car": "car",
    "truck": "truck",
    "bus": "bus",
    "person": "pedestrian",  # COCO does not separate riders; a person on a bike stays a pedestrian box
    "bicycle": "cyclist",  # the bicycle box (parked bicycles too): COCO has no rider+bike class
    "motorcycle": "motorcyclist",  # likewise the motorcycle box
}
check_det_class_map(COCO_CLASS_MAP)


def load_coco_json(path: str | Path):
    """Load a COCO annotation file into a ``pycocotools.coco.COCO`` index.

    The JSON is parsed here (not by pycocotools) so a broken file raises DatasetFormatError with its line.
    """
    from pycocotools.coco import COCO

    path = Path(path)
    data = path.read_bytes()
    text = decode_text(data, path)
    try:
        d = json.loads(text)
    except json.JSONDecodeError as e:
        raise DatasetFormatError(f"invalid JSON: {e.msg} (column {e.colno})", path, e.lineno) from None
    if not isinstance(d, dict) or not isinstance(d.get("images"), list) or not isinstance(d.get("categories"), list):
        raise DatasetFormatError("not a COCO annotation file: needs 'images' and 'categories' lists", path)
    d.setdefault("annotations", [])
    for a in d["annotations"]:
        bbox = a.get("bbox") if isinstance(a, dict) else None
        if not (isinstance(bbox, list) and len(bbox) == 4 and all(isinstance(v, (int, float)) for v in bbox)):
            raise DatasetFormatError(f"annotation {a.get('id') if isinstance(a, dict) else a!r}: 'bbox' must be "
                                     f"[x, y, w, h]", path)
    coco = COCO()
    coco.dataset = d
    with contextlib.redirect_stdout(io.StringIO()):  # pycocotools prints progress
        try:
            coco.createIndex()
        except (KeyError, TypeError) as e:
            raise DatasetFormatError(f"not a COCO annotation file: missing field {e}", path) from None
    return coco


class CocoDataset:
    """COCO-format frames as Samples (boxes + ignore regions from crowd annotations).

    Args:
        image_dir: folder the ``file_name`` entries are relative to.
        ann_file: COCO annotation json.
        class_map: COCO category name -> our class / IGNORE_REGION / None; categories not in the map are
            dropped (COCO has many non-road classes, so there is no strict mode here).
        skip_empty: leave out images with no annotation of a mapped category.

    Images listed in the json but absent from ``image_dir`` are skipped and kept in ``missing_ids``.
    """

    def __init__(self, image_dir: str | Path, ann_file: str | Path, *,
                 class_map: dict[str, str | None] = COCO_CLASS_MAP, skip_empty: bool = False):
        check_det_class_map(class_map)
        self.image_dir = Path(image_dir)
        self.ann_file = Path(ann_file)
        self.coco = load_coco_json(self.ann_file)
        cats = self.coco.dataset["categories"]
        self.cat_name = {c["id"]: c["name"] for c in cats}
        # every category name known; unmapped ones map to None (dropped)
        self.class_map = {name: class_map.get(name) for name in self.cat_name.values()}
        wanted_cats = {cid for cid, n in self.cat_name.items() if self.class_map[n] is not None}
        ids = sorted(self.coco.imgs)
        if skip_empty:
            ids = [i for i in ids if any(a["category_id"] in wanted_cats for a in self.coco.imgToAnns.get(i, []))]
        present = [i for i in ids if (self.image_dir / self.coco.imgs[i]["file_name"]).is_file()]
        present_set = set(present)
        self.missing_ids = [self.coco.imgs[i]["file_name"] for i in ids if i not in present_set]
        warn_missing("images", self.image_dir, self.missing_ids)
        self.image_ids = present

    def __len__(self) -> int:
        return len(self.image_ids)

    def __getitem__(self, i: int) -> Sample:
        image_id = self.image_ids[check_index(i, len(self))]
        info = self.coco.imgs[image_id]
        img_path = self.image_dir / info["file_name"]
        img = read_image_bgr(img_path)
        h, w = img.shape[:2]
        anns = self.coco.imgToAnns.get(image_id, [])
        names, boxes = [], []
        for a in anns:
            if a["category_id"] not in self.cat_name:
                raise DatasetFormatError(f"annotation {a.get('id')}: unknown category_id {a['category_id']}",
                                         self.ann_file)
            name = self.cat_name[a["category_id"]]
            if a.get("iscrowd", 0) and self.class_map[name] is not None:
                name = "__crowd__"
            x, y, bw, bh = a["bbox"]
            names.append(name)
            boxes.append([x, y, x + bw, y + bh])
        mapped = map_named_boxes(names, np.asarray(boxes, np.float64).reshape(-1, 4),
                                 {**self.class_map, "__crowd__": IGNORE_REGION}, w, h, strict=True,
                                 path=self.ann_file, case_insensitive=False)
        ann_ids = np.asarray([a.get("id", -1) for a in anns], np.int64)
        meta = {"dataset": "coco", "image_id": image_id, "frame_id": info["file_name"],
                "box_attrs": {"annotation_id": ann_ids[mapped.kept]},
                "num_dropped_class": mapped.num_dropped_class, "num_dropped_degenerate": mapped.num_dropped_degenerate}
        return Sample(image_bgr=img, boxes_xyxy=mapped.boxes_xyxy, labels=mapped.labels,
                      ignore_boxes_xyxy=mapped.ignore_boxes_xyxy, source=str(img_path), meta=meta).validate()


def open_coco(path: str | Path, split: str) -> CocoDataset:
    """Official layout: ``path/annotations/instances_<split>.json`` + ``path/<split>/`` (e.g. ``val2017``)."""
    path = Path(path)
    ann = path / "annotations" / f"instances_{split}.json"
    if not ann.is_file():
        raise FileNotFoundError(f"COCO annotation file not found: {ann}")
    return CocoDataset(path / split, ann)


__all__ = ["COCO_CLASS_MAP", "CocoDataset", "load_coco_json", "open_coco"]
