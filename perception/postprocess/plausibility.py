"""Suppress detections that cannot be real objects, before tracking and planning see them.

Two independent checks, each with a reason that is counted:

- ``no_segmentation_support``: a large box (at least ``seg_check_min_area_frac`` of the image) in which the
  network's own segmentation head finds almost none of the object's class (a "truck" made of road surface,
  guard rail and trees). Needs no calibration; small boxes are not judged (the stride-4 masks are too coarse).
- Geometry, only with a mounting (camera height and angles, from ``--camera`` or the lane stage's default
  mounting). An object stands on a flat road, so the row of its bottom edge below the horizon gives its scale:
  ``size_m = height_m_camera * size_px / (v_bottom - v_horizon)`` (pinhole, small roll). Then
  ``above_horizon``: the bottom edge lies above the horizon (by more than ``horizon_margin_frac`` of the
  image height); ``too_large``: the implied width or height exceeds the class's range in
  ``OBJECT_SIZE_RANGES_M`` by more than ``size_slack``. Boxes cut by the image's bottom edge are not sized:
  their ground contact is out of view.

Boxes are ``(x1, y1, x2, y2)`` in original image pixels (edge coordinates), as in ``Detection.box_xyxy``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from calibration.ground import horizon_line
from perception.results import FrameResult

REASONS = ("above_horizon", "too_large", "no_segmentation_support")


@dataclass(frozen=True)
class SizeRangeM:
    """Largest plausible visible extent of one object class, metres (a side view shows a vehicle's length)."""

    max_width_m: float
    max_height_m: float


# Detection class -> largest visible width (length, seen side-on) and height. Generous on purpose: the filter
# removes impossible objects, not unusual ones.
OBJECT_SIZE_RANGES_M: dict[str, SizeRangeM] = {
    "car": SizeRangeM(max_width_m=6.0, max_height_m=3.0),      # vans and SUVs included (KITTI Van -> car)
    "truck": SizeRangeM(max_width_m=20.0, max_height_m=4.6),   # articulated lorry side-on; 4 m legal height
    "bus": SizeRangeM(max_width_m=20.0, max_height_m=4.6),     # articulated and double-deck buses
    "pedestrian": SizeRangeM(max_width_m=1.5, max_height_m=2.3),  # arms out / pushing a pram
    "cyclist": SizeRangeM(max_width_m=2.2, max_height_m=2.3),  # bicycle side-on with rider
    "motorcyclist": SizeRangeM(max_width_m=2.6, max_height_m=2.2),
    "traffic_cone": SizeRangeM(max_width_m=1.0, max_height_m=1.3),  # cones, bollards, barrels
}

# Detection class -> segmentation classes that count as support for it (the segmentation head has one "car"
# class for every vehicle body; riders are labelled cyclist in CamVid and Cityscapes alike).
SUPPORTING_SEG_CLASSES: dict[str, tuple[str, ...]] = {
    "car": ("car",), "truck": ("car",), "bus": ("car",),
    "pedestrian": ("pedestrian", "cyclist"), "cyclist": ("cyclist", "pedestrian"),
    "motorcyclist": ("cyclist", "pedestrian", "car"),
}


@dataclass(frozen=True)
class PlausibilityConfig:
    """Thresholds of the checks (see the module docstring)."""

    horizon_margin_frac: float = 0.03   # bottoms up to this share of the image height above the horizon pass
    #   (pitch estimates and bumps move the horizon by a few per cent)
    bottom_cut_margin_px: float = 2.0   # a box whose bottom is this close to the image's bottom is cut off
    size_slack: float = 1.25            # metric sizes may exceed OBJECT_SIZE_RANGES_M by this factor
    seg_check_min_area_frac: float = 0.02  # only boxes covering at least this share of the image are checked
    seg_min_support_frac: float = 0.10  # ...and need this share of their pixels in a supporting class (about
    #   4 % of labelled boxes that large fall below it on the Apollo / KITTI training frames, half of them trucks)


class PlausibilityFilter:
    """Callable per frame: ``filter(result)`` drops implausible detections from ``result.detections``.

    Args:
        seg_classes: the network's segmentation class names (index order of ``result.seg_labels``).
        camera: a CameraModel with a mounting for the geometric checks, or None (segmentation check only).
        config: thresholds.
        geometry_source: what to call the mounting's origin in summary.json.
    """

    def __init__(self, seg_classes: tuple[str, ...], camera: Any | None = None,
                 config: PlausibilityConfig = PlausibilityConfig(), geometry_source: str | None = None) -> None:
        self.seg_classes = tuple(seg_classes)
        self.camera = camera if camera is not None and camera.mounting_known else None
        self.config = config
        self.geometry_source = geometry_source or ("camera_file" if self.camera is not None else "none")
        self.suppressed = {r: 0 for r in REASONS}
        self.checked = 0
        self._horizons: dict[int, tuple[float, float, float]] = {}  # image height -> horizon line
        self._support_ids = {det: np.array([self.seg_classes.index(s) for s in segs if s in self.seg_classes])
                             for det, segs in SUPPORTING_SEG_CLASSES.items()}

    def reasons(self, labels: list[str], boxes_xyxy: np.ndarray, image_wh: tuple[int, int],
                seg_labels: np.ndarray | None) -> list[str | None]:
        """Per box: the reason it is implausible (one of ``REASONS``) or None. ``boxes_xyxy`` float[N, 4]."""
        boxes = np.asarray(boxes_xyxy, np.float64).reshape(-1, 4)
        out: list[str | None] = [None] * len(boxes)
        w_img, h_img = image_wh
        geometry = self._geometry(boxes, h_img) if self.camera is not None and len(boxes) else None
        for i, (label, box) in enumerate(zip(labels, boxes)):
            if geometry is not None:
                reason = self._geometric_reason(label, box, *geometry[i], h_img)
                if reason is not None:
                    out[i] = reason
                    continue
            if seg_labels is not None and not self._supported(label, box, seg_labels, w_img * h_img):
                out[i] = "no_segmentation_support"
        return out

    def __call__(self, result: FrameResult, image_wh: tuple[int, int] | None = None) -> None:
        """Filter ``result.detections``; the image size comes from ``image_wh``, else the segmentation map,
        else the camera."""
        dets = result.detections
        if not dets:
            return
        if image_wh is None:
            if result.seg_labels is not None:
                image_wh = (result.seg_labels.shape[1], result.seg_labels.shape[0])
            elif self.camera is not None:
                image_wh = self.camera.image_size_wh
            else:
                return
        boxes = np.array([d.box_xyxy for d in dets], np.float64)
        reasons = self.reasons([d.label for d in dets], boxes, image_wh, result.seg_labels)
        self.checked += len(dets)
        for r in reasons:
            if r is not None:
                self.suppressed[r] += 1
        result.detections = [d for d, r in zip(dets, reasons) if r is None]

    def summary(self) -> dict[str, Any]:
        c = self.config
        return {"checked": self.checked, "suppressed": dict(self.suppressed), "geometry": self.geometry_source,
                "seg_check_min_area_frac": c.seg_check_min_area_frac, "seg_min_support_frac": c.seg_min_support_frac,
                "size_slack": c.size_slack}

    def _geometry(self, boxes: np.ndarray, h_img: int) -> np.ndarray:
        """(N, 2): horizon row below each box's bottom centre and the camera's height above the road."""
        a, b, c = self._horizon_for_height(h_img)
        u = (boxes[:, 0] + boxes[:, 2]) / 2.0
        return np.column_stack([-(a * u + c) / b, np.full(len(boxes), self.camera.height_m)])

    def _horizon_for_height(self, h_img: int) -> tuple[float, float, float]:
        """The horizon line ``a*u + b*v + c = 0`` for images ``h_img`` rows high, computed once per size (the
        camera at another resolution with the same aspect ratio)."""
        if h_img not in self._horizons:
            cam = self.camera
            if cam.height_px != h_img:
                cam = cam.scaled_to(int(round(cam.width_px * h_img / cam.height_px)), h_img)
            self._horizons[h_img] = tuple(float(x) for x in horizon_line(cam))
        return self._horizons[h_img]

    def _geometric_reason(self, label: str, box: np.ndarray, v_horizon: float, cam_height_m: float,
                          h_img: int) -> str | None:
        c = self.config
        x1, y1, x2, y2 = box
        below_px = y2 - v_horizon  # rows from the horizon down to the box's bottom edge
        if below_px < -c.horizon_margin_frac * h_img:
            return "above_horizon"
        if y2 >= h_img - c.bottom_cut_margin_px or below_px <= 1.0:
            return None  # ground contact out of view, or too close to the horizon to size
        size = OBJECT_SIZE_RANGES_M.get(label)
        if size is None:
            return None
        metres_per_px = cam_height_m / below_px
        if (x2 - x1) * metres_per_px > size.max_width_m * c.size_slack \
                or (y2 - y1) * metres_per_px > size.max_height_m * c.size_slack:
            return "too_large"
        return None

    def _supported(self, label: str, box: np.ndarray, seg_labels: np.ndarray, image_area_px: float) -> bool:
        c = self.config
        ids = self._support_ids.get(label)
        if ids is None or len(ids) == 0:
            return True
        x1, y1, x2, y2 = box
        if (x2 - x1) * (y2 - y1) < c.seg_check_min_area_frac * image_area_px:
            return True
        h, w = seg_labels.shape
        xa, xb = int(np.clip(np.floor(x1), 0, w)), int(np.clip(np.ceil(x2), 0, w))
        ya, yb = int(np.clip(np.floor(y1), 0, h)), int(np.clip(np.ceil(y2), 0, h))
        patch = seg_labels[ya:yb, xa:xb]
        if patch.size == 0:
            return True
        return float(np.isin(patch, ids).mean()) >= c.seg_min_support_frac
