"""What a log reader (MCAP, ROS 1 bag, ROS 2 bag) gives ``LogSource``: topics and a message stream.

A backend never raises for damage met while streaming: it yields ``LostMessages`` for what it knows
was lost, stops at damage it cannot get past, and records a one-line note in ``damage``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Iterator, Protocol

from perception.sources.logs.image_messages import ImageMessage
from perception.sources.logs.topics import LogTopic


MAX_DAMAGE_NOTES = 20  # notes kept per input; one more says that others were left out


def add_damage_note(damage: list[str], text: str) -> None:
    """Append ``text`` to ``damage``, at most ``MAX_DAMAGE_NOTES`` of them, then one "left out" line."""
    if len(damage) < MAX_DAMAGE_NOTES:
        damage.append(text)
    elif len(damage) == MAX_DAMAGE_NOTES:
        damage.append("... more damage notes left out")


@dataclass(frozen=True)
class LogMessage:
    """One serialized message on the chosen topic; ``log_time_ns``: the log's record time (ns)."""

    log_time_ns: int
    payload: bytes | memoryview


@dataclass(frozen=True)
class LostMessages:
    """Messages on the chosen topic that the log's index says existed but that cannot be read.

    ``log_times_ns``: their record times when the index has them (then ``count == len(log_times_ns)``),
    else None; ``count``: how many, or None when even that is unknown.
    """

    count: int | None
    log_times_ns: tuple[int, ...] | None
    reason: str


class LogBackend(Protocol):
    kind: str  # "mcap", "ros1" or "ros2"
    damage: list[str]  # one-line notes about damage met so far (read after streaming)

    def topics(self) -> list[LogTopic]: ...

    def image_decoder(self, topic: LogTopic) -> Callable[[bytes | memoryview], ImageMessage]:
        """Return payload -> ImageMessage for ``topic``; raise LogFormatError when its encoding is unsupported."""
        ...

    def message_decoder(self, topic: LogTopic) -> Callable[[bytes | memoryview], Any]:
        """Return payload -> decoded message (a rosbags message, a dict for JSON, a protobuf message)."""
        ...

    def messages(self, topic: LogTopic) -> Iterator[LogMessage | LostMessages]:
        """Every message of ``topic`` in log order (a fresh pass on each call)."""
        ...

    def close(self) -> None: ...
