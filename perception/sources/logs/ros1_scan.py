"""ROS 1 bag files (format 2.0) read record by record, getting past damage where the index allows.

A bag is ``#ROSBAG V2.0\\n`` followed by records: ``u32 header_len, header, u32 data_len, data``;
the header is a list of ``u32 len, name=value`` fields, ``op`` says the record type. Chunks (op 5,
compression none / bz2 / lz4) hold connection (7) and message (2) records; each chunk is followed by
index records (4) that list (time, offset) per connection; the index section at ``index_pos`` (from
the bag header) repeats the connections and has one chunk-info record (6) per chunk.

A recorder killed mid-write leaves no index (``index_pos`` 0) and a cut last chunk: everything
before the cut is read. ``Ros1File.records()`` yields Connection / MessageRecord / IndexEntries and
the same kind of damage events as the MCAP reader (``ChunkLost``, ``Damage``); every length is
checked against the file size before anything is allocated.
"""

from __future__ import annotations

import bz2
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Iterator

MAGIC = b"#ROSBAG V2.0\n"
OP_MSG_DATA, OP_BAG_HEADER, OP_INDEX_DATA, OP_CHUNK, OP_CHUNK_INFO, OP_CONNECTION = 0x02, 0x03, 0x04, 0x05, 0x06, 0x07
MAX_CHUNK_UNCOMPRESSED = 1 << 30
U32 = struct.Struct("<I")


class Ros1FormatError(ValueError):
    """Not a ROS 1 bag (bad magic) or a version we do not read."""


@dataclass(frozen=True)
class Connection:
    conn_id: int
    topic: str
    type_name: str  # ROS 1 spelling, e.g. "sensor_msgs/Image"
    definition: str


@dataclass(frozen=True)
class MessageRecord:
    conn_id: int
    time_ns: int
    data: bytes


@dataclass(frozen=True)
class IndexEntries:
    """The (time_ns, offset) entries of one connection for the chunk that starts at ``chunk_pos``."""

    chunk_pos: int
    conn_id: int
    times_ns: tuple[int, ...]


@dataclass(frozen=True)
class ChunkLost:
    offset: int
    reason: str


@dataclass(frozen=True)
class Damage:
    offset: int
    reason: str
    resumed_at: int | None


@dataclass
class Ros1Index:
    """The index section: connections and, per chunk, its position and message count per connection."""

    connections: dict[int, Connection] = field(default_factory=dict)
    chunks: list[tuple[int, dict[int, int]]] = field(default_factory=list)  # (chunk_pos, {conn_id: count})


def _fields(header: bytes) -> dict[str, bytes]:
    out: dict[str, bytes] = {}
    pos = 0
    while pos < len(header):
        if pos + 4 > len(header):
            raise ValueError("header field length cut short")
        (n,) = U32.unpack_from(header, pos)
        pos += 4
        if n > len(header) - pos:
            raise ValueError("header field runs past the header")
        name, sep, value = header[pos:pos + n].partition(b"=")
        if not sep:
            raise ValueError("header field without '='")
        out[name.decode("ascii", "replace")] = value
        pos += n
    return out


def _u32(f: dict[str, bytes], name: str) -> int:
    v = f.get(name)
    if v is None or len(v) != 4:
        raise ValueError(f"header field {name!r} missing or not 4 bytes")
    return U32.unpack(v)[0]


def _time_ns(f: dict[str, bytes], name: str) -> int:
    v = f.get(name)
    if v is None or len(v) != 8:
        raise ValueError(f"header field {name!r} missing or not a time")
    sec, nsec = struct.unpack("<II", v)
    return sec * 1_000_000_000 + nsec


def _op(f: dict[str, bytes]) -> int:
    v = f.get("op")
    if v is None or len(v) != 1:
        raise ValueError("record without an op field")
    return v[0]


