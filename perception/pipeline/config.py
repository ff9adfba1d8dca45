"""What one run of the frame loop is given: where its files go (``PipelineOutputs``) and how it runs
(``PipelineConfig``)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from perception.sinks.resume import ResumeState


@dataclass
class PipelineOutputs:
    """Where the outputs go. ``video_name``: the annotated video's file name in ``out_dir`` (a resumed
    run writes ``annotated.part2.mp4``, ...); ``mcap``: the ``--mcap-out`` file, or None; ``rerun``: the
    ``--rerun-out`` file, or None. ``annotated_images``:
    for stills, each annotated picture goes to ``annotated/<the still's name>`` instead of a video."""

    out_dir: Path
    write_video: bool = True
    video_name: str = "annotated.mp4"
    mcap: Path | None = None
    annotated_images: bool = False
    rerun: Path | None = None

    def __post_init__(self) -> None:
        if self.write_video and self.annotated_images:
            raise ValueError("annotated stills and an annotated video exclude each other")

    @property
    def video(self) -> Path:
        return self.out_dir / self.video_name

    @property
    def images_dir(self) -> Path:
        return self.out_dir / "annotated"

    @property
    def frames(self) -> Path:
        return self.out_dir / "frames.jsonl"

    @property
    def summary(self) -> Path:
        return self.out_dir / "summary.json"


def machine_threads() -> int:
    """CPU cores this process may run on (``os.sched_getaffinity``; ``os.cpu_count`` where that is missing)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


@dataclass
class PipelineConfig:
    """How the loop runs.

    ``threads``: CPU threads for the job; with 2 or more the stages (decode, inference, post-processing,
    lanes + tracking, drawing) run in their own threads with small queues between them, frames in order;
    1 runs them one after the other in this thread. ``max_frames`` counts input frames of the whole run (earlier
    parts of a resumed run included). ``resume``: continue after ``resume.next_frame``. ``input_identity``
    (``perception.sinks.resume.input_identity``) goes into summary.json before the first frame. ``started_at``:
    ``time.perf_counter()`` at the job's start (model loading included; None: now). ``weights_info`` and
    ``extra_summary`` go into summary.json as they are. ``stride``: only frames whose index is a multiple of it;
    ``start_s`` / ``end_s``: only frames with ``start_s <= timestamp_s < end_s`` (the others are neither read
    nor written: frames.jsonl keeps the input's frame numbers).
    """

    outputs: PipelineOutputs
    weights_info: Any = None
    extra_summary: dict[str, Any] = field(default_factory=dict)
    threads: int = field(default_factory=machine_threads)
    max_frames: int | None = None
    progress: bool = True
    resume: ResumeState | None = None
    input_identity: dict[str, Any] | None = None
    started_at: float | None = None
    stride: int = 1
    start_s: float = 0.0
    end_s: float | None = None

    def __post_init__(self) -> None:
        if self.stride < 1:
            raise ValueError(f"stride must be >= 1, got {self.stride}")
        if self.end_s is not None and self.end_s <= self.start_s:
            raise ValueError(f"end_s ({self.end_s}) must be after start_s ({self.start_s})")
        if self.threads < 1:
            raise ValueError(f"threads must be >= 1, got {self.threads}")
        if self.max_frames is not None and self.max_frames < 0:
            raise ValueError(f"max_frames must be >= 0, got {self.max_frames}")
