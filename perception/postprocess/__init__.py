"""Postprocessing: raw network outputs of one image -> FrameResult in original pixels."""

from __future__ import annotations

from typing import Callable

import numpy as np

from perception.model.config import ModelConfig
from perception.model.outputs import RowAnchorLayout
from perception.model.outputs import LANE_ROW_OUTPUT
from perception.postprocess.detection import DetectionDecodeConfig, decode_detections
from perception.postprocess.lanes import LaneDecodeConfig, LaneRowDecodeConfig, decode_lane_rows, decode_lanes
from perception.postprocess.segmentation import class_fractions, labels_to_src, seg_labels_small
from perception.preprocess import LetterboxParams, Preprocessor
from perception.results import Detection, FrameResult, LaneLine

__all__ = ["Postprocessor", "DetectionDecodeConfig", "LaneDecodeConfig", "LaneRowDecodeConfig", "decode_detections",
           "decode_lane_rows", "decode_lanes", "decode_network_lanes"]

DENSE_DOWNSAMPLE = 4  # the segmentation and lane heads predict on a stride-4 grid


def decode_network_lanes(out: dict[str, np.ndarray], model_config: ModelConfig, params: LetterboxParams,
                         src_from_net: Callable[[np.ndarray], np.ndarray], source: str = "auto",
                         lanes: LaneDecodeConfig = LaneDecodeConfig(),
                         lane_rows: LaneRowDecodeConfig = LaneRowDecodeConfig()) -> list[LaneLine]:
    """One image's lane polylines (original pixels) from a lane head's outputs (no batch axis).

    ``source``: ``rows`` (the row-anchor head), ``mask`` (the lane-mask head), or ``auto``: rows when the network
    has the row-anchor head (``ModelConfig.lane_rows`` > 0), else mask.
    """
    if source == "auto":
        source = "rows" if LANE_ROW_OUTPUT in out else "mask"
    if source == "rows":
        if LANE_ROW_OUTPUT not in out:
            raise ValueError("these weights have no row-anchor lane head (ModelConfig.lane_rows is 0)")
        return decode_lane_rows(out[LANE_ROW_OUTPUT], RowAnchorLayout.of(model_config), params.valid_region_net(),
                                src_from_net, lane_rows)
    if source != "mask":
        raise ValueError(f"unknown network lane source {source!r}; expected auto, rows or mask")
    logits = out["lane_logits"]
    return decode_lanes(logits.reshape(logits.shape[-2:]), DENSE_DOWNSAMPLE, params.valid_region_net(),
                        src_from_net, params.src_size_wh[0], lanes)


class Postprocessor:
    """Decode one image's outputs (dict of numpy arrays without the batch axis) into a FrameResult.

    Lanes come from the row-anchor head when the network has one, else from the lane-mask head
    (``decode_network_lanes``), unless ``decode_lane_head`` is False.
    """

    def __init__(self, model_config: ModelConfig, preprocessor: Preprocessor,
                 det: DetectionDecodeConfig = DetectionDecodeConfig(), lanes: LaneDecodeConfig = LaneDecodeConfig(),
                 decode_lane_head: bool = True, lane_rows: LaneRowDecodeConfig = LaneRowDecodeConfig()):
        self.model_config = model_config
        self.pre = preprocessor
        self.det_config = det
        self.lane_config = lanes
        self.lane_row_config = lane_rows
        self.decode_lane_head = decode_lane_head  # False when another lane source replaces the head's lines

    def __call__(self, out: dict[str, np.ndarray], params: LetterboxParams, frame: int,
                 timestamp_s: float) -> FrameResult:
        result = FrameResult(frame=frame, timestamp_s=timestamp_s)
        boxes, scores, class_ids = decode_detections(out["det_cls_logits"], out["det_ctr_logits"],
                                                     out["det_boxes_xyxy"], self.det_config)
        src_boxes = self.pre.boxes_src_from_net(boxes, params)
        names = self.model_config.det_classes
        for box, score, cid in zip(src_boxes, scores, class_ids):
            if box[2] - box[0] < 1.0 or box[3] - box[1] < 1.0:
                continue  # nothing left inside the image
            result.detections.append(Detection(label=names[int(cid)], class_id=int(cid), score=float(score),
                                               box_xyxy=tuple(float(v) for v in box)))
        grid = self.pre.src_grid_in_net(params, DENSE_DOWNSAMPLE)
        result.seg_labels = labels_to_src(seg_labels_small(out["seg_logits"]), grid)
        result.seg_fractions = class_fractions(result.seg_labels, self.model_config.seg_classes)
        if self.decode_lane_head:
            result.lanes = decode_network_lanes(out, self.model_config, params,
                                                lambda p: self.pre.src_from_net(p, params), "auto",
                                                self.lane_config, self.lane_row_config)
        return result
