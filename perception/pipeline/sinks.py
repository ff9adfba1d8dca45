"""The loop's outputs besides frames.jsonl and summary.json: any object with the ``Sink`` shape.

The loop writes frames.jsonl itself (it is the run's ledger: counts and ``--resume`` read it) and then hands each
frame, in order, to every sink as a ``FrameOutput``. ``open_sinks`` makes those that ``perception.run`` offers:
the annotated video (or, for stills, annotated pictures) and the ``--mcap-out`` file.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import cv2
import numpy as np

from perception.pipeline.config import PipelineOutputs
from perception.results import FrameResult
from perception.sinks import VideoSink


@dataclass
class FrameOutput:
    """One frame as the sinks get it. ``record``: its frames.jsonl record. ``image_bgr``: the input frame
    (H x W x 3 uint8, original pixels), or a placeholder picture for a frame that could not be decoded.
    ``result``: None for such a frame. ``annotated_bgr``: the drawn frame (same size), None when no sink wants
    one. ``log_time_ns``: the log's own time for driving logs, else ``timestamp_s`` in ns. ``hud``: one line.
    ``fps``: the job's frames per second so far (smoothed; 0 before the second frame)."""

    index: int
    record: dict[str, Any]
    image_bgr: np.ndarray
    result: FrameResult | None
    annotated_bgr: np.ndarray | None
    log_time_ns: int
    hud: str
    fps: float = 0.0


class Sink(Protocol):
    """``wants_annotated``: the loop draws frames only when a sink wants them. ``path`` and ``frames_written``:
    a resumed run removes a sink's file that got no frame. ``close`` is called once, also after errors."""

    path: Path
    frames_written: int
    wants_annotated: bool

    def write(self, out: FrameOutput) -> None: ...

    def close(self) -> None: ...


class VideoOutput:
    """The annotated video (``perception.sinks.VideoSink``: one-second segments joined at the end)."""

    wants_annotated = True

    def __init__(self, path: Path, fps: float, size_wh: tuple[int, int]):
        self._video = VideoSink(path, fps, size_wh)
        self.path = self._video.path

    @property
    def frames_written(self) -> int:
        return self._video.frames_written

    @property
    def codec(self) -> str:
        """"h264", or "mp4v" where PyAV or its libx264 is missing (``note`` says which)."""
        return self._video.codec

    @property
    def note(self) -> str | None:
        return self._video.note

    def write(self, out: FrameOutput) -> None:
        self._video.write(out.annotated_bgr)

    def close(self) -> None:
        self._video.close()


class McapOutput:
    """The ``--mcap-out`` file for Foxglove: input frame, boxes, record and plan per frame."""

    wants_annotated = False

    def __init__(self, path: Path, metadata: dict[str, str] | None = None):
        from perception.sinks.mcap_results import McapResultSink

        self._mcap = McapResultSink(path, metadata=metadata)
        self.path = self._mcap.path

    @property
    def frames_written(self) -> int:
        return self._mcap.frames_written

    def write(self, out: FrameOutput) -> None:
        self._mcap.write(out.record, out.image_bgr, out.result, out.log_time_ns, hud=out.hud)

    def close(self) -> None:
        self._mcap.close()


class ImagesOutput:
    """Annotated stills: each still's drawn picture as ``folder/<its name>`` (the record's ``image``; the still's
    own size and format). A still that could not be decoded gets no picture (frames.jsonl lists it as failed)."""

    wants_annotated = True

    def __init__(self, folder: Path):
        self.path = folder
        self.frames_written = 0
        folder.mkdir(parents=True, exist_ok=True)

    def write(self, out: FrameOutput) -> None:
        name = out.record.get("image")
        if out.result is None or out.annotated_bgr is None or not name:
            return
        target = self.path / name
        target.parent.mkdir(parents=True, exist_ok=True)
        ok, data = cv2.imencode(target.suffix, out.annotated_bgr)
        if not ok:
            raise OSError(f"cannot encode the annotated picture {name}")
        tmp = target.with_name(target.name + ".tmp")
        tmp.write_bytes(data.tobytes())
        tmp.replace(target)  # a killed run leaves whole pictures only
        self.frames_written += 1

    def close(self) -> None:
        pass


class RerunOutput:
    """The ``--rerun-out`` recording (``perception.sinks.rerun_log``)."""

    wants_annotated = False

    def __init__(self, path: Path, seg_classes: tuple[str, ...], det_classes: tuple[str, ...]):
        from perception.sinks.rerun_log import RerunSink

        self._rerun = RerunSink(path, seg_classes=seg_classes, det_classes=det_classes)
        self.path = self._rerun.path

    @property
    def frames_written(self) -> int:
        return self._rerun.frames_written

    def write(self, out: FrameOutput) -> None:
        log_time = out.record.get("log_time_ns")
        self._rerun.write(out.record, out.image_bgr, out.result, log_time, fps=out.fps)

    def close(self) -> None:
        self._rerun.close()


def open_sinks(outputs: PipelineOutputs, fps: float, size_wh: tuple[int, int],
               mcap_metadata: dict[str, str] | None = None,
               classes: tuple[tuple[str, ...], tuple[str, ...]] = ((), ())) -> list[Sink]:
    """The video (when ``outputs.write_video``), the annotated stills (when ``outputs.annotated_images``) and the MCAP
    file (when ``outputs.mcap``) and the Rerun recording (when ``outputs.rerun``; ``classes``: the segmentation and
    detection class names), opened; if one cannot be opened, those already open are closed before the error
    goes on."""
    sinks: list[Sink] = []
    try:
        if outputs.write_video:
            sinks.append(VideoOutput(outputs.video, fps, size_wh))
        if outputs.annotated_images:
            sinks.append(ImagesOutput(outputs.images_dir))
        if outputs.mcap is not None:
            sinks.append(McapOutput(outputs.mcap, mcap_metadata))
        if outputs.rerun is not None:
            sinks.append(RerunOutput(outputs.rerun, *classes))
    except BaseException:
        for sink in sinks:
            sink.close()
        raise
    return sinks
