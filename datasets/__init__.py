"""Dataset readers (CamVid, KITTI, Apollo-style txt, TuSimple, BDD100K, COCO, Cityscapes, CULane) that all
return one ``Sample`` type in the network's classes, plus training transforms.

    from datasets import open_dataset
    ds = open_dataset("camvid", "../shared/data/camvid", "train")
    sample = ds[0]          # datasets.Sample

The package has no heavy imports beyond numpy/OpenCV; albumentations is imported when an ``Augment`` is
built, pycocotools when a COCO file is read.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from ._common import split_ids
from .apollo import APOLLO_CLASS_MAP, ApolloDataset, open_apollo
from .bdd100k import BDD100K_CLASS_MAP, BDD100K_DRIVABLE_MAP, BDD100KDataset, open_bdd100k
from .camvid import CAMVID_CLASS_MAP, CamVidDataset
from .cityscapes import CITYSCAPES_CLASS_MAP, CityscapesDataset, CityscapesSquashedDataset, open_cityscapes
from .classes import DET_CLASSES, IGNORE_REGION, LANE_SIDES, SEG_CLASSES, SEG_IGNORE_INDEX
from .coco import COCO_CLASS_MAP, CocoDataset, open_coco
from .culane import CULaneDataset
from .errors import DatasetFormatError
from .idd import IDD_COARSE_CLASSES, IddLiteDataset
from .kitti import KITTI_CLASS_MAP, KittiDataset, open_kitti
from .packed import PackedDataset
from .sample import Sample
from .tusimple import TuSimpleDataset, TuSimpleInstanceMaskDataset, open_tusimple
from .yolo import YOLO_CLASS_MAP, YoloDataset

# kind -> function(path, split) returning a reader. Split names per kind are in each function's docstring.
OPENERS: dict[str, Callable] = {
    "camvid": lambda path, split: CamVidDataset(path, split),  # split: train / val / test (list file)
    "apollo": open_apollo,  # split: train / val (partition of train/) / trainval / test
    "kitti": open_kitti,  # split: train / val (partition of training/) / trainval / test
    "tusimple": open_tusimple,  # split: train (label_data*.json) / test (test_label*.json)
    "tusimple_lanenet": lambda path, split: TuSimpleInstanceMaskDataset(path),  # split unused
    "bdd100k": open_bdd100k,  # split: train / val / test
    "coco": open_coco,  # split: e.g. train2017 / val2017
    "cityscapes": open_cityscapes,  # split: train / val / test (official or squashed 256x256 layout)
    "culane": lambda path, split: CULaneDataset(path, split),  # split: train / val / test / any list/<name>.txt;
    #   without list/val.txt: train / val / trainval = frame-index blocks of list/train.txt (datasets/culane.py)
    "yolo": lambda path, split: YoloDataset(path, split),  # split: images/<split>/ sub-folder
    "idd": lambda path, split: IddLiteDataset(path, split),  # split: train / val (coarse 7-class masks)
    "packed": lambda path, split: PackedDataset(path, split),  # split: a sub-folder written by the pack tool
}


def open_dataset(kind: str, path: str | Path, split: str):
    """Open a dataset reader by format name (``OPENERS`` keys) from its root folder and a split name."""
    try:
        opener = OPENERS[kind]
    except KeyError:
        raise ValueError(f"unknown dataset kind {kind!r}; expected one of: {', '.join(sorted(OPENERS))}") from None
    return opener(Path(path), split)


__all__ = [
    "APOLLO_CLASS_MAP", "ApolloDataset", "BDD100K_CLASS_MAP", "BDD100K_DRIVABLE_MAP", "BDD100KDataset",
    "CAMVID_CLASS_MAP", "CamVidDataset", "CITYSCAPES_CLASS_MAP", "CityscapesDataset",
    "CityscapesSquashedDataset", "COCO_CLASS_MAP", "CocoDataset", "CULaneDataset", "DatasetFormatError",
    "DET_CLASSES", "IDD_COARSE_CLASSES", "IddLiteDataset", "IGNORE_REGION", "KITTI_CLASS_MAP",
    "KittiDataset", "LANE_SIDES", "open_cityscapes", "PackedDataset", "open_dataset", "OPENERS", "Sample", "SEG_CLASSES",
    "SEG_IGNORE_INDEX", "split_ids", "TuSimpleDataset", "TuSimpleInstanceMaskDataset", "YOLO_CLASS_MAP",
    "YoloDataset",
]
