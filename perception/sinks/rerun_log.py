"""``--rerun-out FILE.rrd``: the run as a Rerun recording (rerun-sdk, optional extra ``rerun``), opened with
``rerun FILE.rrd``.

Timelines: ``frame`` (the input's frame number) and ``time`` (``timestamp_s``; for driving logs also ``log_time``,
the log's own clock). Entities, all in the input image's pixels (x right, y down):

- ``camera/image``: the input frame (JPEG);
- ``camera/segmentation``: the class of every pixel (``seg_labels``), with the class names and colours as its
  annotation context, so the viewer overlays it on the image;
- ``camera/detections``: boxes with ``#track label score`` and the class id;
- ``camera/lanes``: lane lines as line strips, labelled with their side;
- ``scalars/fps``, ``scalars/latency_ms``, ``scalars/lane_offset_m``, ``scalars/detections``: plots over time;
- ``plan``: the planner's decision as a text log (a warning when the veto changed it).
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from perception.results import FrameResult

JPEG_QUALITY = 85
SEG_COLOURS_RGB = [(128, 64, 128), (244, 35, 232), (70, 70, 70), (107, 142, 35), (70, 130, 180), (153, 153, 153),
                   (220, 220, 0), (190, 153, 153), (0, 0, 142), (220, 20, 60), (255, 0, 0)]


class RerunSink:
    """Writes one Rerun recording to ``path`` (``.rrd``). ``seg_classes`` and ``det_classes`` name the class ids."""

    def __init__(self, path: str | Path, *, seg_classes: tuple[str, ...], det_classes: tuple[str, ...],
                 application_id: str = "perception"):
        import rerun as rr

        self.path = Path(path)
        self._rr = rr
        self._rec = rr.RecordingStream(application_id, recording_id=uuid.uuid4())
        self._rec.save(str(self.path))
        self.frames_written = 0
        seg = [rr.AnnotationInfo(id=i, label=name, color=SEG_COLOURS_RGB[i % len(SEG_COLOURS_RGB)])
               for i, name in enumerate(seg_classes)]
        self._rec.log("camera/segmentation", rr.AnnotationContext(seg), static=True)
        det = [rr.AnnotationInfo(id=i, label=name) for i, name in enumerate(det_classes)]
        self._rec.log("camera/detections", rr.AnnotationContext(det), static=True)

    def write(self, record: dict[str, Any], image_bgr: np.ndarray, result: FrameResult | None,
              log_time_ns: int | None = None, fps: float | None = None) -> None:
        rr, rec = self._rr, self._rec
        rec.set_time("frame", sequence=int(record["frame"]))
        rec.set_time("time", duration=float(record.get("timestamp_s", 0.0)))
        if log_time_ns is not None:
            rec.set_time("log_time", timestamp=np.datetime64(int(log_time_ns), "ns"))
        ok, jpeg = cv2.imencode(".jpg", image_bgr, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
        if ok:
            rec.log("camera/image", rr.EncodedImage(contents=jpeg.tobytes(), media_type="image/jpeg"))
        self.frames_written += 1
        if result is None:  # a frame that could not be decoded: its placeholder picture only
            rec.log("plan", rr.TextLog(f"frame {record['frame']}: {record.get('error', 'failed')}",
                                       level=rr.TextLogLevel.WARN))
            return
        if result.seg_labels is not None:
            rec.log("camera/segmentation", rr.SegmentationImage(result.seg_labels))
        dets = result.detections
        boxes = np.array([d.box_xyxy for d in dets], dtype=np.float32).reshape(-1, 4)
        labels = [(f"#{d.track_id} " if d.track_id is not None else "") + f"{d.label} {d.score:.2f}" for d in dets]
        rec.log("camera/detections", rr.Boxes2D(array=boxes, array_format=rr.Box2DFormat.XYXY, labels=labels,
                                                class_ids=[d.class_id for d in dets]))
        rec.log("camera/lanes", rr.LineStrips2D([np.asarray(lane.points_xy, np.float32) for lane in result.lanes],
                                                labels=[lane.side or "other" for lane in result.lanes]))
        rec.log("scalars/detections", rr.Scalars(float(len(dets))))
        latency = record.get("latency_ms") or {}
        if latency:
            rec.log("scalars/latency_ms", rr.Scalars(float(sum(latency.values()))))
        if fps:
            rec.log("scalars/fps", rr.Scalars(float(fps)))
        offset = (result.ego or {}).get("lane_offset_m")
        if offset is not None:
            rec.log("scalars/lane_offset_m", rr.Scalars(float(offset)))
        if result.plan:
            vetoed = bool(result.plan.get("vetoed"))
            text = str(result.plan.get("action"))
            if vetoed:
                text += f" (veto of {result.plan.get('policy_action')}: {result.plan.get('reason')})"
            rec.log("plan", rr.TextLog(text, level=rr.TextLogLevel.WARN if vetoed else rr.TextLogLevel.INFO))

    def close(self) -> None:
        if self._rec is not None:
            self._rec.flush()
            self._rec.disconnect()
            self._rec = None
