"""Detection mAP with pycocotools (COCO's definition: 101-point interpolated AP, IoU 0.50:0.95)."""

from __future__ import annotations

import contextlib
import io

import numpy as np


class DetectionEvaluator:
    """Collect ground truth and detections image by image, then ``summary()``.

    Boxes are xyxy in pixels. Ignore regions become COCO ``iscrowd`` boxes: detections on them
    count neither as true nor as false positives.
    """

    def __init__(self, class_names: tuple[str, ...]):
        self.class_names = class_names
        self.images: list[dict] = []
        self.gt: list[dict] = []
        self.dt: list[dict] = []

    def add(self, width: int, height: int, gt_boxes: np.ndarray, gt_labels: np.ndarray, ignore_boxes: np.ndarray | None,
            det_boxes: np.ndarray, det_scores: np.ndarray, det_labels: np.ndarray) -> None:
        image_id = len(self.images) + 1
        self.images.append({"id": image_id, "width": int(width), "height": int(height)})

        def ann(box, label, crowd):
            x1, y1, x2, y2 = (float(v) for v in box)
            return {"id": len(self.gt) + 1, "image_id": image_id, "category_id": int(label) + 1,
                    "bbox": [x1, y1, x2 - x1, y2 - y1], "area": (x2 - x1) * (y2 - y1), "iscrowd": crowd}

        for box, label in zip(np.asarray(gt_boxes).reshape(-1, 4), np.asarray(gt_labels).reshape(-1)):
            self.gt.append(ann(box, label, 0))
        if ignore_boxes is not None:
            for box in np.asarray(ignore_boxes).reshape(-1, 4):
                for c in range(len(self.class_names)):  # an ignore region applies to every class
                    self.gt.append(ann(box, c, 1))
        for box, score, label in zip(np.asarray(det_boxes).reshape(-1, 4), np.asarray(det_scores).reshape(-1),
                                     np.asarray(det_labels).reshape(-1)):
            x1, y1, x2, y2 = (float(v) for v in box)
            self.dt.append({"image_id": image_id, "category_id": int(label) + 1, "bbox": [x1, y1, x2 - x1, y2 - y1],
                            "score": float(score)})

    def summary(self) -> dict:
        """{"map_50", "map_50_95", "per_class_ap50": {name: AP or None}, "per_class_gt": {name: count}}."""
        from pycocotools.coco import COCO
        from pycocotools.cocoeval import COCOeval

        counts = {n: 0 for n in self.class_names}
        for a in self.gt:
            if not a["iscrowd"]:
                counts[self.class_names[a["category_id"] - 1]] += 1
        empty = {"map_50": 0.0, "map_50_95": 0.0, "per_class_ap50": {n: None for n in self.class_names},
                 "per_class_gt": counts, "images": len(self.images), "detections": len(self.dt)}
        if not self.images or not any(counts.values()):
            return empty
        coco_gt = COCO()
        coco_gt.dataset = {"images": self.images, "annotations": self.gt,
                           "categories": [{"id": i + 1, "name": n} for i, n in enumerate(self.class_names)]}
        with contextlib.redirect_stdout(io.StringIO()):
            coco_gt.createIndex()
            if not self.dt:
                return empty
            coco_dt = coco_gt.loadRes(self.dt)
            ev = COCOeval(coco_gt, coco_dt, "bbox")
            ev.params.maxDets = [1, 10, 100]
            ev.evaluate()
            ev.accumulate()
            ev.summarize()
        precision = ev.eval["precision"]  # (T iou, R recall, K class, A area, M maxdet)
        per_class = {}
        for k, name in enumerate(self.class_names):
            p = precision[0, :, k, 0, -1]
            per_class[name] = None if counts[name] == 0 or (p < 0).all() else round(float(np.mean(p[p > -1])), 4)
        return {"map_50": round(float(ev.stats[1]), 4), "map_50_95": round(float(ev.stats[0]), 4),
                "per_class_ap50": per_class, "per_class_gt": counts, "images": len(self.images),
                "detections": len(self.dt)}
