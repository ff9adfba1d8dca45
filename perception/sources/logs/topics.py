"""Which topic of a log holds the camera: the one named by ``--topic``, or the only image topic."""

from __future__ import annotations

from dataclasses import dataclass

from perception.sources.logs.errors import LogFormatError
from perception.sources.logs.image_messages import is_camera_type

# At most this many topics are listed in an error line (the rest are counted).
MAX_LISTED = 12


@dataclass(frozen=True)
class LogTopic:
    """One topic (channel) of a log.

    Attributes:
        name: topic name, e.g. "/camera/image/compressed".
        type_name: message type / schema name as the log states it, e.g. "sensor_msgs/msg/Image".
        message_count: messages on the topic as the log's index says, or None when there is no index.
    """

    name: str
    type_name: str
    message_count: int | None = None

    @property
    def is_camera(self) -> bool:
        return is_camera_type(self.type_name)

    def describe(self) -> str:
        n = "" if self.message_count is None else f", {self.message_count} msgs"
        return f"{self.name} ({self.type_name}{n})"


def _listing(topics: list[LogTopic]) -> str:
    shown = ", ".join(t.describe() for t in topics[:MAX_LISTED])
    more = len(topics) - MAX_LISTED
    return shown + (f", ... and {more} more" if more > 0 else "")


def choose_topic(topics: list[LogTopic], requested: str | None, log_name: str) -> LogTopic:
    """Return the camera topic to read; raise LogFormatError (one line, lists the topics) when unclear."""
    camera = [t for t in topics if t.is_camera]
    if requested is not None:
        for t in topics:
            if t.name == requested:
                if not t.is_camera:
                    raise LogFormatError(f"--topic {requested} in {log_name} has type {t.type_name}, not a camera "
                                         f"image; camera topics: {_listing(camera) or 'none'}")
                return t
        raise LogFormatError(f"--topic {requested} is not in {log_name}; camera topics: "
                             f"{_listing(camera) or 'none'}; all topics: {_listing(topics) or 'none'}")
    if len(camera) == 1:
        return camera[0]
    if not camera:
        kinds = "sensor_msgs/Image, sensor_msgs/CompressedImage, foxglove.CompressedImage, foxglove.RawImage"
        raise LogFormatError(f"{log_name} has no camera image topic (types {kinds}); "
                             f"topics: {_listing(topics) or 'none'}")
    raise LogFormatError(f"{log_name} has {len(camera)} camera topics, choose one with --topic: {_listing(camera)}")
