"""MCAP files read record by record, getting past damage where the file allows it.

Needs the ``mcap`` package (record classes); import this module only after ``require("mcap", ...)``.

``McapFile.records()`` walks the data section in file order and yields the records a reader needs
(Schema, Channel, Message, MessageIndex) plus events that describe damage:

- ``ChunkLost``: a chunk whose framing is intact but whose content cannot be used (bad CRC,
  decompression error, garbled inner records). Reading goes on with the next record.
- ``Damage``: the record framing itself is broken (a length that runs past the end: the usual
  truncated recording, or garbage). Reading resumes at the next chunk the summary's index names, or,
  without a summary, at the next byte offset that parses as a chunk whose CRC checks out
  (``resumed_at``); when there is none, the pass ends there.

Every length read from the file is checked against the file size before anything is allocated.
"""

from __future__ import annotations

import io
import struct
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Iterator

from mcap.data_stream import ReadDataStream
from mcap.opcode import Opcode
from mcap.records import Channel, Chunk, ChunkIndex, Message, MessageIndex, Schema, Statistics

MAGIC = b"\x89MCAP0\r\n"
RECORD_HEADER = struct.Struct("<BQ")  # opcode, record length (bytes after this header)
FOOTER_BODY_LEN = 8 + 8 + 4  # summary_start, summary_offset_start, summary_crc
# A chunk that says it decompresses to more than this is treated as damaged (1 GiB).
MAX_CHUNK_UNCOMPRESSED = 1 << 30
# Without a summary, resynchronisation searches at most this far past the damage for a chunk (bytes).
RESYNC_SEARCH_LIMIT = 256 << 20
RESYNC_BLOCK = 4 << 20
COMPRESSIONS = ("", "zstd", "lz4")


@dataclass(frozen=True)
class ChunkLost:
    """Chunk at byte ``offset`` could not be used; its messages are lost (MessageIndex records may count them)."""

    offset: int
    reason: str


@dataclass(frozen=True)
class Damage:
    """Broken record framing at byte ``offset``; reading resumed at ``resumed_at`` (None: not at all)."""

    offset: int
    reason: str
    resumed_at: int | None


@dataclass(frozen=True)
class IndexRecord:
    """A MessageIndex record that follows the chunk starting at byte ``chunk_offset``."""

    chunk_offset: int
    index: MessageIndex


@dataclass
class McapSummary:
    """What the summary section (at the end of a finished MCAP) says; absent in truncated files."""

    schemas: dict[int, Schema] = field(default_factory=dict)
    channels: dict[int, Channel] = field(default_factory=dict)
    message_counts: dict[int, int] | None = None  # channel id -> messages, from the Statistics record
    chunk_indexes: list[ChunkIndex] = field(default_factory=list)  # sorted by chunk_start_offset


class McapFormatError(ValueError):
    """Not an MCAP file at all (bad magic)."""


