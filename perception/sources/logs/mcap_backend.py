"""MCAP files (and ROS 2 bags stored as MCAP) as a log backend, damage-tolerant (see mcap_scan).

Messages are delivered in file order (the order the recorder wrote them), one file after the other
for a split ROS 2 bag. The camera topic's message count comes from the summary's statistics; a file
without a summary (truncated recording) is scanned once to list its channels and count messages.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

from perception.sources.logs.backend import LogMessage, LostMessages, add_damage_note
from perception.sources.logs.decoders import image_decoder, message_decoder
from perception.sources.logs.errors import LogFormatError, require
from perception.sources.logs.image_messages import ImageMessage
from perception.sources.logs.topics import LogTopic

# Damage notes kept per pass (the rest are counted in the last note).


@dataclass
class _FileChannels:
    """Per file: channel ids of each topic, and the schema/encoding of each channel."""

    ids_by_topic: dict[str, set[int]] = field(default_factory=dict)
    counts_by_topic: dict[str, int | None] = field(default_factory=dict)
    channels: dict = field(default_factory=dict)  # id -> mcap Channel
    schemas: dict = field(default_factory=dict)  # id -> mcap Schema


class McapBackend:
    """Log backend over one or more MCAP files (``kind``: "mcap", or "ros2" for a ROS 2 bag folder)."""

    def __init__(self, paths: list[Path], *, kind: str = "mcap", name: str | None = None):
        require("mcap", "reading MCAP files")
        from perception.sources.logs.mcap_scan import McapFile, McapFormatError

        self.kind = kind
        self.name = name or paths[0].name
        self.damage: list[str] = []
        self._files: list = []
        self._layout: list[_FileChannels] = []
        try:
            for p in paths:
                try:
                    self._files.append(McapFile(p))
                except McapFormatError as e:
                    raise LogFormatError(str(e)) from None
                except OSError as e:
                    raise LogFormatError(f"cannot read {p}: {e.strerror or e}") from None
            for f in self._files:
                self._layout.append(self._channels_of(f))
        except BaseException:
            self.close()
            raise

    # -- topics --------------------------------------------------------------------------------------
    def _channels_of(self, f) -> _FileChannels:
        """Channels from the summary, or from one scan of the data section when there is none."""
        from mcap.records import Channel, Message, Schema

        from perception.sources.logs.mcap_scan import ChunkLost, Damage

        layout = _FileChannels()
        summary = f.summary
        if summary is not None and summary.channels:
            layout.channels, layout.schemas = dict(summary.channels), dict(summary.schemas)
            counts_by_id = summary.message_counts
        else:
            counts_by_id = {}
            for rec in f.records():
                if isinstance(rec, Schema):
                    layout.schemas[rec.id] = rec
                elif isinstance(rec, Channel):
                    layout.channels[rec.id] = rec
                elif isinstance(rec, Message):
                    counts_by_id[rec.channel_id] = counts_by_id.get(rec.channel_id, 0) + 1
                elif isinstance(rec, (ChunkLost, Damage)):
                    self._note(f"{f.path.name}: {rec.reason}")
        for cid, ch in layout.channels.items():
            layout.ids_by_topic.setdefault(ch.topic, set()).add(cid)
        for topic, ids in layout.ids_by_topic.items():
            layout.counts_by_topic[topic] = (sum(counts_by_id.get(i, 0) for i in ids)
                                             if counts_by_id is not None else None)
        return layout

    def _type_name(self, layout: _FileChannels, cid: int) -> str:
        ch = layout.channels[cid]
        schema = layout.schemas.get(ch.schema_id)
        return schema.name if schema is not None else f"(no schema, {ch.message_encoding})"

    def topics(self) -> list[LogTopic]:
        seen: dict[str, LogTopic] = {}
        for layout in self._layout:
            for topic, ids in layout.ids_by_topic.items():
                type_name = self._type_name(layout, min(ids))
                count = layout.counts_by_topic.get(topic)
                if topic in seen:
                    prev = seen[topic].message_count
                    count = None if prev is None or count is None else prev + count
                seen[topic] = LogTopic(name=topic, type_name=type_name, message_count=count)
        return sorted(seen.values(), key=lambda t: t.name)

    def image_decoder(self, topic: LogTopic) -> Callable[[bytes | memoryview], ImageMessage]:
        decode, type_name, message_encoding = self._decoder(topic)
        return image_decoder(type_name, decode, json_base64=message_encoding == "json")

    def message_decoder(self, topic: LogTopic) -> Callable[[bytes | memoryview], Any]:
        return self._decoder(topic)[0]

    def _decoder(self, topic: LogTopic) -> tuple[Callable[[bytes | memoryview], Any], str, str]:
        """(payload -> decoded message, schema name, message encoding) for ``topic``."""
        for layout in self._layout:
            ids = layout.ids_by_topic.get(topic.name)
            if ids:
                ch = layout.channels[min(ids)]
                schema = layout.schemas.get(ch.schema_id)
                if schema is None:
                    raise LogFormatError(f"topic {topic.name} in {self.name} has no schema record")
                decode = message_decoder(schema.name, schema.encoding, schema.data, ch.message_encoding)
                return decode, schema.name, ch.message_encoding
        raise LogFormatError(f"topic {topic.name} not in {self.name}")

    # -- messages ------------------------------------------------------------------------------------
    def messages(self, topic: LogTopic) -> Iterator[LogMessage | LostMessages]:
        self.damage = []
        for f, layout in zip(self._files, self._layout):
            ids = layout.ids_by_topic.get(topic.name, set())
            if ids:
                yield from self._file_messages(f, ids)
            if f.summary is None and f.summary_problem and len(self._files) > 1:
                self._note(f"{f.path.name}: {f.summary_problem}")

    def _file_messages(self, f, ids: set[int]) -> Iterator[LogMessage | LostMessages]:
        from mcap.records import Message

        from perception.sources.logs.mcap_scan import ChunkLost, Damage, IndexRecord

        by_offset = {ci.chunk_start_offset: ci for ci in f.summary.chunk_indexes} if f.summary else {}
        pending: ChunkLost | None = None  # lost chunk waiting for its MessageIndex records (no summary)
        pending_indexed = False
        for rec in f.records():
            if isinstance(rec, Message):
                if rec.channel_id in ids:
                    pending = self._close_pending(pending, pending_indexed)
                    yield LogMessage(log_time_ns=rec.log_time, payload=rec.data)
            elif isinstance(rec, IndexRecord):
                if pending is not None and rec.chunk_offset == pending.offset:
                    pending_indexed = True
                    if rec.index.channel_id in ids and rec.index.records:
                        yield self._lost_from_index(rec.index, pending.reason)
            elif isinstance(rec, ChunkLost):
                pending = self._close_pending(pending, pending_indexed)
                if rec.offset in by_offset:
                    yield from self._lost_by_summary(f, by_offset[rec.offset], ids, rec.reason)
                else:
                    pending, pending_indexed = rec, False
            elif isinstance(rec, Damage):
                pending = self._close_pending(pending, pending_indexed)
                self._note(f"{f.path.name}: {rec.reason}" + ("" if rec.resumed_at is None
                                                             else f"; resumed at byte {rec.resumed_at}"))
                end = rec.resumed_at if rec.resumed_at is not None else f.size
                for offset, ci in by_offset.items():
                    if rec.offset <= offset < end:
                        yield from self._lost_by_summary(f, ci, ids, f"lost: {rec.reason}")
        self._close_pending(pending, pending_indexed)

    def _lost_from_index(self, index, reason: str) -> LostMessages:
        times = tuple(t for t, _ in sorted(index.records, key=lambda r: r[1]))  # in file order
        self._note(f"{reason}: {len(times)} message(s) of the camera topic lost")
        return LostMessages(count=len(times), log_times_ns=times, reason=reason)

    def _lost_by_summary(self, f, chunk_index, ids: set[int], reason: str) -> Iterator[LostMessages]:
        offsets = chunk_index.message_index_offsets
        if not offsets:
            self._note(f"{reason}; the file has no message index, the loss is counted at the end")
            return
        for cid in sorted(ids & set(offsets)):
            index = f.read_message_index(offsets[cid])
            if index is None:
                self._note(f"{reason}; its message index is damaged too, the loss is counted at the end")
            elif index.records:
                yield self._lost_from_index(index, reason)

    def _close_pending(self, pending, indexed: bool) -> None:
        if pending is not None and not indexed:
            self._note(f"{pending.reason}; no message index follows it, lost frames cannot be counted")
        return None

    def _note(self, text: str) -> None:
        add_damage_note(self.damage, text)

    def close(self) -> None:
        for f in self._files:
            f.close()
        self._files = []
