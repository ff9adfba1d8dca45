"""Copy-paste of people: pixel-exact pedestrians and cyclists cut from segmentation masks, pasted into other
training frames standing on the ground at a size their position implies.

Pedestrians and cyclists are a few percent of our boxes, so the detector rarely sees them. Their masks in
CamVid and Cityscapes give exact silhouettes (the single-person components that ``datasets/mask_boxes.py``
turned into boxes). A silhouette is pasted with its foot point on a row below the horizon; a flat-ground
pinhole camera gives its height there:

    height_px = person_height_m / camera_height_m * (foot_row - horizon_row)

with the person and camera heights drawn from ranges and the horizon near the middle of the image content.
Where the target frame has a mask, the foot must land on road or sidewalk (IDD's coarse drivable or
non-drivable), and a paste may not hide more than a fifth of an existing box. The pasted pixels become the
person's class in the mask and the pasted box joins the frame's boxes.

All coordinates are pixels of the letterboxed training image (x right, y down); boxes are pixel-edge xyxy.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from datasets import Sample
from datasets.classes import DET_CLASSES, SEG_CLASSES, SEG_IGNORE_INDEX
from datasets.idd import IDD_COARSE_CLASSES
from perception.training.losses import COARSE_LABEL_OFFSET

# detection class -> segmentation class of the pixels that make up the instance
PERSON_CLASSES: dict[str, str] = {"pedestrian": "pedestrian", "cyclist": "cyclist"}
_GROUND_FINE = (SEG_CLASSES.index("road"), SEG_CLASSES.index("sidewalk"))
_GROUND_COARSE = (COARSE_LABEL_OFFSET + IDD_COARSE_CLASSES.index("drivable"),
                  COARSE_LABEL_OFFSET + IDD_COARSE_CLASSES.index("non_drivable"))
_LIVING_COARSE = COARSE_LABEL_OFFSET + IDD_COARSE_CLASSES.index("living_things")
MAX_HIDDEN_FRACTION = 0.2  # a paste may cover at most this share of an existing box


@dataclass(frozen=True)
class CopyPasteConfig:
    """How often and how people are pasted (heights in metres, sizes in pixels of the training image)."""

    p: float = 0.0                                   # probability that a training frame gets pasted people (0 = off)
    max_instances: int = 3                           # people pasted into one frame: 1..max_instances
    person_height_m: tuple[float, float] = (1.5, 1.9)
    camera_height_m: tuple[float, float] = (1.2, 1.8)
    horizon_frac: tuple[float, float] = (0.40, 0.52)  # horizon row, fraction of the content height from its top
    min_source_height_px: int = 24                   # smaller silhouettes are too coarse to cut out
    min_pedestrian_h_over_w: float = 1.8             # wider "pedestrian" components are mostly groups
    min_height_px: int = 14                          # pasted people are at least this tall
    max_upscale: float = 2.0                         # silhouettes are never enlarged more than this
    tries: int = 20                                  # placement attempts per pasted person


@dataclass(frozen=True)
class Instance:
    """One cut-out person: ``image_bgr`` uint8[h, w, 3], ``alpha`` bool[h, w], its DET/SEG class indices."""

    image_bgr: np.ndarray
    alpha: np.ndarray
    det_label: int
    seg_label: int


def content_rows(image_bgr: np.ndarray, fill_value: int = 114) -> tuple[int, int]:
    """(top, bottom) rows of the letterboxed content: rows that are not entirely the padding colour."""
    padded = np.all(image_bgr == fill_value, axis=(1, 2))
    rows = np.flatnonzero(~padded)
    return (0, image_bgr.shape[0]) if len(rows) == 0 else (int(rows[0]), int(rows[-1]) + 1)


def person_instances(samples: list[Sample], config: CopyPasteConfig = CopyPasteConfig()) -> list[Instance]:
    """Cut every whole, single-person box of the mask-labelled samples out with its mask pixels.

    Boxes touching the image content's border (people cut off by the frame) are skipped, as are repeated
    samples (the same object in memory).
    """
    instances, seen = [], set()
    for s in samples:
        if s.seg_mask is None or s.boxes_xyxy is None or id(s) in seen:
            continue
        seen.add(id(s))
        top, bottom = content_rows(s.image_bgr)
        for box, label in zip(s.boxes_xyxy, s.labels):
            name = DET_CLASSES[int(label)]
            if name not in PERSON_CLASSES:
                continue
            x1, y1, x2, y2 = (int(round(v)) for v in box)
            if name == "pedestrian" and y2 - y1 < config.min_pedestrian_h_over_w * (x2 - x1):
                continue
            if y2 - y1 < config.min_source_height_px or x1 <= 0 or x2 >= s.width or y1 <= top or y2 >= bottom:
                continue
            seg_label = SEG_CLASSES.index(PERSON_CLASSES[name])
            alpha = s.seg_mask[y1:y2, x1:x2] == seg_label
            if alpha.mean() < 0.3:
                continue
            instances.append(Instance(s.image_bgr[y1:y2, x1:x2].copy(), alpha, int(label), seg_label))
    return instances


def _hidden_fraction(box: np.ndarray, boxes: np.ndarray) -> float:
    """Largest share of any of ``boxes`` (N, 4) that ``box`` (4,) covers."""
    if len(boxes) == 0:
        return 0.0
    iw = (np.minimum(box[2], boxes[:, 2]) - np.maximum(box[0], boxes[:, 0])).clip(0)
    ih = (np.minimum(box[3], boxes[:, 3]) - np.maximum(box[1], boxes[:, 1])).clip(0)
    area = ((boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])).clip(1e-6)
    return float((iw * ih / area).max())


def _on_ground(seg_mask: np.ndarray | None, x: int, y: int) -> bool:
    """Whether the pixel just above the foot point is road or sidewalk (always true without a mask)."""
    if seg_mask is None:
        return True
    v = seg_mask[min(max(y - 1, 0), seg_mask.shape[0] - 1), min(max(x, 0), seg_mask.shape[1] - 1)]
    return v in _GROUND_FINE or v in _GROUND_COARSE


class CopyPaste:
    """``paste(sample, rng)`` returns the sample with 0..max_instances people pasted (never modifies its input)."""

    def __init__(self, instances: list[Instance], config: CopyPasteConfig):
        self.instances = instances
        self.config = config

    def __call__(self, sample: Sample, rng: np.random.Generator) -> Sample:
        c = self.config
        if not self.instances or rng.random() >= c.p or (sample.boxes_xyxy is None and sample.seg_mask is None):
            return sample
        image = sample.image_bgr.copy()
        seg = None if sample.seg_mask is None else sample.seg_mask.copy()
        boxes = sample.boxes_xyxy
        labels = sample.labels
        occupied = np.zeros((0, 4), np.float32) if boxes is None else boxes.copy()
        new_boxes, new_labels = [], []
        top, bottom = content_rows(image)
        h_img, w_img = image.shape[:2]
        for _ in range(int(rng.integers(1, c.max_instances + 1))):
            for _ in range(c.tries):
                inst = self.instances[int(rng.integers(len(self.instances)))]
                horizon = top + rng.uniform(*c.horizon_frac) * (bottom - top)
                foot = int(rng.uniform(horizon + 0.05 * (bottom - top), bottom - 1))
                height = rng.uniform(*c.person_height_m) / rng.uniform(*c.camera_height_m) * (foot - horizon)
                scale = height / inst.alpha.shape[0]
                if height < c.min_height_px or scale > c.max_upscale:
                    continue
                ph, pw = int(round(height)), max(int(round(inst.alpha.shape[1] * scale)), 2)
                if ph > foot or pw >= w_img:
                    continue
                x0 = int(rng.integers(0, w_img - pw + 1))
                box = np.array([x0, foot - ph, x0 + pw, foot], np.float32)
                if not _on_ground(seg, x0 + pw // 2, foot) or _hidden_fraction(box, occupied) > MAX_HIDDEN_FRACTION:
                    continue
                self._blend(image, seg, inst, box.astype(int), rng)
                occupied = np.concatenate([occupied, box[None]])
                new_boxes.append(box)
                new_labels.append(inst.det_label)
                break
        if not new_boxes:
            return sample
        changes: dict = {"image_bgr": image, "seg_mask": seg}
        if boxes is not None:
            changes["boxes_xyxy"] = np.concatenate([boxes, np.stack(new_boxes)]).astype(np.float32)
            changes["labels"] = np.concatenate([labels, np.asarray(new_labels, np.int64)])
            attrs = sample.meta.get("box_attrs")
            if attrs:  # per-box extras stay aligned with the boxes: pasted boxes get none
                return sample.replace(**changes, meta={k: v for k, v in sample.meta.items() if k != "box_attrs"})
        return sample.replace(**changes)

    @staticmethod
    def _blend(image: np.ndarray, seg: np.ndarray | None, inst: Instance, box: np.ndarray,
               rng: np.random.Generator) -> None:
        """Resize ``inst`` into ``box`` (x1, y1, x2, y2) and blend it in place, softening its outline by a pixel."""
        x1, y1, x2, y2 = box
        size = (x2 - x1, y2 - y1)
        patch = cv2.resize(inst.image_bgr, size, interpolation=cv2.INTER_LINEAR).astype(np.float32)
        alpha = cv2.resize(inst.alpha.astype(np.float32), size, interpolation=cv2.INTER_LINEAR)
        hard = alpha >= 0.5
        soft = cv2.GaussianBlur(hard.astype(np.float32), (3, 3), 0)[..., None]
        region = image[y1:y2, x1:x2].astype(np.float32)
        # pull the person's brightness part of the way towards its surroundings (lighting differs by frame)
        gain = (max(region.mean(), 1.0) / max(patch[hard].mean() if hard.any() else 1.0, 1.0)) ** 0.3
        gain = float(np.clip(gain * rng.uniform(0.9, 1.1), 0.75, 1.3))
        image[y1:y2, x1:x2] = (soft * (patch * gain).clip(0, 255) + (1 - soft) * region).round().astype(np.uint8)
        if seg is not None:
            window = seg[y1:y2, x1:x2]
            coarse = (window >= COARSE_LABEL_OFFSET) & (window != SEG_IGNORE_INDEX)
            value = _LIVING_COARSE if coarse.any() else inst.seg_label
            window[hard] = value
