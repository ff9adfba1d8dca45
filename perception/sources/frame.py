"""The unit that flows from a source into the pipeline."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class SourceInfo:
    """What a source knows about itself before the first frame is read.

    Attributes:
        path: the file or folder the frames come from.
        kind: "video", "images" or a log format ("mcap", "ros1", "ros2").
        fps: nominal frames per second (for videos, from the container; for image folders, assumed).
        frame_count: frames the container announces, or None when unknown. A damaged file may deliver fewer.
        width_px, height_px: size of the first frame, in pixels.
        extra: source-specific metadata (codec, topic, ...), JSON-serialisable.
    """

    path: str
    kind: str
    fps: float
    frame_count: int | None
    width_px: int
    height_px: int
    extra: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Frame:
    """One decoded camera frame.

    Attributes:
        index: 0-based position in the source, counting frames that failed to decode.
        timestamp_s: capture time in seconds from the start of the source (or from the log's clock).
        image_bgr: uint8 array (H, W, 3), BGR channel order as OpenCV decodes it.
        source: the SourceInfo of the source it came from.
        log_time_ns: for frames from a driving log, the log's absolute record time of the message
            (nanoseconds, the log's own epoch, usually Unix time); None for videos and image folders.
        warning: set when the frame was decoded but the decoder reported errors in it (the image may show
            damage); None otherwise. The pipeline writes such frames with ``status: "damaged"``.
        name: for stills, the file's path below the stills' common folder (``a/x.png``); None otherwise.
        ego_speed_mps: the ego's speed at this frame from the log's odometry / twist topic (m/s); None when
            the input has none (videos, stills, logs without such a topic or without a message near the frame).
    """

    index: int
    timestamp_s: float
    image_bgr: np.ndarray
    source: SourceInfo
    log_time_ns: int | None = None
    warning: str | None = None
    name: str | None = None
    ego_speed_mps: float | None = None

    @property
    def size_wh(self) -> tuple[int, int]:
        return int(self.image_bgr.shape[1]), int(self.image_bgr.shape[0])


@dataclass(frozen=True)
class FailedFrame:
    """A position in the source whose frame could not be decoded (counted as failed, not fatal)."""

    index: int
    timestamp_s: float
    reason: str
    log_time_ns: int | None = None
    name: str | None = None  # for stills, as ``Frame.name``
