"""ROS 1 bags and ROS 2 bags (sqlite3 storage) through ``rosbags``' AnyReader, as a log backend.

Messages come in the bag's time order. Damage met while reading stops the pass with a note; the
frames the bag's index announced but that could not be read are counted by LogSource at the end.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Iterator

from perception.sources.logs.backend import LogMessage, LostMessages
from perception.sources.logs.errors import LogFormatError, require
from perception.sources.logs.image_messages import ImageMessage, image_message_from
from perception.sources.logs.topics import LogTopic


class RosbagBackend:
    """Log backend over one ROS 1 ``.bag`` file (``kind`` "ros1") or one ROS 2 bag folder ("ros2")."""

    def __init__(self, path: Path, *, kind: str):
        highlevel = require("rosbags.highlevel", "reading ROS bags")
        self.kind = kind
        self.path = path
        self.damage: list[str] = []
        self._reader = None
        try:
            reader = highlevel.AnyReader([path])
            reader.open()
        except Exception as e:  # noqa: BLE001 - rosbags raises many types for unreadable bags
            raise LogFormatError(f"cannot read ROS {kind[-1]} bag {path.name}: {_why(e)}") from None
        self._reader = reader

    def topics(self) -> list[LogTopic]:
        return sorted((LogTopic(name=name, type_name=info.msgtype or "(mixed types)", message_count=info.msgcount)
                       for name, info in self._reader.topics.items()), key=lambda t: t.name)

    def _connections(self, topic: LogTopic) -> list:
        return [c for c in self._reader.connections if c.topic == topic.name]

    def image_decoder(self, topic: LogTopic) -> Callable[[bytes | memoryview], ImageMessage]:
        reader, type_name = self._reader, topic.type_name
        return lambda payload: image_message_from(type_name, reader.deserialize(bytes(payload), type_name))

    def message_decoder(self, topic: LogTopic) -> Callable[[bytes | memoryview], Any]:
        reader, type_name = self._reader, topic.type_name
        return lambda payload: reader.deserialize(bytes(payload), type_name)

    def messages(self, topic: LogTopic) -> Iterator[LogMessage | LostMessages]:
        self.damage = []
        delivered = 0
        try:
            for _, timestamp_ns, raw in self._reader.messages(connections=self._connections(topic)):
                delivered += 1
                yield LogMessage(log_time_ns=int(timestamp_ns), payload=raw)
        except Exception as e:  # noqa: BLE001 - a damaged chunk or row: stop here, count the rest as lost
            self.damage.append(f"{self.path.name}: reading stopped after {delivered} camera messages ({_why(e)})")

    def close(self) -> None:
        if self._reader is not None:
            try:
                self._reader.close()
            except Exception:  # noqa: BLE001 - closing a damaged bag must not hide the real error
                pass
            self._reader = None


def _why(e: Exception) -> str:
    text = " ".join(str(e).split())[:160]
    return f"{type(e).__name__}: {text}" if text else type(e).__name__
