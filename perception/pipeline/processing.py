"""What happens to one frame between decoding and writing, as steps the loop can run in order or in threads.

A ``Work`` item carries one input frame through the steps of ``FrameProcessor``:
``infer`` (preprocess + network), ``postprocess`` (boxes, masks, lane head), ``track`` (lanes from the picture, then
distances, tracking and planning) and ``draw`` (the annotated picture). Each step fills fields of the item and adds
its time to ``latency_ms``. ``track`` keeps state from frame to frame (trackers), so frames must reach it in
order; the others keep none. A frame that could not be decoded passes through untouched.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable

import cv2
import numpy as np

from perception.lanes import hud_lines as lane_hud_lines
from perception.postprocess import Postprocessor
from perception.preprocess import Preprocessor
from perception.results import FrameResult
from perception.sinks import draw_result
from perception.sources import FailedFrame, Frame

SEG_STRIDE_PX = 4  # the segmentation head's output stride, in network pixels


@dataclass
class Work:
    """One input frame on its way through the steps. ``item``: the source's Frame or FailedFrame. ``raw``: the
    network's outputs for it (batch of 1). ``latency_ms``: milliseconds per step, in the order they ran."""

    item: Frame | FailedFrame
    t_read: float = 0.0  # time.perf_counter() when it was decoded
    params: Any = None
    raw: dict[str, np.ndarray] | None = None
    result: FrameResult | None = None
    annotated_bgr: np.ndarray | None = None
    latency_ms: dict[str, float] = field(default_factory=dict)

    @property
    def failed(self) -> bool:
        return isinstance(self.item, FailedFrame)


class _Timed:
    def __init__(self, work: Work, name: str):
        self.work, self.name = work, name

    def __enter__(self) -> None:
        self.t0 = time.perf_counter()

    def __exit__(self, *exc: Any) -> None:
        self.work.latency_ms[self.name] = (time.perf_counter() - self.t0) * 1000.0


def plan_text(result: FrameResult | None) -> str:
    """The planner's decision in a few words, for the picture's and the MCAP file's HUD."""
    if result is None:
        return "n/a (frame failed)"
    if not result.plan:
        return "n/a (no planner)"
    text = result.plan.get("action") or "-"
    if result.plan.get("vetoed"):
        text += f" (VETO of {result.plan.get('policy_action')}: {result.plan.get('reason')})"
    speed = result.plan.get("ego_speed_mps")
    if speed is not None:
        where = {"log": "log", "lane_flow": "lane flow"}.get(result.plan.get("ego_speed_from"), "assumed")
        text += f"  ego {speed:.0f} m/s ({where})"
    return text


def failed_image(size_wh: tuple[int, int], index: int) -> np.ndarray:
    """The picture shown for a frame that could not be decoded (H x W x 3 uint8, ``size_wh`` = (W, H))."""
    img = np.zeros((size_wh[1], size_wh[0], 3), np.uint8)
    cv2.putText(img, f"frame {index}: could not be decoded", (20, size_wh[1] // 2), cv2.FONT_HERSHEY_SIMPLEX,
                0.8, (60, 60, 255), 2, cv2.LINE_AA)
    return img


class FrameProcessor:
    """The per-frame steps of the main job.

    ``runner``: the network (``perception.backends``): a dict of (1, ...) arrays from a (1, 3, H, W) uint8 batch.
    ``lanes`` (optional, ``perception.geometry.make_lane_enricher``) gets each FrameResult and its raw frame: it
    replaces ``result.lanes`` with tracked lane lines and sets ``result.ego``. ``enrich`` (optional) then adds
    distances, tracks, plan, ... Either may have ``summary()``: the ``lanes`` block, and blocks of their own, of
    summary.json. ``weights_warning``: shown on every drawn frame (untrained weights). ``fps``: the frame rate
    the HUD shows (set by the loop as frames are written). ``independent_frames``: every frame stands alone
    (unrelated stills): ``lanes`` and ``enrich`` are ``reset()`` before each, so nothing is tracked across frames.
    """

    def __init__(self, runner: Any, preprocessor: Preprocessor, postprocessor: Postprocessor, *,
                 lanes: Callable[[FrameResult, np.ndarray], None] | None = None,
                 enrich: Callable[[FrameResult], None] | None = None, weights_warning: str | None = None,
                 independent_frames: bool = False):
        self.runner, self.preprocessor, self.postprocessor = runner, preprocessor, postprocessor
        self.lanes, self.enrich, self.weights_warning = lanes, enrich, weights_warning
        self.independent_frames = independent_frames
        seg_classes = postprocessor.model_config.seg_classes
        self.road_class = seg_classes.index("road") if "road" in seg_classes else None
        self.fps = 0.0

    def steps(self, draw: bool) -> list[tuple[str, Callable[[Work], Work]]]:
        """The steps in order, named; ``draw`` adds the drawing step."""
        steps = [("infer", self.infer), ("postprocess", self.postprocess), ("track", self.track)]
        return steps + ([("draw", self.draw)] if draw else [])

    def infer(self, work: Work) -> Work:
        if work.failed:
            return work
        with _Timed(work, "preprocess"):
            net_rgb, work.params = self.preprocessor(work.item.image_bgr)
            batch = net_rgb.transpose(2, 0, 1)[None]  # (1, 3, H, W) uint8
        with _Timed(work, "inference"):
            work.raw = self.runner(batch)
        return work

    def postprocess(self, work: Work) -> Work:
        if work.failed:
            return work
        item = work.item
        with _Timed(work, "postprocess"):
            work.result = self.postprocessor({k: v[0] for k, v in work.raw.items()}, work.params, item.index,
                                             item.timestamp_s)
            work.result.ego_speed_mps = getattr(item, "ego_speed_mps", None)
        work.raw = None  # the network's outputs are not needed any more
        return work

    def track(self, work: Work) -> Work:
        if work.failed:
            return work
        if self.independent_frames:
            for stage in (self.lanes, self.enrich):
                if hasattr(stage, "reset"):
                    stage.reset()
        if self.lanes is not None:
            with _Timed(work, "lanes"):
                self.lanes(work.result, work.item.image_bgr)
        if self.enrich is not None:
            with _Timed(work, "enrich"):
                self.enrich(work.result)
        return work

    def draw(self, work: Work) -> Work:
        if work.failed:  # the loop shows its placeholder picture
            return work
        item, result = work.item, work.result
        with _Timed(work, "draw"):
            when = "" if self.independent_frames else f"  t={item.timestamp_s:.2f}s  {self.fps:.1f} FPS"
            hud = [f"frame {item.index}{when}",
                   f"objects {len(result.detections)}  lanes {len(result.lanes)}",
                   "plan: " + plan_text(result)] + lane_hud_lines(result.ego)
            cell_px = SEG_STRIDE_PX / min(work.params.sx, work.params.sy) if work.params is not None else 0.0
            work.annotated_bgr = draw_result(item.image_bgr, result, road_class=self.road_class, hud_lines=hud,
                                             warning=self.weights_warning, mask_cell_px=cell_px)
        return work

    def summary(self) -> dict[str, Any]:
        """summary.json blocks of the stateful steps: ``lanes`` and the enrich stages' own."""
        out: dict[str, Any] = {}
        if self.lanes is not None and hasattr(self.lanes, "summary"):
            out["lanes"] = self.lanes.summary()
        if self.enrich is not None and hasattr(self.enrich, "summary"):
            out.update(self.enrich.summary())
        return out
