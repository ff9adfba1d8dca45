"""The main job as a plain function: frames in, annotated video + frames.jsonl + summary.json out
(and, optionally, an MCAP file for Foxglove).

Never losing work: frames.jsonl is flushed per frame; on Ctrl-C / SIGTERM every file is closed
valid after the current frame; summary.json is written atomically before the first frame (with the input's
identity, which ``--resume`` checks) and rewritten every ``CHECKPOINT_S`` seconds while running
(``"state": "running"``), so even a hard kill leaves a recent one; ``resume`` continues an earlier run after
its last frame (see ``perception.sinks.resume``).
"""

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
from perception.errors import os_error_text
from perception.lanes import hud_lines as lane_hud_lines
from perception.postprocess import Postprocessor
from perception.preprocess import Preprocessor
from perception.results import FrameResult
from perception.sinks import JsonlSink, VideoSink, draw_result, write_json_atomic
from perception.sinks.resume import ResumeState
from perception.sources import FailedFrame, FrameSource
from perception.timing import StageTimer

# summary.json is rewritten (atomically) at most this often while a run goes on (seconds).
CHECKPOINT_S = 10.0


class Interrupted(Exception):
    """Raised by a second Ctrl-C/SIGTERM: stop now (outputs are still closed and valid)."""


@dataclass
class PipelineOutputs:
    """Where the outputs go. ``video_name``: the annotated video's file name in ``out_dir`` (a resumed
    run writes ``annotated.part2.mp4``, ...); ``mcap``: the ``--mcap-out`` file, or None."""

    out_dir: Path
    write_video: bool = True
    video_name: str = "annotated.mp4"
    mcap: Path | None = None

    @property
    def video(self) -> Path:
        return self.out_dir / self.video_name

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
    wall_time_s: float = 0.0  # start-up + processing
    startup_s: float = 0.0  # from the job's start (``started_at``) until the first frame is in hand
    processing_s: float = 0.0  # from the first frame in hand to the end: what FPS is counted over
    timer: StageTimer = field(default_factory=StageTimer)
    first_frame: int = 0  # index of the first frame of this part (> 0 when resumed)
    previous: ResumeState | None = None  # what earlier parts of the run wrote (resumed runs)

    @property
    def fps(self) -> float:
        """Frames processed per second of processing (start-up not counted)."""
        return self.frames_processed / self.processing_s if self.processing_s > 0 else 0.0

    @property
    def total_read(self) -> int:
        return self.frames_read + (self.previous.frames_read if self.previous else 0)

    @property
    def total_processed(self) -> int:
        return self.frames_processed + (self.previous.frames_processed if self.previous else 0)

    @property
    def total_failed(self) -> int:
        return self.frames_failed + (self.previous.frames_failed if self.previous else 0)


def _failed_record(item: FailedFrame) -> dict[str, Any]:
    rec = {"frame": item.index, "timestamp_s": round(item.timestamp_s, 6), "status": "failed",
           "error": item.reason, "detections": [], "lanes": [], "segmentation": {}, "ego": None, "plan": None}
    if item.log_time_ns is not None:
        rec["log_time_ns"] = int(item.log_time_ns)
    return rec


def _log_time_ns(item: Any) -> int:
    """MCAP log time of a frame: the log's own time for driving logs, else ``timestamp_s`` since 0 (ns)."""
    if item.log_time_ns is not None:
        return int(item.log_time_ns)
    return max(0, int(round(item.timestamp_s * 1e9)))


def _plan_text(result: FrameResult | None) -> str:
    if result is None:
        return "n/a (frame failed)"
    if not result.plan:
        return "n/a (no planner)"
    text = result.plan.get("action") or "-"
    if result.plan.get("vetoed"):
        text += f" (VETO of {result.plan.get('policy_action')}: {result.plan.get('reason')})"
    return text