def _iter_buffer(buf: bytes, base: int = 0) -> Iterator[tuple[int, dict[str, bytes], bytes]]:
    """(offset, header fields, data) of each record in ``buf``; ValueError when one is cut short."""
    pos, n = 0, len(buf)
    while pos < n:
        if pos + 4 > n:
            raise ValueError(f"record header length cut short at byte {base + pos}")
        (hlen,) = U32.unpack_from(buf, pos)
        if hlen > n - pos - 8:
            raise ValueError(f"record at byte {base + pos} runs past the end")
        header = buf[pos + 4:pos + 4 + hlen]
        (dlen,) = U32.unpack_from(buf, pos + 4 + hlen)
        start = pos + 8 + hlen
        if dlen > n - start:
            raise ValueError(f"record data at byte {base + pos} runs past the end")
        yield base + pos, _fields(header), buf[start:start + dlen]
        pos = start + dlen


def _connection(f: dict[str, bytes], data: bytes) -> Connection:
    meta = _fields(data)
    return Connection(conn_id=_u32(f, "conn"), topic=(f.get("topic") or meta.get("topic", b"")).decode("utf-8"),
                      type_name=meta.get("type", b"").decode("utf-8"),
                      definition=meta.get("message_definition", b"").decode("utf-8"))


def _chunk_records(f: dict[str, bytes], data: bytes) -> list[Connection | MessageRecord]:
    compression = f.get("compression", b"").decode("ascii", "replace")
    size = _u32(f, "size")
    if size > MAX_CHUNK_UNCOMPRESSED:
        raise ValueError(f"chunk claims {size} bytes uncompressed")
    if compression == "none":
        raw = data
    elif compression == "bz2":
        raw = bz2.BZ2Decompressor().decompress(data, max_length=size + 1)
    elif compression == "lz4":
        import lz4.frame

        raw = lz4.frame.LZ4FrameDecompressor().decompress(data, max_length=size + 1)
    else:
        raise ValueError(f"unknown chunk compression {compression!r}")
    if len(raw) != size:
        raise ValueError(f"chunk decompressed to {len(raw)} bytes, header says {size}")
    out: list[Connection | MessageRecord] = []
    for _, fields, body in _iter_buffer(raw):
        op = _op(fields)
        if op == OP_CONNECTION:
            out.append(_connection(fields, body))
        elif op == OP_MSG_DATA:
            out.append(MessageRecord(conn_id=_u32(fields, "conn"), time_ns=_time_ns(fields, "time"), data=body))
    return out


