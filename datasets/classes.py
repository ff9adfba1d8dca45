"""Class lists of the network: every reader maps its dataset's names into these.

The network imports the lists from here; their order is the index order of the heads.
"""

from __future__ import annotations

import numpy as np

# Detection head classes; ``Sample.labels`` holds indices into this tuple.
DET_CLASSES: tuple[str, ...] = (
    "car",
    "truck",
    "bus",
    "pedestrian",
    "cyclist",
    "motorcyclist",
    "traffic_cone",
)

# Semantic head classes; ``Sample.seg_mask`` holds indices into this tuple, or SEG_IGNORE_INDEX.
SEG_CLASSES: tuple[str, ...] = (
    "road",
    "sidewalk",
    "building",
    "vegetation",
    "sky",
    "pole",
    "sign",
    "fence",
    "car",
    "pedestrian",
    "cyclist",
)
SEG_IGNORE_INDEX: int = 255

# Side labels a lane line may carry, left to right as seen from the ego vehicle.
LANE_SIDES: tuple[str, ...] = ("left_left", "ego_left", "ego_right", "right_right")
# What a horizontal flip turns each side into.
LANE_SIDE_AFTER_HFLIP: dict[str, str] = {
    "left_left": "right_right",
    "ego_left": "ego_right",
    "ego_right": "ego_left",
    "right_right": "left_left",
}

# Target values used in the readers' class-mapping dicts (dataset name/id -> target):
#   a name in DET_CLASSES (or SEG_CLASSES) -> that class,
#   IGNORE_REGION                          -> the box becomes a don't-care region (Sample.ignore_boxes_xyxy),
#   None                                   -> the object is dropped (neither positive nor ignore).
IGNORE_REGION: str = "<ignore>"

DET_INDEX: dict[str, int] = {name: i for i, name in enumerate(DET_CLASSES)}
SEG_INDEX: dict[str, int] = {name: i for i, name in enumerate(SEG_CLASSES)}


def check_det_class_map(class_map: dict) -> None:
    """Raise ValueError if a detection class map has a target that is not ours."""
    for key, target in class_map.items():
        if target is not None and target != IGNORE_REGION and target not in DET_INDEX:
            raise ValueError(f"class map entry {key!r} -> {target!r}: not in DET_CLASSES {DET_CLASSES}")


def seg_lut_from_map(class_map: dict[int, str | None]) -> tuple[np.ndarray, np.ndarray]:
    """Build a 256-entry uint8 lookup table dataset id -> SEG_CLASSES index (255 for None / unmapped).

    Returns (lut, known) where ``known[v]`` tells whether id v appears in the map; readers use it to
    report ids that the map does not know.
    """
    lut = np.full(256, SEG_IGNORE_INDEX, np.uint8)
    known = np.zeros(256, bool)
    for src, target in class_map.items():
        if target is not None and target not in SEG_INDEX:
            raise ValueError(f"class map entry {src!r} -> {target!r}: not in SEG_CLASSES {SEG_CLASSES}")
        lut[int(src)] = SEG_IGNORE_INDEX if target is None else SEG_INDEX[target]
        known[int(src)] = True
    return lut, known
