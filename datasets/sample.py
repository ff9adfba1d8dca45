"""The one sample type every reader returns and every transform takes.

Coordinate conventions (OpenCV image frame: x to the right, y down, origin at the top-left corner):

* Boxes ``(x1, y1, x2, y2)`` are in pixel-edge coordinates: pixel column ``j`` covers ``[j, j + 1)``, so a
  box covering the whole image is ``(0, 0, W, H)`` and valid boxes satisfy ``0 <= x1 < x2 <= W``,
  ``0 <= y1 < y2 <= H``.
* Lane points ``(x, y)`` are in pixel-centre coordinates (the convention of TuSimple/CULane labels and of
  albumentations keypoints): the centre of pixel ``(row i, column j)`` is ``(j, i)``; a point inside the
  image satisfies ``0 <= x < W``, ``0 <= y < H``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np

from .classes import DET_CLASSES, LANE_SIDES, SEG_CLASSES, SEG_IGNORE_INDEX

_VALID_SEG_VALUE = np.zeros(256, bool)
_VALID_SEG_VALUE[: len(SEG_CLASSES)] = True
_VALID_SEG_VALUE[SEG_IGNORE_INDEX] = True

_BOX_TOLERANCE_PX = 1e-3  # slack on the "inside the image" check for float round-off


@dataclass
class Sample:
    """One annotated camera frame.

    ``None`` in a label field means "this label type is not annotated for this sample"; an empty array
    (or empty list) means "annotated, and there is nothing of that kind in the frame".

    Attributes:
        image_bgr: ``uint8[H, W, 3]``, BGR channel order (as ``cv2.imread`` returns it).
        boxes_xyxy: ``float32[N, 4]`` detection boxes in pixels, ``0 <= x1 < x2 <= W``, ``0 <= y1 < y2 <= H``.
        labels: ``int64[N]`` indices into ``DET_CLASSES``; ``None`` exactly when ``boxes_xyxy`` is ``None``.
        ignore_boxes_xyxy: ``float32[M, 4]`` don't-care regions (same format as boxes): detections there
            are neither rewarded nor penalised.
        seg_mask: ``uint8[H, W]`` indices into ``SEG_CLASSES``, ``SEG_IGNORE_INDEX`` (255) = not labelled.
        lanes: list of ``float32[N_k, 2]`` lane lines, ``(x, y)`` pixel-centre points ordered from the
            bottom of the image to the top (first point has the largest y), ``N_k >= 2``.
        lane_sides: one entry per lane: a name from ``LANE_SIDES`` or ``None`` (lane beyond the four named
            ones); ``None`` for the whole list when the dataset gives no sides.
        source: path of the image file.
        meta: free-form extras (dataset name, image id, calibration, ...). Per-box extras live in
            ``meta["box_attrs"]``: a dict of arrays aligned with ``boxes_xyxy`` (first axis N), which the
            transforms subset together with the boxes.
    """

    image_bgr: np.ndarray
    boxes_xyxy: np.ndarray | None = None
    labels: np.ndarray | None = None
    ignore_boxes_xyxy: np.ndarray | None = None
    seg_mask: np.ndarray | None = None
    lanes: list[np.ndarray] | None = None
    lane_sides: list[str | None] | None = None
    source: str = ""
    meta: dict = field(default_factory=dict)

    @property
    def height(self) -> int:
        return int(self.image_bgr.shape[0])

    @property
    def width(self) -> int:
        return int(self.image_bgr.shape[1])

    def replace(self, **changes) -> "Sample":
        """A shallow copy with some fields changed (``dataclasses.replace``)."""
        return dataclasses.replace(self, **changes)

    def validate(self) -> "Sample":
        """Check shapes, dtypes and value ranges of every field; raise ValueError naming the problem.

        Returns ``self`` so that readers can write ``return Sample(...).validate()``.
        """
        errors = sample_problems(self)
        if errors:
            raise ValueError(f"invalid sample from {self.source or '<unknown source>'}: " + "; ".join(errors))
        return self


def empty_boxes() -> np.ndarray:
    """``float32[0, 4]``: the value of an annotated box field with no boxes."""
    return np.zeros((0, 4), np.float32)


def empty_labels() -> np.ndarray:
    """``int64[0]``."""
    return np.zeros((0,), np.int64)


def _box_problems(name: str, boxes: np.ndarray, w: int, h: int) -> list[str]:
    if not isinstance(boxes, np.ndarray) or boxes.ndim != 2 or boxes.shape[1] != 4:
        return [f"{name} must be an array of shape (N, 4), got {getattr(boxes, 'shape', type(boxes))}"]
    if boxes.dtype != np.float32:
        return [f"{name} must be float32, got {boxes.dtype}"]
    if boxes.size == 0:
        return []
    out = []
    if not np.isfinite(boxes).all():
        return [f"{name} has non-finite values"]
    x1, y1, x2, y2 = boxes.T
    t = _BOX_TOLERANCE_PX
    if (x2 <= x1).any() or (y2 <= y1).any():
        out.append(f"{name} has boxes with x2 <= x1 or y2 <= y1")
    if (x1 < -t).any() or (y1 < -t).any() or (x2 > w + t).any() or (y2 > h + t).any():
        out.append(f"{name} has boxes outside the {w}x{h} image")
    return out


def sample_problems(s: Sample) -> list[str]:
    """All problems found in a sample (empty list when valid). See ``Sample.validate``."""
    img = s.image_bgr
    if not isinstance(img, np.ndarray) or img.ndim != 3 or img.shape[2] != 3 or img.dtype != np.uint8:
        return [f"image_bgr must be uint8 (H, W, 3), got {getattr(img, 'dtype', type(img))} "
                f"{getattr(img, 'shape', '')}"]
    h, w = img.shape[:2]
    out: list[str] = []
    if (s.boxes_xyxy is None) != (s.labels is None):
        out.append("boxes_xyxy and labels must both be None or both be arrays")
    if s.boxes_xyxy is not None:
        out += _box_problems("boxes_xyxy", s.boxes_xyxy, w, h)
    if s.labels is not None:
        lab = s.labels
        if not isinstance(lab, np.ndarray) or lab.ndim != 1 or lab.dtype != np.int64:
            out.append(f"labels must be int64 (N,), got {getattr(lab, 'dtype', type(lab))} {getattr(lab, 'shape', '')}")
        else:
            if s.boxes_xyxy is not None and len(lab) != len(s.boxes_xyxy):
                out.append(f"{len(lab)} labels for {len(s.boxes_xyxy)} boxes")
            if lab.size and (lab.min() < 0 or lab.max() >= len(DET_CLASSES)):
                out.append(f"labels outside 0..{len(DET_CLASSES) - 1}")
    if s.ignore_boxes_xyxy is not None:
        out += _box_problems("ignore_boxes_xyxy", s.ignore_boxes_xyxy, w, h)
    if s.seg_mask is not None:
        m = s.seg_mask
        if not isinstance(m, np.ndarray) or m.shape != (h, w) or m.dtype != np.uint8:
            out.append(f"seg_mask must be uint8 ({h}, {w}), got {getattr(m, 'dtype', type(m))} {getattr(m, 'shape', '')}")
        elif not _VALID_SEG_VALUE[m].all():
            bad = sorted(set(np.unique(m).tolist()) - set(range(len(SEG_CLASSES))) - {SEG_IGNORE_INDEX})
            out.append(f"seg_mask has values {bad} (allowed: 0..{len(SEG_CLASSES) - 1} and {SEG_IGNORE_INDEX})")
    if s.lanes is not None:
        if not isinstance(s.lanes, list):
            out.append(f"lanes must be a list, got {type(s.lanes).__name__}")
        else:
            for k, lane in enumerate(s.lanes):
                if not (isinstance(lane, np.ndarray) and lane.ndim == 2 and lane.shape[1] == 2
                        and lane.dtype == np.float32):
                    out.append(f"lane {k} must be float32 (N, 2), got {getattr(lane, 'dtype', type(lane))} "
                               f"{getattr(lane, 'shape', '')}")
                    continue
                if len(lane) < 2:
                    out.append(f"lane {k} has {len(lane)} point(s), needs >= 2")
                elif not np.isfinite(lane).all():
                    out.append(f"lane {k} has non-finite points")
                else:
                    x, y = lane[:, 0], lane[:, 1]
                    if (x < 0).any() or (x >= w).any() or (y < 0).any() or (y >= h).any():
                        out.append(f"lane {k} has points outside the {w}x{h} image")
                    if y[0] < y[-1]:
                        out.append(f"lane {k} is not ordered bottom to top")
    if s.lane_sides is not None:
        if s.lanes is None or len(s.lane_sides) != len(s.lanes):
            out.append("lane_sides must have one entry per lane")
        bad_sides = [v for v in s.lane_sides if v is not None and v not in LANE_SIDES]
        if bad_sides:
            out.append(f"unknown lane sides {bad_sides} (allowed: {LANE_SIDES} or None)")
    attrs = s.meta.get("box_attrs") if isinstance(s.meta, dict) else None
    if attrs is not None and s.boxes_xyxy is not None:
        for key, arr in attrs.items():
            if len(arr) != len(s.boxes_xyxy):
                out.append(f"meta['box_attrs'][{key!r}] has {len(arr)} rows for {len(s.boxes_xyxy)} boxes")
    return out
