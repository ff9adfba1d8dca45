"""The main job as a plain function: frames in, annotated video + frames.jsonl + summary.json out."""

from __future__ import annotations

import signal
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import cv2
import numpy as np

from perception import __version__
from perception.postprocess import Postprocessor
from perception.preprocess import Preprocessor
from perception.results import FrameResult
from perception.sinks import JsonlSink, VideoSink, draw_result, write_json_atomic
from perception.sources import FailedFrame, FrameSource
from perception.timing import StageTimer


class Interrupted(Exception):
    """Raised by a second Ctrl-C/SIGTERM: stop now (outputs are still closed and valid)."""


@dataclass
class PipelineOutputs:
    out_dir: Path
    write_video: bool = True

    @property
    def video(self) -> Path:
        return self.out_dir / "annotated.mp4"

    @property
    def frames(self) -> Path:
        return self.out_dir / "frames.jsonl"

    @property
    def summary(self) -> Path:
        return self.out_dir / "summary.json"


@dataclass
class RunReport:
    """Counts and timing of one run (also what summary.json is built from)."""

    frames_read: int = 0
    frames_processed: int = 0
    frames_failed: int = 0
    interrupted: bool = False
    wall_time_s: float = 0.0
    timer: StageTimer = field(default_factory=StageTimer)


def _failed_record(item: FailedFrame) -> dict[str, Any]:
    return {"frame": item.index, "timestamp_s": round(item.timestamp_s, 6), "status": "failed",
            "error": item.reason, "detections": [], "lanes": [], "segmentation": {}, "ego": None, "plan": None}


def _failed_image(size_wh: tuple[int, int], index: int) -> np.ndarray:
    img = np.zeros((size_wh[1], size_wh[0], 3), np.uint8)
    cv2.putText(img, f"frame {index}: could not be decoded", (20, size_wh[1] // 2), cv2.FONT_HERSHEY_SIMPLEX,
                0.8, (60, 60, 255), 2, cv2.LINE_AA)
    return img


def run_pipeline(source: FrameSource, runner: Any, preprocessor: Preprocessor, postprocessor: Postprocessor,
                 outputs: PipelineOutputs, *, max_frames: int | None = None, weights_info: Any,
                 weights_warning: str | None = None, extra_summary: dict[str, Any] | None = None,
                 enrich: Callable[[FrameResult], None] | None = None, progress: bool = True) -> RunReport:
    """Process every frame of ``source`` and write the three outputs.

    ``enrich`` (optional) adds distances, tracks, plan, ... to each FrameResult before it is written.
    Ctrl-C and SIGTERM stop the loop after the current frame; all files are closed and summary.json
    says ``"interrupted": true``. Returns the RunReport.
    """
    from tqdm import tqdm

    outputs.out_dir.mkdir(parents=True, exist_ok=True)
    report = RunReport()
    timer = report.timer
    info = source.info
    seg_classes = postprocessor.model_config.seg_classes
    road_class = seg_classes.index("road") if "road" in seg_classes else None
    jsonl = JsonlSink(outputs.frames)
    video = VideoSink(outputs.video, info.fps, (info.width_px, info.height_px)) if outputs.write_video else None
    total = info.frame_count if max_frames is None else min(max_frames, info.frame_count or max_frames)
    bar = tqdm(total=total, unit="frame", disable=not progress, file=sys.stderr, dynamic_ncols=True)

    # Ctrl-C / SIGTERM ask the loop to stop at the next frame boundary, so a frame is never half
    # written; a second signal stops at once (files are still closed by the finally block).
    stop = {"requested": False}

    def on_signal(signum, frame):  # noqa: ARG001
        if stop["requested"]:
            raise Interrupted()
        stop["requested"] = True

    previous = {}
    if threading.current_thread() is threading.main_thread():  # signal handlers live in the main thread
        previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    t_start = time.perf_counter()
    fps_smoothed = 0.0
    try:
        frames = source.iter_frames()
        while max_frames is None or report.frames_read < max_frames:
            if stop["requested"]:
                report.interrupted = True
                break
            t_frame = time.perf_counter()
            with timer.stage("decode"):
                item = next(frames, None)
            if item is None:
                break
            if isinstance(item, FailedFrame):
                jsonl.write(_failed_record(item))
                if video is not None:
                    video.write(_failed_image(video.size_wh, item.index))
                report.frames_read += 1
                report.frames_failed += 1
                bar.update(1)
                continue
            with timer.stage("preprocess"):
                net_rgb, params = preprocessor(item.image_bgr)
                batch = net_rgb.transpose(2, 0, 1)[None]  # (1, 3, H, W) uint8
            with timer.stage("inference"):
                raw = runner(batch)
            with timer.stage("postprocess"):
                result = postprocessor({k: v[0] for k, v in raw.items()}, params, item.index, item.timestamp_s)
                if enrich is not None:
                    enrich(result)
            if video is not None:
                with timer.stage("draw"):
                    hud = [f"frame {item.index}  t={item.timestamp_s:.2f}s  {fps_smoothed:.1f} FPS",
                           f"objects {len(result.detections)}  lanes {len(result.lanes)}",
                           "plan: " + (result.plan.get("action") or "-" if result.plan else "n/a (no planner)")]
                    annotated = draw_result(item.image_bgr, result, road_class=road_class, hud_lines=hud,
                                            warning=weights_warning)
            with timer.stage("write"):
                jsonl.write(result.to_json())
                if video is not None:
                    video.write(annotated)
            # Counted only once written: a frame cut short by Ctrl-C is neither read nor processed.
            report.frames_read += 1
            report.frames_processed += 1
            dt = time.perf_counter() - t_frame
            fps_smoothed = 1.0 / dt if fps_smoothed == 0 else 0.9 * fps_smoothed + 0.1 / max(dt, 1e-6)
            bar.update(1)
    except (KeyboardInterrupt, Interrupted):
        report.interrupted = True
    finally:
        report.wall_time_s = time.perf_counter() - t_start
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        bar.close()
        jsonl.close()
        if video is not None:
            video.close()
        source.close()
        summary = build_summary(report, source, outputs, weights_info, extra_summary or {})
        write_json_atomic(outputs.summary, summary)
    return report


def build_summary(report: RunReport, source: FrameSource, outputs: PipelineOutputs, weights_info: Any,
                  extra: dict[str, Any]) -> dict[str, Any]:
    info = source.info
    return {
        "version": __version__,
        "input": {"path": info.path, "kind": info.kind, "fps": info.fps, "frame_count_announced": info.frame_count,
                  "width_px": info.width_px, "height_px": info.height_px, **info.extra},
        "outputs": {"annotated_video": str(outputs.video) if outputs.write_video else None,
                    "frames_jsonl": str(outputs.frames)},
        "frames_read": report.frames_read,
        "frames_processed": report.frames_processed,
        "frames_failed": report.frames_failed,
        "interrupted": report.interrupted,
        "wall_time_s": round(report.wall_time_s, 3),
        "fps": round(report.frames_processed / report.wall_time_s, 2) if report.wall_time_s > 0 else 0.0,
        "latency_ms": report.timer.summary(),
        "weights": weights_info,
        **extra,
    }