def _failed_image(size_wh: tuple[int, int], index: int) -> np.ndarray:
    img = np.zeros((size_wh[1], size_wh[0], 3), np.uint8)
    cv2.putText(img, f"frame {index}: could not be decoded", (20, size_wh[1] // 2), cv2.FONT_HERSHEY_SIMPLEX,
                0.8, (60, 60, 255), 2, cv2.LINE_AA)
    return img


def run_pipeline(source: FrameSource, runner: Any, preprocessor: Preprocessor, postprocessor: Postprocessor,
                 outputs: PipelineOutputs, *, max_frames: int | None = None, weights_info: Any,
                 weights_warning: str | None = None, extra_summary: dict[str, Any] | None = None,
                 enrich: Callable[[FrameResult], None] | None = None, progress: bool = True,
                 resume: ResumeState | None = None, mcap_metadata: dict[str, str] | None = None,
                 lanes: Callable[[FrameResult, np.ndarray], None] | None = None,
                 input_identity: dict[str, Any] | None = None, started_at: float | None = None,
                 report: RunReport | None = None) -> RunReport:
    """Process every frame of ``source`` and write the outputs.

    ``lanes`` (optional, ``perception.geometry.make_lane_enricher``) gets each FrameResult and its raw frame
    first: it replaces ``result.lanes`` with tracked lane lines and sets ``result.ego``; its ``summary()``
    becomes the ``lanes`` block of summary.json.
    ``enrich`` (optional) then adds distances, tracks, plan, ... to each FrameResult before it is written.
    Ctrl-C and SIGTERM stop the loop after the current frame; all files are closed and summary.json
    says ``"interrupted": true``. ``max_frames`` counts input frames of the whole run (earlier parts
    included). ``resume``: continue after ``resume.next_frame``, appending to frames.jsonl; summary.json
    then describes the whole run. ``input_identity`` (``perception.sinks.resume.input_identity``) goes into
    summary.json's ``input.identity``, written before the first frame. ``started_at``: ``time.perf_counter()``
    when the job started (model loading included; default: now): the time until the first frame is in hand is
    ``startup_s``, FPS is counted over the rest (``processing_s``). ``report``: a RunReport to fill in (so that a
    caller can tell how far a run that raised got); a new one by default. Returns the RunReport (counts of this
    part; totals via ``total_*``).
    """
    from tqdm import tqdm

    outputs.out_dir.mkdir(parents=True, exist_ok=True)
    first_frame = resume.next_frame if resume is not None else 0
    report = report if report is not None else RunReport()
    report.first_frame, report.previous = first_frame, resume
    timer = report.timer
    info = source.info
    seg_classes = postprocessor.model_config.seg_classes
    road_class = seg_classes.index("road") if "road" in seg_classes else None
    budget = None if max_frames is None else max(0, max_frames - (resume.frames_read if resume else 0))
    jsonl = JsonlSink(outputs.frames, append=resume is not None)
    video = VideoSink(outputs.video, info.fps, (info.width_px, info.height_px)) if outputs.write_video else None
    mcap = None
    if outputs.mcap is not None:
        from perception.sinks.mcap_results import McapResultSink

        try:
            mcap = McapResultSink(outputs.mcap, metadata=mcap_metadata)
        except BaseException:
            jsonl.close()
            if video is not None:
                video.close()
            raise
    remaining = None if info.frame_count is None else max(0, info.frame_count - first_frame)
    total = remaining if budget is None else min(budget, remaining if remaining is not None else budget)
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
    t_job = started_at if started_at is not None else t_start
    t_first: float | None = None  # when the first frame (decoded or failed) was in hand
    t_checkpoint = t_start
    state = "failed"  # stays so only when an unexpected error stops the run

    def clock(now: float) -> None:
        """Start-up and processing time as of ``now`` (perf_counter seconds)."""
        report.wall_time_s = now - t_job
        report.startup_s = (t_first if t_first is not None else now) - t_job
        report.processing_s = now - t_first if t_first is not None else 0.0

    errors: list[str] = []  # write failures (a full disk) recorded in summary.json as "error"

    def summary_now(now: str) -> dict[str, Any]:
        summary = build_summary(report, source, outputs, weights_info, extra_summary or {}, state=now,
                                input_identity=input_identity)
        if errors:
            summary["error"] = "; ".join(errors)
        return summary

    fps_smoothed = 0.0
    frame_stages = ["decode", "preprocess", "inference", "postprocess"] + (["lanes"] if lanes is not None else []) \
        + (["enrich"] if enrich is not None else []) + (["draw"] if video is not None else [])
    try:
        write_json_atomic(outputs.summary, summary_now("running"))  # the input's identity, before any frame
        frames = source.iter_frames(first_frame)
        while budget is None or report.frames_read < budget:
            if stop["requested"]:
                report.interrupted = True
                break
            if time.perf_counter() - t_checkpoint > CHECKPOINT_S:
                t_checkpoint = time.perf_counter()
                clock(t_checkpoint)
                write_json_atomic(outputs.summary, summary_now("running"))
            t_frame = time.perf_counter()
            with timer.stage("decode"):
                item = next(frames, None)
            if item is None:
                break
            if t_first is None:  # opening the input, seeking (a resumed run skips the frames done) is start-up
                t_first = time.perf_counter()
            if isinstance(item, FailedFrame):
                record = _failed_record(item)
                jsonl.write(record)
                if video is not None or mcap is not None:
                    placeholder = _failed_image((info.width_px, info.height_px), item.index)
                    if video is not None:
                        video.write(placeholder)
                    if mcap is not None:
                        mcap.write(record, placeholder, None, _log_time_ns(item),
                                   hud=f"frame {item.index}: could not be decoded")
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
            if lanes is not None:
                with timer.stage("lanes"):
                    lanes(result, item.image_bgr)
            if enrich is not None:
                with timer.stage("enrich"):
                    enrich(result)
            if video is not None:
                with timer.stage("draw"):
                    hud = [f"frame {item.index}  t={item.timestamp_s:.2f}s  {fps_smoothed:.1f} FPS",
                           f"objects {len(result.detections)}  lanes {len(result.lanes)}",
                           "plan: " + _plan_text(result)] + lane_hud_lines(result.ego)
                    annotated = draw_result(item.image_bgr, result, road_class=road_class, hud_lines=hud,
                                            warning=weights_warning)
            with timer.stage("write"):
                record = result.to_json()
                # this frame's stage times (its own write is not done yet): the report's latency over time
                record["latency_ms"] = {name: round(timer.samples_ms[name][-1], 2) for name in frame_stages}
                if item.warning:  # decoded, but the decoder reported damage in or before it
                    record["status"] = "damaged"
                    record["warning"] = item.warning
                if item.log_time_ns is not None:
                    record["log_time_ns"] = int(item.log_time_ns)
                jsonl.write(record)
                # Counted once its record is in frames.jsonl (the run's ledger, which --resume reads): a frame cut
                # short by Ctrl-C before that is neither read nor processed; one whose video or MCAP write then
                # fails (a full disk) is.
                report.frames_read += 1
                report.frames_processed += 1
                if video is not None:
                    video.write(annotated)
                if mcap is not None:
                    hud_text = f"frame {item.index}  plan: {_plan_text(result)}"
                    if weights_warning:
                        hud_text += f"  [{weights_warning}]"
                    mcap.write(record, item.image_bgr, result, _log_time_ns(item), hud=hud_text)
            dt = time.perf_counter() - t_frame
            fps_smoothed = 1.0 / dt if fps_smoothed == 0 else 0.9 * fps_smoothed + 0.1 / max(dt, 1e-6)
            bar.update(1)
        state = "finished"
    except (KeyboardInterrupt, Interrupted):
        report.interrupted = True
    except OSError as e:  # a full disk, a vanished folder: recorded, then raised for the one-line error
        errors.append(os_error_text(e))
        raise
    finally:
        clock(time.perf_counter())
        if report.interrupted:
            state = "interrupted"
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        bar.close()
        for sink in (jsonl, video, mcap):
            if sink is None:
                continue
            try:  # each sink is closed even when another cannot be (no room for its index)
                sink.close()
                if sink is not jsonl and resume is not None and sink.frames_written == 0:
                    sink.path.unlink(missing_ok=True)  # a resumed run with nothing left to do adds no empty part
            except OSError as e:
                errors.append(os_error_text(e))
        source.close()
        if lanes is not None and hasattr(lanes, "summary"):
            extra_summary = {**(extra_summary or {}), "lanes": lanes.summary()}
        if enrich is not None and hasattr(enrich, "summary"):
            extra_summary = {**(extra_summary or {}), **enrich.summary()}
        try:
            write_json_atomic(outputs.summary, summary_now(state))
        except OSError as e:
            if not errors:  # the run itself went well: not being able to say so is the error
                raise
            print(f"warning: summary.json not updated: {os_error_text(e)}", file=sys.stderr)
    if errors:
        raise OSError(errors[0])  # a sink that failed only while closing: the run must not exit 0
    return report


def build_summary(report: RunReport, source: FrameSource, outputs: PipelineOutputs, weights_info: Any,
                  extra: dict[str, Any], *, state: str = "finished",
                  input_identity: dict[str, Any] | None = None) -> dict[str, Any]:
    """summary.json. For a resumed run the counts and times cover the whole run, ``parts`` lists each
    part (its first frame, counts, times, files, latency) and ``latency_ms`` is that of the last part.
    ``wall_time_s`` = ``startup_s`` (loading, opening the input, until the first frame is in hand) +
    ``processing_s`` (from the first frame on); ``fps`` is frames processed per second of processing.

    ``state``: "running" (a checkpoint written during the run), "finished" or "interrupted".
    ``input_identity``: recorded as ``input.identity`` when given (what ``--resume`` compares)."""
    info = source.info
    prev = report.previous
    wall = report.wall_time_s + (prev.wall_time_s if prev else 0.0)
    startup = report.startup_s + (prev.startup_s if prev else 0.0)
    processing = report.processing_s + (prev.processing_s if prev else 0.0)
    video = str(outputs.video) if outputs.write_video else None
    mcap = str(outputs.mcap) if outputs.mcap is not None else None
    summary = {
        "version": __version__,
        "input": {"path": info.path, "kind": info.kind, "fps": info.fps, "frame_count_announced": info.frame_count,
                  "width_px": info.width_px, "height_px": info.height_px, **info.extra},
        "outputs": {"annotated_video": video, "frames_jsonl": str(outputs.frames), "mcap": mcap},
        "state": state,
        "frames_read": report.total_read,
        "frames_processed": report.total_processed,
        "frames_failed": report.total_failed,
        "interrupted": report.interrupted,
        "wall_time_s": round(wall, 3),
        "startup_s": round(startup, 3),
        "processing_s": round(processing, 3),
        "fps": round(report.total_processed / processing, 2) if processing > 0 else 0.0,
        "latency_ms": report.timer.summary(),
        "weights": weights_info,
        **extra,
    }
    if input_identity is not None:
        summary["input"]["identity"] = dict(input_identity)
    damage = getattr(source, "damage", None)
    if damage:
        summary["input_damage"] = list(damage)
    if prev is not None:
        wrote = report.frames_read > 0  # a resumed run with nothing left to do leaves no part (files removed)
        part = {"first_frame": report.first_frame, "frames_read": report.frames_read,
                "frames_processed": report.frames_processed, "frames_failed": report.frames_failed,
                "interrupted": report.interrupted, "wall_time_s": round(report.wall_time_s, 3),
                "startup_s": round(report.startup_s, 3), "processing_s": round(report.processing_s, 3),
                "annotated_video": video if wrote else None, "mcap": mcap if wrote else None,
                "latency_ms": summary["latency_ms"]}
        parts = list(prev.parts) + ([part] if wrote or report.interrupted else [])
        summary["resumed_from_frame"] = report.first_frame
        summary["parts"] = parts
        summary["outputs"]["annotated_video_parts"] = [p["annotated_video"] for p in parts if p.get("annotated_video")]
        summary["outputs"]["mcap_parts"] = [p["mcap"] for p in parts if p.get("mcap")]
        for key in ("annotated_video", "mcap"):  # the plain names point at the first part
            found = summary["outputs"][f"{key}_parts"]
            summary["outputs"][key] = found[0] if found else None
        if prev.bytes_dropped:
            summary["frames_jsonl_bytes_dropped"] = prev.bytes_dropped
    return summary
