"""ROS 1 bags as a log backend, damage-tolerant (see ros1_scan); messages in file order.

Messages are deserialized with ``rosbags`` from the message definition stored in the bag. The
camera topic's message count comes from the bag's index (chunk-info records); a bag without an
index (a recording that was never closed) is scanned once to list its connections.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Iterator

from perception.sources.logs.backend import LogMessage, LostMessages, add_damage_note
from perception.sources.logs.decoders import image_decoder, ros_decoder
from perception.sources.logs.errors import LogFormatError, require
from perception.sources.logs.image_messages import ImageMessage
from perception.sources.logs.ros1_scan import (ChunkLost, Connection, Damage, IndexEntries, MessageRecord, Ros1File,
                                               Ros1FormatError)
from perception.sources.logs.topics import LogTopic

# Smallest possible message record in a bag: lengths (8), op/conn/time header fields (38), no data.
MIN_MESSAGE_RECORD_BYTES = 46


class Ros1Backend:
    """Log backend over one ROS 1 ``.bag`` file."""

    kind = "ros1"

    def __init__(self, path: Path):
        require("rosbags.typesys", "reading ROS 1 bags")
        self.path = path
        self.damage: list[str] = []
        try:
            self._file = Ros1File(path)
        except Ros1FormatError as e:
            raise LogFormatError(str(e)) from None
        except OSError as e:
            raise LogFormatError(f"cannot read {path}: {e.strerror or e}") from None
        index = self._file.index
        self._counts: dict[int, int] | None = None
        if index is not None and index.connections:
            self._connections = dict(index.connections)
            self._counts = {}
            for _, counts in index.chunks:
                for cid, n in counts.items():
                    self._counts[cid] = self._counts.get(cid, 0) + n
        else:
            self._connections, self._counts = {}, {}
            for rec in self._file.records():
                if isinstance(rec, Connection):
                    self._connections.setdefault(rec.conn_id, rec)
                elif isinstance(rec, MessageRecord):
                    self._counts[rec.conn_id] = self._counts.get(rec.conn_id, 0) + 1
                elif isinstance(rec, (ChunkLost, Damage)):
                    self._note(f"{path.name}: {rec.reason}")

    def _ids(self, topic: str) -> set[int]:
        return {cid for cid, c in self._connections.items() if c.topic == topic}

    def topics(self) -> list[LogTopic]:
        out = {}
        for c in self._connections.values():
            if c.topic not in out:
                count = sum(self._counts.get(i, 0) for i in self._ids(c.topic)) if self._counts is not None else None
                out[c.topic] = LogTopic(name=c.topic, type_name=c.type_name, message_count=count)
        return sorted(out.values(), key=lambda t: t.name)

    def image_decoder(self, topic: LogTopic) -> Callable[[bytes | memoryview], ImageMessage]:
        conn = self._connections[min(self._ids(topic.name))]
        return image_decoder(conn.type_name, self.message_decoder(topic), json_base64=False)

    def message_decoder(self, topic: LogTopic) -> Callable[[bytes | memoryview], Any]:
        conn = self._connections[min(self._ids(topic.name))]
        return ros_decoder(conn.type_name, conn.definition, schema_encoding="ros1msg")

    def messages(self, topic: LogTopic) -> Iterator[LogMessage | LostMessages]:
        self.damage = []
        ids = self._ids(topic.name)
        chunk_counts = dict(self._file.index.chunks) if self._file.index is not None else {}
        pending: ChunkLost | None = None
        pending_indexed = False
        for rec in self._file.records():
            if isinstance(rec, MessageRecord):
                if rec.conn_id in ids:
                    pending = self._close_pending(pending, pending_indexed)
                    yield LogMessage(log_time_ns=rec.time_ns, payload=rec.data)
            elif isinstance(rec, IndexEntries):
                if pending is not None and rec.chunk_pos == pending.offset:
                    pending_indexed = True
                    if rec.conn_id in ids and rec.times_ns:
                        self._note(f"{pending.reason}: {len(rec.times_ns)} message(s) of the camera topic lost")
                        yield LostMessages(count=len(rec.times_ns), log_times_ns=rec.times_ns, reason=pending.reason)
            elif isinstance(rec, ChunkLost):
                pending = self._close_pending(pending, pending_indexed)
                pending, pending_indexed = rec, False
            elif isinstance(rec, Damage):
                pending = self._close_pending(pending, pending_indexed)
                self._note(f"{self.path.name}: {rec.reason}" + ("" if rec.resumed_at is None
                                                               else f"; resumed at byte {rec.resumed_at}"))
                end = rec.resumed_at if rec.resumed_at is not None else self._file.size
                for pos, n in self._plausible_counts(chunk_counts, ids):
                    if rec.offset <= pos < end and n:
                        yield LostMessages(count=n, log_times_ns=None, reason=f"lost: {rec.reason}")
        self._close_pending(pending, pending_indexed)

    def _plausible_counts(self, chunk_counts: dict[int, dict[int, int]], ids: set[int]) -> list[tuple[int, int]]:
        """(chunk position, camera messages in it) per chunk, each count capped by what the chunk's bytes can
        hold: the index has no checksum, and a garbled count must not become millions of invented frames."""
        positions = sorted(chunk_counts) + [self._file.index_pos]
        out = []
        for pos, nxt in zip(positions, positions[1:]):
            n = sum(chunk_counts[pos].get(i, 0) for i in ids)
            out.append((pos, min(n, max(0, nxt - pos) // MIN_MESSAGE_RECORD_BYTES)))
        return out

    def _close_pending(self, pending: ChunkLost | None, indexed: bool) -> None:
        if pending is not None and not indexed:
            self._note(f"{pending.reason}; no index record follows it, lost frames are counted at the end if the "
                       f"bag index has the count")
        return None

    def _note(self, text: str) -> None:
        add_damage_note(self.damage, text)

    def close(self) -> None:
        self._file.close()
