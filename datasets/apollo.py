"""Apollo-style 2D obstacle boxes (KITTI-like txt), as in ``shared/data/apollo_2d_obstacle_dotah88``.

Layout::

    ROOT/<folder>/list.txt            one frame id per line (may list ids that have no files)
    ROOT/<folder>/images/<id>.jpg
    ROOT/<folder>/labels/<id>.txt     KITTI 15-column lines: ``type 0 0 0 x1 y1 x2 y2 0 0 0 0 0 0 0``

Only the 2D box columns carry information (truncation/occlusion/3D fields are all zero). Boxes are clipped
to the image (one real box ends at x2 = 1921.8 in a 1920-wide image).

Only the ``train`` folder is available for development (the test folder is held out), so validation data is
split off it with ``split_ids`` (deterministic); ``open_apollo(path, "train" | "val")`` does that.
"""

from __future__ import annotations

from pathlib import Path

from ._common import check_index, decode_text, read_image_bgr, split_ids, warn_missing
from .classes import IGNORE_REGION, check_det_class_map
from .errors import DatasetFormatError
from .kitti import objects_to_sample_fields, parse_kitti_label_text
from .sample import Sample

# Apollo type -> our detection class (case-insensitive). Unknown types raise in strict mode.
APOLLO_CLASS_MAP: dict[str, str | None] = {
    "car": "car",
    "van": "car",  # no van class in the network
    "truck": "truck",
    "bus": "bus",
    "pedestrian": "pedestrian",
    "cyclist": "cyclist",
    "motorcyclist": "motorcyclist",
    "trafficcone": "traffic_cone",
    "ignore": IGNORE_REGION,  # annotator's don't-care regions (like KITTI DontCare)
    # Road users with no class of ours. Made ignore regions rather than dropped: as background they would
    # teach the detector that a person on a tricycle / pushing a barrow is not a road user.
    "tricyclelist": IGNORE_REGION,
    "barrowlist": IGNORE_REGION,
}
check_det_class_map(APOLLO_CLASS_MAP)


def read_id_list(path: str | Path) -> list[str]:
    """Frame ids from a ``list.txt`` (one id per line, blank lines skipped)."""
    path = Path(path)
    ids = []
    for lineno, raw in enumerate(decode_text(path.read_bytes(), path).splitlines(), start=1):
        fields = raw.split()
        if not fields:
            continue
        if len(fields) != 1:
            raise DatasetFormatError(f"expected one frame id per line, got {len(fields)} fields", path, lineno)
        ids.append(fields[0])
    return ids


class ApolloDataset:
    """Apollo-style 2D obstacle frames as Samples (boxes + ignore regions, no segmentation or lanes).

    Args:
        root: folder holding ``train/`` (and ``test/`` where available).
        folder: sub-folder to read (``"train"`` or ``"test"``).
        ids: frame ids to use (e.g. from ``split_ids``); default: ``list.txt``, or all images without it.
        class_map: Apollo type -> our class / IGNORE_REGION / None (default ``APOLLO_CLASS_MAP``).
        strict: a type missing from ``class_map`` raises DatasetFormatError (True) or is dropped (False).

    Ids listed without an image or a label file are skipped and kept in ``missing_ids`` (one warning).
    """

    def __init__(self, root: str | Path, folder: str = "train", *, ids: list[str] | None = None,
                 class_map: dict[str, str | None] = APOLLO_CLASS_MAP, strict: bool = True):
        check_det_class_map(class_map)
        self.root = Path(root)
        self.folder = self.root / folder
        self.image_dir = self.folder / "images"
        self.label_dir = self.folder / "labels"
        self.class_map = dict(class_map)
        self.strict = strict
        if not self.image_dir.is_dir():
            raise FileNotFoundError(f"Apollo image folder not found: {self.image_dir}")
        list_path = self.folder / "list.txt"
        if ids is not None:
            wanted = list(ids)
        elif list_path.is_file():
            wanted = read_id_list(list_path)
        else:
            wanted = sorted(p.stem for p in self.image_dir.glob("*.jpg"))
        present = {i for i in wanted if (self.image_dir / f"{i}.jpg").is_file()
                   and (self.label_dir / f"{i}.txt").is_file()}
        self.missing_ids = [i for i in wanted if i not in present]
        warn_missing("frames (image or label file)", self.folder, self.missing_ids)
        self.ids = [i for i in wanted if i in present]

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, i: int) -> Sample:
        frame_id = self.ids[check_index(i, len(self))]
        img_path = self.image_dir / f"{frame_id}.jpg"
        label_path = self.label_dir / f"{frame_id}.txt"
        objs = parse_kitti_label_text(label_path.read_bytes(), label_path)  # parse first: cheap, fails early
        img = read_image_bgr(img_path)
        h, w = img.shape[:2]
        boxes, labels, ignore, attrs, stats = objects_to_sample_fields(
            objs, self.class_map, w, h, strict=self.strict, path=label_path)
        attrs = {"class_name": attrs["class_name"]}  # the other KITTI columns are all zero here
        meta = {"dataset": "apollo", "frame_id": frame_id, "label_file": str(label_path), "box_attrs": attrs,
                **stats}
        return Sample(image_bgr=img, boxes_xyxy=boxes, labels=labels, ignore_boxes_xyxy=ignore,
                      source=str(img_path), meta=meta).validate()


def open_apollo(path: str | Path, split: str, *, val_fraction: float = 0.2, seed: int = 0,
                **kwargs) -> ApolloDataset:
    """Apollo by split name: ``trainval`` (the whole train/ folder), ``train`` / ``val`` (deterministic
    ``split_ids(val_fraction, seed)`` partition of train/), ``test`` (test/ folder)."""
    if split == "test":
        return ApolloDataset(path, "test", **kwargs)
    if split not in ("train", "val", "trainval"):
        raise ValueError(f"unknown Apollo split {split!r}; expected train, val, trainval or test")
    full = ApolloDataset(path, "train", **kwargs)
    if split == "trainval":
        return full
    train, val = split_ids(full.ids, val_fraction, seed)
    part = ApolloDataset(path, "train", ids=train if split == "train" else val, **kwargs)
    part.missing_ids = full.missing_ids  # what list.txt named but the folder lacks
    return part


__all__ = ["APOLLO_CLASS_MAP", "ApolloDataset", "open_apollo", "read_id_list", "split_ids"]
