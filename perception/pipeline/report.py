"""Counts and times of a run (``RunReport``) and the summary.json built from them (``build_summary``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from perception import __version__
from perception.pipeline.config import PipelineOutputs
from perception.sinks.resume import ResumeState
from perception.sources import FrameSource
from perception.timing import StageTimer


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
    rerun = str(outputs.rerun) if outputs.rerun is not None else None
    summary = {
        "version": __version__,
        "input": {"path": info.path, "kind": info.kind, "fps": info.fps, "frame_count_announced": info.frame_count,
                  "width_px": info.width_px, "height_px": info.height_px, **info.extra},
        "outputs": {"annotated_video": video, "frames_jsonl": str(outputs.frames), "mcap": mcap,
                    **({"rerun": rerun} if rerun else {}),
                    **({"annotated_images": str(outputs.images_dir)} if outputs.annotated_images else {})},
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
