"""Detection boxes derived from semantic masks (extra box supervision from segmentation-only datasets).

CamVid and Cityscapes label every car and person pixel but give no boxes. A connected component of the
``car`` class is usually one car; when it is not (a row of parked cars fused into one blob, a car cut in two
by a pole), a wrong box would teach the detector wrong extents. So only components that look like one object
become boxes; the doubtful ones become ignore regions (neither rewarded nor penalised). People and riders
follow the same rule with their own shape test (one upright figure); groups become ignore regions.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from .classes import DET_CLASSES, SEG_CLASSES
from .sample import Sample


@dataclass(frozen=True)
class MaskBoxConfig:
    """Which mask components become boxes (sizes in pixels of the mask given)."""

    box_classes: tuple[tuple[str, str], ...] = (("car", "car"),)   # (segmentation class, detection class)
    person_classes: tuple[tuple[str, str], ...] = (("pedestrian", "pedestrian"), ("cyclist", "cyclist"))
    #   (segmentation class, detection class) whose single-person-shaped components become boxes; the other
    #   components of these classes (groups, fragments) become ignore regions
    person_min_area_px: int = 60      # smaller person components: ignore regions
    person_h_over_w: tuple[float, float] = (1.2, 4.5)   # one upright person (or rider on a bike seen from
    #   behind or the front); wider blobs are groups or side-on riders fused with parked bikes: ignore
    person_min_fill: float = 0.35     # component pixels / box area: limbs make people sparser than cars
    close_px: int = 5                 # morphological closing first, to rejoin a car split by a thin pole
    min_area_px: int = 150            # smaller components: ignore regions (too small to learn a box from)
    max_aspect_w_over_h: float = 2.6  # wider components are probably several cars fused: ignore regions
    min_fill: float = 0.45            # component pixels / box area below this: fused or odd shape: ignore
    max_area_frac: float = 0.08       # boxes over this share of the image are mostly fused rows of parked
    #   cars or a car merged with a bus (CamVid's car class includes buses): ignore regions


def boxes_from_mask(seg_mask: np.ndarray, config: MaskBoxConfig = MaskBoxConfig()
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(boxes_xyxy float32[N, 4], labels int64[N], ignore_boxes_xyxy float32[M, 4]) from a ``uint8[H, W]`` mask.

    Boxes are in pixel-edge coordinates of the mask (a component covering columns 3..5 gives x1=3, x2=6).
    """
    boxes, labels, ignore = [], [], []
    max_box_area = config.max_area_frac * seg_mask.shape[0] * seg_mask.shape[1]
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (config.close_px, config.close_px)) \
        if config.close_px > 1 else None

    def components(seg_name: str) -> list[tuple[int, int, int, int, int]]:
        binary = (seg_mask == SEG_CLASSES.index(seg_name)).astype(np.uint8)
        if kernel is not None:
            binary = cv2.morphologyEx(binary, cv2.MORPH_CLOSE, kernel)
        n, _, stats, _ = cv2.connectedComponentsWithStats(binary, connectivity=8)
        return [tuple(int(v) for v in stats[i]) for i in range(1, n)]  # x, y, w, h, area

    for seg_name, det_name in config.box_classes:
        for x, y, w, h, area in components(seg_name):
            box = [x, y, x + w, y + h]
            if area >= config.min_area_px and w <= config.max_aspect_w_over_h * h \
                    and area >= config.min_fill * w * h and w * h <= max_box_area:
                boxes.append(box)
                labels.append(DET_CLASSES.index(det_name))
            else:
                ignore.append(box)
    lo, hi = config.person_h_over_w
    for seg_name, det_name in config.person_classes:
        for x, y, w, h, area in components(seg_name):
            box = [x, y, x + w, y + h]
            if area >= config.person_min_area_px and lo * w <= h <= hi * w and area >= config.person_min_fill * w * h:
                boxes.append(box)
                labels.append(DET_CLASSES.index(det_name))
            else:
                ignore.append(box)
    return (np.asarray(boxes, np.float32).reshape(-1, 4), np.asarray(labels, np.int64),
            np.asarray(ignore, np.float32).reshape(-1, 4))


def with_mask_boxes(sample: Sample, config: MaskBoxConfig = MaskBoxConfig()) -> Sample:
    """``sample`` with boxes from its semantic mask (unchanged when it has no mask or already has boxes)."""
    if sample.seg_mask is None or sample.boxes_xyxy is not None:
        return sample
    boxes, labels, ignore = boxes_from_mask(sample.seg_mask, config)
    meta = {**sample.meta, "boxes_from": "semantic mask components"}
    return sample.replace(boxes_xyxy=boxes, labels=labels, ignore_boxes_xyxy=ignore, meta=meta)
