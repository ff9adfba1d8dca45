"""Run a model (any Runner) over a dataset reader and compute the task metrics.

Inference is done exactly as in ``perception.run``: letterbox to the network size, uint8 in,
outputs mapped back to the original image. Segmentation logits are upsampled bilinearly to the
original resolution before the argmax; detections use a low score threshold (0.05) for mAP.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from calibration import CameraModel
from datasets.idd import IDD_COARSE_CLASSES, coarse_lut
from perception.metrics.detection import DetectionEvaluator, operating_point
from perception.metrics.lanes import LaneEvaluator
from perception.metrics.segmentation import ConfusionMatrix
from perception.model.config import ModelConfig
from perception.lanes.single import detect_image_lanes
from perception.model.outputs import LANE_ROW_OUTPUT
from perception.postprocess import decode_network_lanes
from perception.postprocess.detection import DetectionDecodeConfig, decode_detections
from perception.postprocess.plausibility import REASONS, PlausibilityFilter
from perception.preprocess import Preprocessor

MAP_DECODE = DetectionDecodeConfig(conf_threshold=0.05, max_detections=100)
# Lane sources ``evaluate_reader`` can score: the network's row-anchor head, its lane-mask head, the classical
# finder on the still (perception.lanes.single.detect_image_lanes); "auto" = rows when the network has them, else mask.
LANE_SOURCES = ("auto", "rows", "mask", "classical")


def seg_labels_full(seg_logits: np.ndarray, params: Any) -> np.ndarray:
    """(K, h, w) stride-4 logits -> (H, W) labels of the original image (bilinear logits, then argmax)."""
    x = torch.from_numpy(np.asarray(seg_logits, np.float32))[None]
    net_w, net_h = params.dst_size_wh
    x = F.interpolate(x, size=(net_h, net_w), mode="bilinear", align_corners=False)
    x0, y0, x1, y1 = params.valid_region_net()
    x = x[..., y0:y1, x0:x1]
    w, h = params.src_size_wh
    x = F.interpolate(x, size=(h, w), mode="bilinear", align_corners=False)
    return x[0].argmax(0).numpy().astype(np.uint8)


KITTI_CAMERA_HEIGHT_M = 1.65  # KITTI's colour cameras above the road (Geiger et al., IJRR 2013, sensor setup)


def camera_for_sample(sample: Any) -> CameraModel | None:
    """A mounted camera for a sample whose dataset documents one (KITTI: P2 and 1.65 m, level), else None."""
    calib = sample.meta.get("calib") if isinstance(sample.meta, dict) else None
    if not calib or "P2" not in calib:
        return None
    p2 = np.asarray(calib["P2"], np.float64)
    return CameraModel(sample.width, sample.height, p2[0, 0], p2[1, 1], p2[0, 2], p2[1, 2],
                       height_m=KITTI_CAMERA_HEIGHT_M, name="KITTI P2, documented mounting height")


def evaluate_reader(runner: Any, config: ModelConfig, reader: Any, *, tasks: tuple[str, ...] = ("det", "seg", "lane"),
                    progress: bool = False, limit: int | None = None, score_threshold: float = 0.3,
                    lane_source: str = "auto") -> dict[str, Any]:
    """Metrics of ``runner`` on every sample of ``reader`` that carries labels for a task in ``tasks``.

    Returns {"segmentation": {...}}, {"coarse_segmentation": {...}} (IDD-Lite's level-1 classes),
    {"detection": {...}, "detection_filtered": {...}} and/or {"lanes": {...}} for the tasks with labelled
    samples. ``detection`` scores the raw decoded boxes; ``detection_filtered`` the boxes that pass the
    plausibility filter (``perception.postprocess.plausibility``) as ``perception.run`` applies it, with the
    geometric checks where the dataset documents a mounting (KITTI). Both carry ``at_threshold``: precision,
    recall and large unmatched boxes at ``score_threshold``. ``lane_source`` (``LANE_SOURCES``) picks what the lane
    metrics score; ``results["lanes"]["source"]`` says which one ran.
    """
    from tqdm import tqdm

    if lane_source not in LANE_SOURCES:
        raise ValueError(f"unknown lane source {lane_source!r}; expected one of {LANE_SOURCES}")
    source_used = lane_source

    pre = Preprocessor(config.input_size_wh)
    cm = ConfusionMatrix(len(config.seg_classes))
    coarse_cm = ConfusionMatrix(len(IDD_COARSE_CLASSES))
    to_coarse = coarse_lut(config.seg_classes)
    det = DetectionEvaluator(config.det_classes)
    det_filtered = DetectionEvaluator(config.det_classes)
    plausibility = {r: 0 for r in REASONS}
    lanes = LaneEvaluator()
    n_seg = n_det = n_lane = n_coarse = 0
    n = len(reader) if limit is None else min(limit, len(reader))
    for i in tqdm(range(n), disable=not progress, desc="evaluate", unit="img"):
        sample = reader[i]
        want_seg = "seg" in tasks and sample.seg_mask is not None
        want_det = "det" in tasks and sample.boxes_xyxy is not None
        want_lane = "lane" in tasks and sample.lanes is not None
        want_coarse = "seg" in tasks and sample.meta.get("coarse_mask") is not None
        if not (want_seg or want_det or want_lane or want_coarse):
            continue
        rgb, params = pre(sample.image_bgr)
        out = runner(rgb.transpose(2, 0, 1)[None])
        seg_pred = seg_labels_full(out["seg_logits"][0], params) if want_seg or want_det or want_coarse else None
        if want_seg:
            cm.update(sample.seg_mask, seg_pred)
            n_seg += 1
        if want_coarse:
            coarse_cm.update(sample.meta["coarse_mask"], to_coarse[seg_pred])
            n_coarse += 1
        if want_det:
            boxes, scores, labels = decode_detections(out["det_cls_logits"][0], out["det_ctr_logits"][0],
                                                      out["det_boxes_xyxy"][0], MAP_DECODE)
            src_boxes = pre.boxes_src_from_net(boxes, params)
            det.add(sample.width, sample.height, sample.boxes_xyxy, sample.labels, sample.ignore_boxes_xyxy,
                    src_boxes, scores, labels)
            filt = PlausibilityFilter(config.seg_classes, camera_for_sample(sample))
            reasons = filt.reasons([config.det_classes[k] for k in labels], src_boxes,
                                   (sample.width, sample.height), seg_pred)
            keep = np.array([r is None for r in reasons], bool)
            for r in reasons:
                if r is not None:
                    plausibility[r] += 1
            det_filtered.add(sample.width, sample.height, sample.boxes_xyxy, sample.labels, sample.ignore_boxes_xyxy,
                             src_boxes[keep], scores[keep], labels[keep])
            n_det += 1
        if want_lane:
            if lane_source == "classical":
                pred = detect_image_lanes(sample.image_bgr)
            else:
                one = {k: v[0] for k, v in out.items()}
                pred = decode_network_lanes(one, config, params, lambda p: pre.src_from_net(p, params), lane_source)
                source_used = lane_source if lane_source != "auto" else ("rows" if LANE_ROW_OUTPUT in one else "mask")
            lanes.add([lane.points_xy for lane in pred], list(sample.lanes), sample.width,
                      sample.meta.get("h_samples"))  # None: labelled points only (perception.metrics.lanes)
            n_lane += 1
    results: dict[str, Any] = {}
    if n_lane:
        results["lanes"] = {"source": source_used, **lanes.summary()}
    if n_seg:
        seg = cm.summary(config.seg_classes)
        seg["images"] = n_seg
        seg["road_iou"] = seg["per_class_iou"].get("road")
        results["segmentation"] = seg
    if n_coarse:
        coarse = coarse_cm.summary(IDD_COARSE_CLASSES)
        coarse["images"] = n_coarse
        results["coarse_segmentation"] = coarse
    if n_det:
        results["detection"] = {**det.summary(), "at_threshold": operating_point(det, score_threshold)}
        results["detection_filtered"] = {**det_filtered.summary(),
                                         "at_threshold": operating_point(det_filtered, score_threshold),
                                         "suppressed": plausibility}
    return results


def evaluate_runner(runner: Any, *, data_root: str | None = None, limit: int | None = None) -> dict[str, float]:
    """Headline validation numbers of any runner (``deploy.benchmark``'s accuracy columns).

    CamVid val mIoU and Apollo val AP50 (the 20 % split off Apollo's train folder), read from
    ``data_root`` (default: ``../shared/data`` beside the repository). ``runner.model_config`` gives
    the classes and input size.
    """
    from pathlib import Path

    from datasets import open_dataset

    root = Path(data_root) if data_root else Path(__file__).resolve().parents[2] / "shared" / "data"
    cfg = runner.model_config
    seg = evaluate_reader(runner, cfg, open_dataset("camvid", root / "camvid", "val"), tasks=("seg",), limit=limit)
    det = evaluate_reader(runner, cfg, open_dataset("apollo", root / "apollo_2d_obstacle_dotah88", "val"),
                          tasks=("det",), limit=limit)
    return {"camvid_val_miou": seg["segmentation"]["miou"], "apollo_ap50": det["detection"]["map_50"]}
