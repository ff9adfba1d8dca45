"""Frame sources: where camera frames come from.

``open_source(path)`` picks the reader from what ``path`` is: a folder of images or a video file.
Driving-log readers (MCAP, ROS bags) plug in here with the same ``FrameSource`` interface.
"""

from __future__ import annotations

from pathlib import Path

from perception.errors import UserInputError
from perception.sources.base import FrameSource
from perception.sources.frame import FailedFrame, Frame, SourceInfo
from perception.sources.images import IMAGE_EXTENSIONS, ImageFolderSource
from perception.sources.video import VideoSource

__all__ = ["Frame", "FailedFrame", "SourceInfo", "FrameSource", "VideoSource", "ImageFolderSource",
           "open_source", "IMAGE_EXTENSIONS"]


def open_source(path: str | Path, *, fps: float = 10.0) -> FrameSource:
    """Open ``path`` as a frame source; raise UserInputError with one line when it cannot be read.

    ``fps`` is only used for image folders, which carry no timestamps.
    """
    p = Path(path)
    if not p.exists():
        raise UserInputError(f"input not found: {p}")
    if p.is_dir():
        return ImageFolderSource(p, fps=fps)
    if p.suffix.lower() in IMAGE_EXTENSIONS:
        raise UserInputError(f"{p} is a single image; pass the folder that holds it")
    return VideoSource(p)
