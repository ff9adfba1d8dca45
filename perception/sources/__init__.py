"""Frame sources: where camera frames come from.

``open_source(path)`` picks the reader from what ``path`` is: a driving log (``.mcap``, ``.bag``, a
folder with ``metadata.yaml`` = ROS 2 bag; see ``perception.sources.logs``), a folder of images, one
image, a glob pattern of images or a video file. All share the ``FrameSource`` interface.
"""

from __future__ import annotations

from pathlib import Path

from perception.errors import UserInputError
from perception.sources.base import FrameSource
from perception.sources.frame import FailedFrame, Frame, SourceInfo
from perception.sources.images import IMAGE_EXTENSIONS, ImageListSource, image_folder_source, image_glob_source
from perception.sources.video import VideoSource

__all__ = ["Frame", "FailedFrame", "SourceInfo", "FrameSource", "VideoSource", "ImageListSource",
           "image_folder_source", "image_glob_source", "open_source", "IMAGE_EXTENSIONS"]


def open_source(path: str | Path, *, fps: float = 10.0, topic: str | None = None,
                recursive: bool = False, speed_topic: str | None = None, ego_speed: bool = True) -> FrameSource:
    """Open ``path`` as a frame source; raise UserInputError with one line when it cannot be read.

    ``path``: a video file, a driving log, a folder of images (``recursive``: with its sub-folders), one
    image, a camera index (``0``) or stream URL (``rtsp://...``, ``http://...``), or a glob pattern of images (``'drive/*.jpg'``, quoted so the shell leaves it alone). ``fps`` is
    only used for stills, which carry no timestamps. ``topic`` chooses the camera topic of a driving log
    (default: its only camera topic) and ``speed_topic`` its ego-speed topic (default: the first odometry /
    twist topic, if any); both are errors for other inputs. ``ego_speed=False`` skips reading a log's speed
    topic (a second opening that only wants frames).
    """
    from perception.sources.logs import is_log_path, open_log
    from perception.sources.stream import StreamSource, is_live

    flag = "--topic" if topic is not None else "--speed-topic" if speed_topic is not None else None
    if is_live(str(path)):
        if flag:
            raise UserInputError(f"{flag} applies to driving logs (.mcap, .bag, ROS 2 bag folder), not to a live "
                                 f"source")
        return StreamSource(str(path))
    p = Path(path)
    if not p.exists():
        if any(c in str(path) for c in "*?["):
            if flag:
                raise UserInputError(f"{flag} applies to driving logs (.mcap, .bag, ROS 2 bag folder), not to images")
            return image_glob_source(str(path), fps=fps)
        raise UserInputError(f"input not found: {p}")
    if is_log_path(p):
        return open_log(p, topic=topic, speed_topic=speed_topic, ego_speed=ego_speed)
    if flag:
        raise UserInputError(f"{flag} applies to driving logs (.mcap, .bag, ROS 2 bag folder), not to {p.name}")
    if p.is_dir():
        return image_folder_source(p, fps=fps, recursive=recursive)
    if p.suffix.lower() in IMAGE_EXTENSIONS:
        return ImageListSource([p], label=str(p), fps=fps)
    return VideoSource(p)