class Ros1File:
    """One ROS 1 bag opened for damage-tolerant reading (see the module docstring)."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._f: BinaryIO = open(self.path, "rb")
        try:
            self.size = self._f.seek(0, 2)
            self._f.seek(0)
            magic = self._f.read(len(MAGIC))
            if magic != MAGIC:
                if magic.startswith(b"#ROSBAG V"):
                    version = magic[9:].strip().decode("ascii", "replace")
                    raise Ros1FormatError(f"{self.path.name}: ROS bag version {version} is not supported (2.0 is)")
                raise Ros1FormatError(f"{self.path.name} is not a ROS 1 bag (no '#ROSBAG V2.0' at the start)")
            self.index, self.index_pos, self.index_problem = self._read_index()
        except BaseException:
            self._f.close()
            raise

    def close(self) -> None:
        self._f.close()

    def _read_record(self, pos: int) -> tuple[dict[str, bytes], bytes, int]:
        """(header fields, data, end offset) of the record at ``pos``; ValueError when it does not fit."""
        f, size = self._f, self.size
        if pos + 4 > size:
            raise ValueError(f"file ends at byte {size} inside a record (truncated)")
        f.seek(pos)
        (hlen,) = U32.unpack(f.read(4))
        if hlen > size - pos - 8:
            raise ValueError(f"record at byte {pos} claims a {hlen}-byte header, the file ends first (truncated "
                             f"or garbled)")
        header = f.read(hlen)
        (dlen,) = U32.unpack(f.read(4))
        end = pos + 8 + hlen + dlen
        if end > size:
            raise ValueError(f"record at byte {pos} claims {dlen} data bytes, {size - pos - 8 - hlen} remain "
                             f"(truncated or garbled)")
        return _fields(header), f.read(dlen), end

    def _read_index(self) -> tuple[Ros1Index | None, int, str | None]:
        """Parse the bag header and the index section; (None, data end, why) when there is no usable index."""
        try:
            fields, _, data_start = self._read_record(len(MAGIC))
            if _op(fields) != OP_BAG_HEADER:
                raise ValueError("first record is not a bag header")
            (index_pos,) = struct.unpack("<Q", fields.get("index_pos", b"\0" * 8)[:8].ljust(8, b"\0"))
        except ValueError as e:
            raise Ros1FormatError(f"{self.path.name}: bag header unreadable ({e})") from None
        self.data_start = data_start
        if index_pos == 0:
            return None, self.size, "the bag has no index (recording not closed)"
        if not data_start <= index_pos <= self.size:
            return None, self.size, "the bag header points outside the file"
        index = Ros1Index()
        try:
            self._f.seek(index_pos)
            for _, f, data in _iter_buffer(self._f.read(self.size - index_pos), base=index_pos):
                op = _op(f)
                if op == OP_CONNECTION:
                    c = _connection(f, data)
                    index.connections[c.conn_id] = c
                elif op == OP_CHUNK_INFO:
                    (chunk_pos,) = struct.unpack("<Q", f.get("chunk_pos", b"")[:8].ljust(8, b"\0"))
                    counts = {U32.unpack_from(data, i)[0]: U32.unpack_from(data, i + 4)[0]
                              for i in range(0, len(data) - 7, 8)}
                    if not data_start <= chunk_pos < index_pos:
                        raise ValueError("chunk info points outside the data section")
                    index.chunks.append((chunk_pos, counts))
        except (ValueError, UnicodeDecodeError, struct.error) as e:
            return None, index_pos, f"bag index damaged ({e})"
        index.chunks.sort()
        return index, index_pos, None

    def records(self) -> Iterator[Connection | MessageRecord | IndexEntries | ChunkLost | Damage]:
        """The data section in file order, with damage events."""
        pos = self.data_start
        end_of_data = self.index_pos
        last_chunk = -1
        while pos < end_of_data:
            try:
                fields, data, end = self._read_record(pos)
                op = _op(fields)
            except (ValueError, struct.error) as e:
                resume = self._resync_after(pos)
                yield Damage(pos, str(e), resume)
                if resume is None:
                    return
                pos = resume
                continue
            if op == OP_CHUNK:
                last_chunk = pos
                try:
                    yield from _chunk_records(fields, data)
                except Exception as e:  # noqa: BLE001 - bad compression, garbled inner records
                    yield ChunkLost(pos, f"chunk at byte {pos} unreadable ({type(e).__name__}: {e})")
            elif op == OP_INDEX_DATA:
                try:
                    conn = _u32(fields, "conn")
                    times = tuple(_time_ns({"t": data[i:i + 8]}, "t") for i in range(0, len(data) - 11, 12))
                except ValueError:
                    pass  # a damaged index record only costs the count of a chunk that is fine anyway
                else:
                    yield IndexEntries(chunk_pos=last_chunk, conn_id=conn, times_ns=times)
            elif op == OP_CONNECTION:
                try:
                    yield _connection(fields, data)
                except (ValueError, UnicodeDecodeError) as e:
                    yield Damage(pos, f"connection record at byte {pos} unreadable ({e})", end)
            elif op == OP_MSG_DATA:
                try:
                    yield MessageRecord(conn_id=_u32(fields, "conn"), time_ns=_time_ns(fields, "time"), data=data)
                except ValueError as e:
                    yield Damage(pos, f"message record at byte {pos} unreadable ({e})", end)
            pos = end

    def _resync_after(self, pos: int) -> int | None:
        if self.index is None:
            return None
        later = [p for p, _ in self.index.chunks if p > pos]
        return later[0] if later else None
