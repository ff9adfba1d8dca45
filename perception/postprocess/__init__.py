"""Postprocessing: raw network outputs of one image -> FrameResult in original pixels."""

from __future__ import annotations

import numpy as np

from perception.model.config import ModelConfig
from perception.postprocess.detection import DetectionDecodeConfig, decode_detections
from perception.postprocess.lanes import LaneDecodeConfig, decode_lanes
from perception.postprocess.segmentation import class_fractions, labels_to_src, seg_labels_small
from perception.preprocess import LetterboxParams, Preprocessor
from perception.results import Detection, FrameResult

__all__ = ["Postprocessor", "DetectionDecodeConfig", "LaneDecodeConfig", "decode_detections", "decode_lanes"]

DENSE_DOWNSAMPLE = 4  # the segmentation and lane heads predict on a stride-4 grid


class Postprocessor:
    """Decode one image's outputs (dict of numpy arrays without the batch axis) into a FrameResult."""

    def __init__(self, model_config: ModelConfig, preprocessor: Preprocessor,
                 det: DetectionDecodeConfig = DetectionDecodeConfig(), lanes: LaneDecodeConfig = LaneDecodeConfig(),
                 decode_lane_head: bool = True):
        self.model_config = model_config
        self.pre = preprocessor
        self.det_config = det
        self.lane_config = lanes
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
            result.lanes = decode_lanes(out["lane_logits"][0], DENSE_DOWNSAMPLE, params.valid_region_net(),
                                        lambda p: self.pre.src_from_net(p, params), params.src_size_wh[0],
                                        self.lane_config)
        return result
