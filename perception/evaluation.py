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

from perception.metrics.detection import DetectionEvaluator
from perception.metrics.lanes import LaneEvaluator
from perception.metrics.segmentation import ConfusionMatrix
from perception.model.config import ModelConfig
from perception.postprocess.detection import DetectionDecodeConfig, decode_detections
from perception.postprocess.lanes import decode_lanes
from perception.preprocess import Preprocessor

MAP_DECODE = DetectionDecodeConfig(conf_threshold=0.05, max_detections=100)


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


def evaluate_reader(runner: Any, config: ModelConfig, reader: Any, *, tasks: tuple[str, ...] = ("det", "seg", "lane"),
                    progress: bool = False, limit: int | None = None) -> dict[str, Any]:
    """Metrics of ``runner`` on every sample of ``reader`` that carries labels for a task in ``tasks``.

    Returns {"segmentation": {...}} and/or {"detection": {...}} for the tasks with labelled samples.
    """
    from tqdm import tqdm

    pre = Preprocessor(config.input_size_wh)
    cm = ConfusionMatrix(len(config.seg_classes))
    det = DetectionEvaluator(config.det_classes)
    lanes = LaneEvaluator()
    n_seg = n_det = n_lane = 0
    n = len(reader) if limit is None else min(limit, len(reader))
    for i in tqdm(range(n), disable=not progress, desc="evaluate", unit="img"):
        sample = reader[i]
        want_seg = "seg" in tasks and sample.seg_mask is not None
        want_det = "det" in tasks and sample.boxes_xyxy is not None
        want_lane = "lane" in tasks and sample.lanes is not None
        if not (want_seg or want_det or want_lane):
            continue
        rgb, params = pre(sample.image_bgr)
        out = runner(rgb.transpose(2, 0, 1)[None])
        if want_seg:
            cm.update(sample.seg_mask, seg_labels_full(out["seg_logits"][0], params))
            n_seg += 1
        if want_det:
            boxes, scores, labels = decode_detections(out["det_cls_logits"][0], out["det_ctr_logits"][0],
                                                      out["det_boxes_xyxy"][0], MAP_DECODE)
            det.add(sample.width, sample.height, sample.boxes_xyxy, sample.labels, sample.ignore_boxes_xyxy,
                    pre.boxes_src_from_net(boxes, params), scores, labels)
            n_det += 1
        if want_lane:
            pred = decode_lanes(out["lane_logits"][0][0], 4, params.valid_region_net(),
                                lambda p: pre.src_from_net(p, params), sample.width)
            lanes.add([lane.points_xy for lane in pred], list(sample.lanes), sample.width,
                      sample.meta.get("h_samples"))  # None: labelled points only (perception.metrics.lanes)
            n_lane += 1
    results: dict[str, Any] = {}
    if n_lane:
        results["lanes"] = lanes.summary()
    if n_seg:
        seg = cm.summary(config.seg_classes)
        seg["images"] = n_seg
        seg["road_iou"] = seg["per_class_iou"].get("road")
        results["segmentation"] = seg
    if n_det:
        results["detection"] = det.summary()
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