class McapFile:
    """One MCAP file opened for damage-tolerant reading (see the module docstring)."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._f: BinaryIO = open(self.path, "rb")
        try:
            self.size = self._f.seek(0, io.SEEK_END)
            self._f.seek(0)
            if self._f.read(len(MAGIC)) != MAGIC:
                raise McapFormatError(f"{self.path.name} is not an MCAP file (no MCAP magic at the start)")
            self.summary, self.summary_problem = self._read_summary()
        except BaseException:
            self._f.close()
            raise

    def close(self) -> None:
        self._f.close()

    # -- summary -------------------------------------------------------------------------------------
    def _read_summary(self) -> tuple[McapSummary | None, str | None]:
        """Parse the summary section; (None, why) when the file has none or it is damaged."""
        tail = len(MAGIC) + RECORD_HEADER.size + FOOTER_BODY_LEN
        if self.size < len(MAGIC) + tail:
            return None, "file too short for a footer (truncated)"
        self._f.seek(self.size - tail)
        raw = self._f.read(tail)
        opcode, length = RECORD_HEADER.unpack_from(raw)
        if raw[-len(MAGIC):] != MAGIC or opcode != Opcode.FOOTER or length != FOOTER_BODY_LEN:
            return None, "no footer at the end (truncated or unfinished recording)"
        summary_start, _, summary_crc = struct.unpack_from("<QQI", raw, RECORD_HEADER.size)
        footer_at = self.size - tail
        if summary_start == 0:
            return None, "the file has no summary section"
        if not len(MAGIC) <= summary_start < footer_at:
            return None, "footer points outside the file"
        self._f.seek(summary_start)
        section = self._f.read(footer_at - summary_start)
        # The CRC covers the summary (and summary offset) sections and the footer up to the CRC field.
        if summary_crc != 0 and zlib.crc32(raw[:RECORD_HEADER.size + 16], zlib.crc32(section)) != summary_crc:
            return None, "summary section damaged (CRC mismatch)"
        summary = McapSummary()
        try:
            for opcode, body in _iter_framed(section):
                if opcode == Opcode.SCHEMA:
                    s = Schema.read(_stream(body))
                    summary.schemas[s.id] = s
                elif opcode == Opcode.CHANNEL:
                    c = Channel.read(_stream(body))
                    summary.channels[c.id] = c
                elif opcode == Opcode.CHUNK_INDEX:
                    summary.chunk_indexes.append(ChunkIndex.read(_stream(body)))
                elif opcode == Opcode.STATISTICS:
                    summary.message_counts = dict(Statistics.read(_stream(body)).channel_message_counts)
        except Exception as e:  # noqa: BLE001 - any parse failure: treat as "no usable summary"
            return None, f"summary section damaged ({type(e).__name__})"
        if any(not len(MAGIC) <= ci.chunk_start_offset < self.size for ci in summary.chunk_indexes):
            return None, "summary names chunks outside the file"
        summary.chunk_indexes.sort(key=lambda ci: ci.chunk_start_offset)
        return summary, None

    def read_message_index(self, offset: int) -> MessageIndex | None:
        """The MessageIndex record at byte ``offset`` (named by a ChunkIndex), or None when unreadable."""
        try:
            self._f.seek(offset)
            header = self._f.read(RECORD_HEADER.size)
            opcode, length = RECORD_HEADER.unpack(header)
            if opcode != Opcode.MESSAGE_INDEX or length > self.size - offset - RECORD_HEADER.size:
                return None
            return MessageIndex.read(_stream(self._f.read(length)))
        except Exception:  # noqa: BLE001 - damaged index: the caller counts what it can
            return None

    # -- data section --------------------------------------------------------------------------------
    def records(self) -> Iterator[Schema | Channel | Message | IndexRecord | ChunkLost | Damage]:
        """The data section in file order, with damage events (see the module docstring)."""
        f, size = self._f, self.size
        pos = len(MAGIC)
        last_chunk = -1  # byte offset of the last chunk record met (MessageIndex records follow their chunk)
        while True:
            if pos == size:
                yield Damage(pos, f"file ends at byte {size} without a footer (truncated)", None)
                return
            if pos + RECORD_HEADER.size > size:
                yield Damage(pos, f"truncated at byte {size} inside a record header", None)
                return
            f.seek(pos)
            opcode, length = RECORD_HEADER.unpack(f.read(RECORD_HEADER.size))
            end = pos + RECORD_HEADER.size + length
            if end > size:
                resume = self._resync_after(pos)
                yield Damage(pos, f"record at byte {pos} (opcode 0x{opcode:02x}) claims {length} bytes, "
                                  f"{size - pos - RECORD_HEADER.size} remain (truncated or garbled)", resume)
                if resume is None:
                    return
                pos = resume
                continue
            if opcode in (Opcode.DATA_END, Opcode.FOOTER):
                return
            if opcode in (Opcode.CHUNK, Opcode.SCHEMA, Opcode.CHANNEL, Opcode.MESSAGE, Opcode.MESSAGE_INDEX):
                body = f.read(length)
                if opcode == Opcode.CHUNK:
                    last_chunk = pos
                    try:
                        inner = _chunk_records(Chunk.read(_stream(body)))
                    except Exception as e:  # noqa: BLE001 - bad CRC, bad compression, garbled inner records
                        yield ChunkLost(pos, f"chunk at byte {pos} unreadable ({_why(e)})")
                    else:
                        yield from inner
                else:
                    try:
                        record = _parse_plain(opcode, body)
                    except Exception as e:  # noqa: BLE001 - garbled record with intact framing
                        yield Damage(pos, f"record at byte {pos} unreadable ({_why(e)})", end)
                    else:
                        yield IndexRecord(last_chunk, record) if opcode == Opcode.MESSAGE_INDEX else record
            elif opcode == 0 or opcode > 0x7F:
                # 0 and 0x80+ are reserved / private: in a data section this is almost surely garbage.
                resume = self._resync_after(pos)
                yield Damage(pos, f"unknown record opcode 0x{opcode:02x} at byte {pos} (garbled)", resume)
                if resume is None:
                    return
                pos = resume
                continue
            pos = end

    def _resync_after(self, pos: int) -> int | None:
        """Byte offset of the next chunk after ``pos`` (summary index first, else a CRC-checked search)."""
        if self.summary is not None and self.summary.chunk_indexes:
            later = [ci.chunk_start_offset for ci in self.summary.chunk_indexes if ci.chunk_start_offset > pos]
            return later[0] if later else None
        return self._search_chunk(pos + 1)

    def _search_chunk(self, start: int) -> int | None:
        f, size = self._f, self.size
        limit = min(size, start + RESYNC_SEARCH_LIMIT)
        block_start = start
        while block_start < limit:
            f.seek(block_start)
            block = f.read(min(RESYNC_BLOCK, limit - block_start))
            i = block.find(bytes([Opcode.CHUNK]))
            while i != -1:
                offset = block_start + i
                if self._is_chunk_at(offset):
                    return offset
                i = block.find(bytes([Opcode.CHUNK]), i + 1)
            block_start += len(block)
        return None

    def _is_chunk_at(self, offset: int) -> bool:
        """True when a whole, CRC-checked chunk record starts at ``offset``."""
        f, size = self._f, self.size
        f.seek(offset)
        head = f.read(RECORD_HEADER.size + 8 * 3 + 4 + 4)
        if len(head) < RECORD_HEADER.size + 32:
            return False
        opcode, length = RECORD_HEADER.unpack_from(head)
        if opcode != Opcode.CHUNK or length > size - offset - RECORD_HEADER.size or length < 36:
            return False
        start_t, end_t, usize, crc, clen = struct.unpack_from("<QQQII", head, RECORD_HEADER.size)
        if start_t > end_t or usize > MAX_CHUNK_UNCOMPRESSED or clen > 4 or crc == 0:
            return False
        f.seek(offset + RECORD_HEADER.size)
        try:
            _chunk_records(Chunk.read(_stream(f.read(length))))
        except Exception:  # noqa: BLE001 - not a chunk after all
            return False
        return True


def _chunk_records(chunk: Chunk) -> list[Schema | Channel | Message]:
    """Decompress (bounded), check the CRC and parse the records inside a chunk."""
    if chunk.compression not in COMPRESSIONS:
        raise ValueError(f"unknown compression {chunk.compression!r}")
    if chunk.uncompressed_size > MAX_CHUNK_UNCOMPRESSED:
        raise ValueError(f"chunk claims {chunk.uncompressed_size} bytes uncompressed")
    if chunk.compression == "zstd":
        import zstandard

        with zstandard.ZstdDecompressor().stream_reader(io.BytesIO(chunk.data)) as reader:
            data = reader.read(chunk.uncompressed_size + 1)
    elif chunk.compression == "lz4":
        import lz4.frame

        data = lz4.frame.LZ4FrameDecompressor().decompress(chunk.data, max_length=chunk.uncompressed_size + 1)
    else:
        data = chunk.data
    if len(data) != chunk.uncompressed_size:
        raise ValueError(f"decompressed to {len(data)} bytes, chunk says {chunk.uncompressed_size}")
    if chunk.uncompressed_crc != 0 and zlib.crc32(data) != chunk.uncompressed_crc:
        raise ValueError("CRC mismatch")
    out: list[Schema | Channel | Message] = []
    for opcode, body in _iter_framed(data):
        if opcode in (Opcode.SCHEMA, Opcode.CHANNEL, Opcode.MESSAGE):
            out.append(_parse_plain(opcode, body))
    return out


def _iter_framed(buf: bytes) -> Iterator[tuple[int, bytes]]:
    """(opcode, body) of each record in ``buf``; ValueError when a length runs past its end."""
    pos, n = 0, len(buf)
    while pos < n:
        if pos + RECORD_HEADER.size > n:
            raise ValueError("record header cut short")
        opcode, length = RECORD_HEADER.unpack_from(buf, pos)
        start = pos + RECORD_HEADER.size
        if length > n - start:
            raise ValueError("record runs past the end")
        yield opcode, buf[start:start + length]
        pos = start + length


def _parse_plain(opcode: int, body: bytes) -> Schema | Channel | Message | MessageIndex:
    s = _stream(body)
    if opcode == Opcode.MESSAGE:
        if len(body) < 22:
            raise ValueError("message record too short")
        return Message.read(s, len(body))
    if opcode == Opcode.SCHEMA:
        return Schema.read(s)
    if opcode == Opcode.CHANNEL:
        return Channel.read(s)
    if opcode == Opcode.MESSAGE_INDEX:
        return MessageIndex.read(s)
    raise ValueError(f"unexpected opcode 0x{opcode:02x}")


def _stream(body: bytes) -> ReadDataStream:
    return ReadDataStream(io.BytesIO(body))


def _why(e: Exception) -> str:
    text = " ".join(str(e).split())[:120]
    return f"{type(e).__name__}: {text}" if text else type(e).__name__
