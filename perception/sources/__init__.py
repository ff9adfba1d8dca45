"""Frame sources: where camera frames come from.

``open_source(path)`` picks the reader from what ``path`` is: a driving log (``.mcap``, ``.bag``, a
folder with ``metadata.yaml`` = ROS 2 bag; see ``perception.sources.logs``), a folder of images or a
video file. All share the ``FrameSource`` interface.
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


def open_source(path: str | Path, *, fps: float = 10.0, topic: str | None = None) -> FrameSource:
    """Open ``path`` as a frame source; raise UserInputError with one line when it cannot be read.

    ``fps`` is only used for image folders, which carry no timestamps. ``topic`` chooses the camera
    topic of a driving log (default: its only camera topic); it is an error for other inputs.
    """
    from perception.sources.logs import is_log_path, open_log

    p = Path(path)
    if not p.exists():
        raise UserInputError(f"input not found: {p}")
    if is_log_path(p):
        return open_log(p, topic=topic)
    if topic is not None:
        raise UserInputError(f"--topic applies to driving logs (.mcap, .bag, ROS 2 bag folder), not to {p.name}")
    if p.is_dir():
        return ImageFolderSource(p, fps=fps)
    if p.suffix.lower() in IMAGE_EXTENSIONS:
        raise UserInputError(f"{p} is a single image; pass the folder that holds it")
    return VideoSource(p)
