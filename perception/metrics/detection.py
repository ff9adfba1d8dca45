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


def _intersection(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Intersection areas (N, M) of xywh boxes a (N, 4) and b (M, 4)."""
    a_x2, a_y2 = a[:, None, 0] + a[:, None, 2], a[:, None, 1] + a[:, None, 3]   # (N, 1)
    b_x2, b_y2 = b[None, :, 0] + b[None, :, 2], b[None, :, 1] + b[None, :, 3]   # (1, M)
    iw = np.minimum(a_x2, b_x2) - np.maximum(a[:, None, 0], b[None, :, 0])
    ih = np.minimum(a_y2, b_y2) - np.maximum(a[:, None, 1], b[None, :, 1])
    return iw.clip(0) * ih.clip(0)


def _iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU matrix (N, M) of xywh boxes a (N, 4) and b (M, 4)."""
    inter = _intersection(a, b)
    union = (a[:, 2] * a[:, 3])[:, None] + (b[:, 2] * b[:, 3])[None] - inter
    return inter / np.maximum(union, 1e-9)


def _ioa(a: np.ndarray, regions: np.ndarray) -> np.ndarray:
    """Share (N, M) of each xywh box a covered by each xywh region."""
    return _intersection(a, regions) / np.maximum((a[:, 2] * a[:, 3])[:, None], 1e-9)


def operating_point(ev: DetectionEvaluator, score_threshold: float, *, iou: float = 0.5,
                    large_frac: float = 0.15) -> dict:
    """Precision and recall of the detections at or above ``score_threshold`` (what a user of ``perception.run``
    sees), per class and overall, by greedy one-to-one matching at IoU >= ``iou`` (best score first).

    A detection with no match that lies at least half inside an ignore region counts neither way. Also
    ``large_unmatched``: detections covering more than ``large_frac`` of the image that overlap no labelled box or
    ignore region with IoU >= ``iou`` (the "phantom truck" count).
    """
    names = ev.class_names
    tp = {n: 0 for n in names}
    fp = {n: 0 for n in names}
    n_gt = {n: 0 for n in names}
    large_unmatched = 0
    by_image: dict[int, tuple[list, list]] = {im["id"]: ([], []) for im in ev.images}
    for a in ev.gt:
        by_image[a["image_id"]][0].append(a)
    for d in ev.dt:
        if d["score"] >= score_threshold:
            by_image[d["image_id"]][1].append(d)
    area = {im["id"]: im["width"] * im["height"] for im in ev.images}
    for image_id, (gts, dts) in by_image.items():
        every_gt = np.array([g["bbox"] for g in gts], np.float64).reshape(-1, 4)
        for d in dts:
            w, h = d["bbox"][2:]
            if w * h > large_frac * area[image_id] and \
                    (len(every_gt) == 0 or _iou(np.array([d["bbox"]]), every_gt).max() < iou):
                large_unmatched += 1
        for k, name in enumerate(names):
            cat = k + 1
            real = [g for g in gts if g["category_id"] == cat and not g["iscrowd"]]
            crowd = np.array([g["bbox"] for g in gts if g["category_id"] == cat and g["iscrowd"]],
                             np.float64).reshape(-1, 4)
            n_gt[name] += len(real)
            cand = sorted((d for d in dts if d["category_id"] == cat), key=lambda d: -d["score"])
            if not cand:
                continue
            boxes = np.array([d["bbox"] for d in cand], np.float64)
            gt_boxes = np.array([g["bbox"] for g in real], np.float64).reshape(-1, 4)
            ious = _iou(boxes, gt_boxes) if len(gt_boxes) else np.zeros((len(cand), 0))
            in_crowd = _ioa(boxes, crowd).max(1) >= 0.5 if len(crowd) else np.zeros(len(cand), bool)
            taken = np.zeros(len(gt_boxes), bool)
            for i in range(len(cand)):
                row = np.where(taken, -1.0, ious[i]) if len(gt_boxes) else np.zeros(0)
                j = int(row.argmax()) if len(row) else -1
                if j >= 0 and row[j] >= iou:
                    taken[j] = True
                    tp[name] += 1
                elif not in_crowd[i]:
                    fp[name] += 1

    def pr(t: int, f: int, g: int) -> dict:
        return {"precision": round(t / (t + f), 4) if t + f else None, "recall": round(t / g, 4) if g else None,
                "tp": t, "fp": f, "gt": g}

    return {"score_threshold": score_threshold, "iou": iou,
            "overall": pr(sum(tp.values()), sum(fp.values()), sum(n_gt.values())),
            "per_class": {n: pr(tp[n], fp[n], n_gt[n]) for n in names},
            "large_unmatched": large_unmatched, "large_frac": large_frac}
