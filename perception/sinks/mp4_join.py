"""Join MP4 files of one video stream into one MP4 without re-encoding: the samples are copied byte for byte and
only the index (the ``moov`` box and its sample tables) is written anew.

Made for the segment files ``VideoSink`` writes (OpenCV/FFmpeg, one video track, codec mp4v, each segment
starting on a key frame). Every file must hold exactly one video track, with the same codec description (the
``stsd`` sample entry; bitrate fields, which FFmpeg measures per file, do not count), timescale and frame size,
and no edit list other than the identity. Anything else is an ``Mp4Error`` naming the file; nothing is guessed.

The output is ``ftyp, moov, mdat`` (index first, so that a player can start before it has the whole file), each
input file's samples one chunk. ISO/IEC 14496-12 names the boxes used here.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np

from perception.errors import UserInputError

MAX_U32 = 0xFFFFFFFF
MOVIE_TIMESCALE = 1000  # mvhd / tkhd time units per second (what FFmpeg writes)
COPY_BLOCK_BYTES = 8 << 20  # largest single read while copying samples
IDENTITY_MATRIX = struct.pack(">9I", 0x00010000, 0, 0, 0, 0x00010000, 0, 0, 0, 0x40000000)


class Mp4Error(UserInputError):
    """An MP4 that cannot be joined (unfinished, damaged, or not like the others); the message names the file."""


@dataclass(frozen=True)
class VideoTrack:
    """The video track of one MP4 file: what joining needs.

    ftyp: the file's ``ftyp`` box, header included.
    sample_entry: the codec description (the single ``stsd`` entry, a whole box), with the per-file bitrate fields
        zeroed and any ``btrt`` box left out, so that segments of one stream compare equal.
    timescale: media time units per second (``mdhd``).
    size_16_16: the track's width and height as ``tkhd`` stores them (8 bytes, 16.16 fixed point).
    durations: (N,) int64, each sample's duration in ``timescale`` units.
    composition_offsets: (N,) int64 (``ctts``), or None when the file has none.
    sync: (N,) bool, which samples are key frames (all, when the file has no ``stss``).
    sizes / offsets: (N,) int64, each sample's size in bytes and absolute position in the file.
    """

    path: Path
    ftyp: bytes
    sample_entry: bytes
    timescale: int
    size_16_16: bytes
    durations: np.ndarray
    composition_offsets: np.ndarray | None
    sync: np.ndarray
    sizes: np.ndarray
    offsets: np.ndarray

    @property
    def frames(self) -> int:
        return len(self.sizes)


def _boxes(data: bytes, start: int = 0, end: int | None = None) -> Iterator[tuple[bytes, int, int]]:
    """(type, body start, body end) of each box in ``data[start:end]``."""
    end = len(data) if end is None else end
    pos = start
    while pos + 8 <= end:
        size, kind = struct.unpack_from(">I4s", data, pos)
        header = 8
        if size == 1:
            if pos + 16 > end:
                raise Mp4Error(f"box {kind!r} is cut short")
            size, header = struct.unpack_from(">Q", data, pos + 8)[0], 16
        elif size == 0:
            size = end - pos
        if size < header or pos + size > end:
            raise Mp4Error(f"box {kind!r} runs past its parent")
        yield kind, pos + header, pos + size
        pos += size


def _child(data: bytes, span: tuple[int, int], *path: bytes) -> tuple[int, int] | None:
    """Body span of the first box along ``path`` below ``span``, or None."""
    for kind in path:
        span = next(((s, e) for k, s, e in _boxes(data, *span) if k == kind), None)
        if span is None:
            return None
    return span


def _array(data: bytes, start: int, count: int, dtype: str = ">u4") -> np.ndarray:
    width = np.dtype(dtype).itemsize
    if start + count * width > len(data):
        raise Mp4Error("a sample table is cut short")
    return np.frombuffer(data, dtype=dtype, count=count, offset=start).astype(np.int64)


def _top_level(path: Path) -> tuple[bytes, bytes]:
    """(the whole ``ftyp`` box, the ``moov`` body) of an MP4 file, reading no sample data."""
    ftyp = moov = None
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        pos = 0
        while pos + 8 <= size:
            f.seek(pos)
            head = f.read(16)
            box_size, kind = struct.unpack_from(">I4s", head)
            header = 8
            if box_size == 1 and len(head) == 16:
                box_size, header = struct.unpack_from(">Q", head, 8)[0], 16
            elif box_size == 0:
                box_size = size - pos
            if box_size < header or pos + box_size > size:
                break  # a box cut short: an unfinished file (its index, if any, was written before)
            if kind in (b"ftyp", b"moov"):
                f.seek(pos)
                whole = f.read(box_size)
                if kind == b"ftyp" and ftyp is None:
                    ftyp = whole
                elif kind == b"moov" and moov is None:
                    moov = whole[header:]
            pos += box_size
    if moov is None:
        raise Mp4Error(f"{path}: no index (moov box): an unfinished or damaged MP4")
    return ftyp or _box(b"ftyp", b"isom", struct.pack(">I", 0x200), b"isomiso2mp41"), moov


def _normalised_sample_entry(stsd: bytes) -> bytes:
    """The single sample entry of an ``stsd`` body, without ``btrt`` and with the ``esds`` bitrates zeroed."""
    if len(stsd) < 16 or struct.unpack_from(">I", stsd, 4)[0] != 1:
        raise Mp4Error("the track does not have exactly one sample description")
    entry = next(_boxes(stsd, 8), None)
    if entry is None:
        raise Mp4Error("the sample description is empty")
    kind, start, end = entry
    fixed = 78  # VisualSampleEntry fields before its child boxes
    if end - start < fixed:
        raise Mp4Error(f"sample description {kind!r} is not a video one")
    children = []
    for child, s, e in _boxes(stsd, start + fixed, end):
        if child == b"btrt":
            continue
        body = bytearray(stsd[s:e])
        if child == b"esds":
            _zero_esds_bitrates(body)
        children.append(_box(child, bytes(body)))
    return _box(kind, stsd[start:start + fixed], *children)


def _descriptor(data: bytearray, pos: int) -> tuple[int, int, int]:
    """(tag, body start, body end) of an MPEG-4 descriptor at ``pos`` (ISO/IEC 14496-1 expandable size)."""
    tag, pos, size = data[pos], pos + 1, 0
    for _ in range(4):
        byte = data[pos]
        pos += 1
        size = (size << 7) | (byte & 0x7F)
        if not byte & 0x80:
            break
    return tag, pos, pos + size


def _zero_esds_bitrates(esds: bytearray) -> None:
    """Zero bufferSizeDB, maxBitrate and avgBitrate of the DecoderConfigDescriptor in an ``esds`` body."""
    try:
        tag, pos, _ = _descriptor(esds, 4)  # after version and flags
        if tag != 0x03:  # ES_Descriptor
            return
        flags = esds[pos + 2]
        pos += 3 + (2 if flags & 0x80 else 0)
        if flags & 0x40:
            pos += 1 + esds[pos]
        pos += 2 if flags & 0x20 else 0
        tag, pos, end = _descriptor(esds, pos)
        if tag == 0x04 and end - pos >= 13:  # DecoderConfigDescriptor
            esds[pos + 2:pos + 13] = bytes(11)
    except IndexError:
        return  # compared byte for byte then


def read_video_track(path: str | Path) -> VideoTrack:
    """The single video track of an MP4 file (raises ``Mp4Error``, naming the file, for anything else)."""
    path = Path(path)
    try:
        return _read_video_track(path)
    except Mp4Error as e:
        if str(path) in str(e):
            raise
        raise Mp4Error(f"{path}: {e}") from None


def _read_video_track(path: Path) -> VideoTrack:
    ftyp, moov = _top_level(path)
    tracks = [(s, e) for k, s, e in _boxes(moov) if k == b"trak"]
    video = [t for t in tracks if (h := _child(moov, t, b"mdia", b"hdlr")) and moov[h[0] + 8:h[0] + 12] == b"vide"]
    if len(video) != 1 or len(tracks) != 1:
        raise Mp4Error(f"expected one video track and nothing else, found {len(tracks)} track(s)")
    trak = video[0]
    tkhd, mdhd = _child(moov, trak, b"tkhd"), _child(moov, trak, b"mdia", b"mdhd")
    stbl = _child(moov, trak, b"mdia", b"minf", b"stbl")
    if tkhd is None or mdhd is None or stbl is None:
        raise Mp4Error("the video track has no tkhd, mdhd or stbl box")
    elst = _child(moov, trak, b"edts", b"elst")
    if elst is not None and not _identity_edit_list(moov[elst[0]:elst[1]]):
        raise Mp4Error("the video track has an edit list (not supported)")
    timescale = struct.unpack_from(">I", moov, mdhd[0] + (20 if moov[mdhd[0]] == 1 else 12))[0]
    if timescale == 0:
        raise Mp4Error("the video track's timescale is 0")
    table = {k: (s, e) for k, s, e in _boxes(moov, *stbl)}
    for needed in (b"stsd", b"stts", b"stsc", b"stsz"):
        if needed not in table:
            raise Mp4Error(f"the sample table has no {needed.decode()} box")
    if b"stco" not in table and b"co64" not in table:
        raise Mp4Error("the sample table has no chunk offsets (stco / co64)")
    body = {k: moov[s:e] for k, (s, e) in table.items()}

    sample_size, n = struct.unpack_from(">II", body[b"stsz"], 4)
    sizes = np.full(n, sample_size, np.int64) if sample_size else _array(body[b"stsz"], 12, n)
    durations = _expand_runs(body[b"stts"], n, "stts")
    composition = None
    if b"ctts" in body:
        composition = _expand_runs(body[b"ctts"], n, "ctts", signed=body[b"ctts"][0] == 1)
    sync = np.ones(n, bool)
    if b"stss" in body:
        numbers = _array(body[b"stss"], 8, struct.unpack_from(">I", body[b"stss"], 4)[0])
        if len(numbers) and (numbers.min() < 1 or numbers.max() > n):
            raise Mp4Error("a key frame number lies outside the track")
        sync[:] = False
        sync[numbers - 1] = True
    offsets = _sample_offsets(body, sizes)
    return VideoTrack(path=path, ftyp=ftyp, sample_entry=_normalised_sample_entry(body[b"stsd"]),
                      timescale=timescale, size_16_16=moov[tkhd[1] - 8:tkhd[1]], durations=durations,
                      composition_offsets=composition, sync=sync, sizes=sizes, offsets=offsets)


def _identity_edit_list(elst: bytes) -> bool:
    """Whether an ``elst`` body maps media time 0 onwards at rate 1 (what FFmpeg writes for a plain video)."""
    version, count = elst[0], struct.unpack_from(">I", elst, 4)[0]
    if count != 1:
        return False
    if version == 1:
        _, media_time, rate = struct.unpack_from(">QqI", elst, 8)
    else:
        _, media_time, rate = struct.unpack_from(">IiI", elst, 8)
    return media_time == 0 and rate == 0x00010000


def _expand_runs(table: bytes, n: int, name: str, *, signed: bool = False) -> np.ndarray:
    """Per-sample values from an (count, value) run table (``stts``, ``ctts``)."""
    rows = _array(table, 8, 2 * struct.unpack_from(">I", table, 4)[0]).reshape(-1, 2)  # (R, 2) count, value
    counts, values = rows[:, 0], rows[:, 1]
    if signed:
        values = np.where(values > 0x7FFFFFFF, values - (1 << 32), values)
    if counts.sum() != n:
        raise Mp4Error(f"{name} describes {counts.sum()} samples, the track has {n}")
    return np.repeat(values, counts)


def _sample_offsets(body: dict[bytes, bytes], sizes: np.ndarray) -> np.ndarray:
    """Each sample's absolute file offset, from the chunk offsets (stco / co64) and samples per chunk (stsc)."""
    if b"co64" in body:
        chunk_offsets = _array(body[b"co64"], 8, struct.unpack_from(">I", body[b"co64"], 4)[0], ">u8")
    else:
        chunk_offsets = _array(body[b"stco"], 8, struct.unpack_from(">I", body[b"stco"], 4)[0])
    stsc = _array(body[b"stsc"], 8, 3 * struct.unpack_from(">I", body[b"stsc"], 4)[0]).reshape(-1, 3)
    if (stsc[:, 2] != 1).any():
        raise Mp4Error("samples refer to more than one sample description")
    per_chunk = np.zeros(len(chunk_offsets), np.int64)  # (C,) samples in each chunk
    for i, (first, samples, _) in enumerate(stsc):
        last = stsc[i + 1, 0] - 1 if i + 1 < len(stsc) else len(chunk_offsets)
        per_chunk[first - 1:last] = samples
    if per_chunk.sum() != len(sizes):
        raise Mp4Error(f"the chunks hold {per_chunk.sum()} samples, the track has {len(sizes)}")
    before = np.cumsum(sizes) - sizes  # (N,) bytes of the samples before each one
    chunk_of = np.repeat(np.arange(len(chunk_offsets)), per_chunk)  # (N,) chunk of each sample
    first_of_chunk = (np.cumsum(per_chunk) - per_chunk)[chunk_of]  # (N,) first sample of that chunk
    return chunk_offsets[chunk_of] + before - before[first_of_chunk]


def _box(kind: bytes, *parts: bytes) -> bytes:
    body = b"".join(parts)
    if len(body) + 8 > MAX_U32:
        return struct.pack(">I4sQ", 1, kind, len(body) + 16) + body
    return struct.pack(">I4s", len(body) + 8, kind) + body


def _full_box(kind: bytes, version: int, flags: int, *parts: bytes) -> bytes:
    return _box(kind, struct.pack(">I", (version << 24) | flags), *parts)


def _runs(values: np.ndarray) -> np.ndarray:
    """(R, 2) [count, value] runs of equal consecutive values."""
    if len(values) == 0:
        return np.zeros((0, 2), np.int64)
    starts = np.concatenate(([0], np.flatnonzero(np.diff(values)) + 1))
    counts = np.diff(np.concatenate((starts, [len(values)])))
    return np.column_stack((counts, values[starts]))


def _table(kind: bytes, rows: np.ndarray, dtype: str = ">u4", version: int = 0) -> bytes:
    return _full_box(kind, version, 0, struct.pack(">I", len(rows)), np.ascontiguousarray(rows).astype(dtype).tobytes())


def _moov(tracks: list[VideoTrack], chunk_offsets: np.ndarray, *, co64: bool) -> bytes:
    """The index of the joined file: one track, each input file's samples one chunk at ``chunk_offsets``."""
    first = tracks[0]
    durations = np.concatenate([t.durations for t in tracks])
    media_duration = int(durations.sum())
    movie_duration = (media_duration * MOVIE_TIMESCALE + first.timescale // 2) // first.timescale
    big = max(media_duration, movie_duration) > MAX_U32
    v = 1 if big else 0  # version 1: 64-bit times and durations

    def times(scale: int, duration: int) -> bytes:  # creation and modification time (0), timescale, duration
        return struct.pack(">QQIQ" if big else ">IIII", 0, 0, scale, duration)

    mvhd = _full_box(b"mvhd", v, 0, times(MOVIE_TIMESCALE, movie_duration),
                     struct.pack(">IH10x", 0x00010000, 0x0100), IDENTITY_MATRIX, bytes(24), struct.pack(">I", 2))
    track_times = struct.pack(">QQIIQ", 0, 0, 1, 0, movie_duration) if big else \
        struct.pack(">IIIII", 0, 0, 1, 0, movie_duration)
    tkhd = _full_box(b"tkhd", v, 3, track_times, bytes(8), struct.pack(">hhhH", 0, 0, 0, 0), IDENTITY_MATRIX,
                     first.size_16_16)
    mdhd = _full_box(b"mdhd", v, 0, times(first.timescale, media_duration), struct.pack(">HH", 0x55C4, 0))
    hdlr = _full_box(b"hdlr", 0, 0, bytes(4), b"vide", bytes(12), b"VideoHandler\0")
    dinf = _box(b"dinf", _full_box(b"dref", 0, 0, struct.pack(">I", 1), _full_box(b"url ", 0, 1)))
    vmhd = _full_box(b"vmhd", 0, 1, bytes(8))

    per_chunk = np.array([t.frames for t in tracks], np.int64)
    change = np.concatenate(([0], np.flatnonzero(np.diff(per_chunk)) + 1))
    stsc_rows = np.column_stack((change + 1, per_chunk[change], np.ones(len(change), np.int64)))
    stbl = [_full_box(b"stsd", 0, 0, struct.pack(">I", 1), first.sample_entry), _table(b"stts", _runs(durations))]
    if any(t.composition_offsets is not None for t in tracks):
        composition = np.concatenate([t.composition_offsets if t.composition_offsets is not None
                                      else np.zeros(t.frames, np.int64) for t in tracks])
        negative = bool((composition < 0).any())
        stbl.append(_table(b"ctts", _runs(composition), ">i4" if negative else ">u4", version=int(negative)))
    sync = np.concatenate([t.sync for t in tracks])
    if not sync.all():
        stbl.append(_table(b"stss", np.flatnonzero(sync) + 1))
    sizes = np.concatenate([t.sizes for t in tracks])
    stbl += [_table(b"stsc", stsc_rows),
             _full_box(b"stsz", 0, 0, struct.pack(">II", 0, len(sizes)), sizes.astype(">u4").tobytes()),
             _table(b"co64", chunk_offsets, ">u8") if co64 else _table(b"stco", chunk_offsets)]
    minf = _box(b"minf", vmhd, dinf, _box(b"stbl", *stbl))
    return _box(b"moov", mvhd, _box(b"trak", tkhd, _box(b"mdia", mdhd, hdlr, minf)))


def join_mp4(inputs: list[Path], output: str | Path) -> int:
    """Write the video tracks of ``inputs`` (in this order) one after the other into ``output``; returns the number
    of frames. ``output`` appears whole or not at all (written beside it, synced, then renamed)."""
    tracks = [read_video_track(p) for p in inputs]
    tracks = [t for t in tracks if t.frames]
    if not tracks:
        raise Mp4Error(f"no frames to join in {', '.join(str(p) for p in inputs) or 'no files'}")
    first = tracks[0]
    for t in tracks[1:]:
        for what, mine, theirs in (("codec description", t.sample_entry, first.sample_entry),
                                   ("timescale", t.timescale, first.timescale),
                                   ("frame size", t.size_16_16, first.size_16_16)):
            if mine != theirs:
                raise Mp4Error(f"{t.path}: its {what} differs from {first.path}'s: not parts of one video")
    if not first.sync[0]:
        raise Mp4Error(f"{first.path}: does not start with a key frame")
    payload = int(sum(int(t.sizes.sum()) for t in tracks))
    mdat_header = 8 if payload + 8 <= MAX_U32 else 16
    co64 = False
    starts = np.cumsum([0] + [int(t.sizes.sum()) for t in tracks[:-1]])  # (S,) each file's bytes in mdat
    while True:
        data_start = len(first.ftyp) + len(_moov(tracks, starts, co64=co64)) + mdat_header
        if co64 or data_start + payload <= MAX_U32:
            break
        co64 = True
    moov = _moov(tracks, starts + data_start, co64=co64)
    output = Path(output)
    tmp = output.with_name(f".{output.name}.joining")
    try:
        with open(tmp, "wb") as out:
            out.write(first.ftyp)
            out.write(moov)
            out.write(struct.pack(">I4s", payload + 8, b"mdat") if mdat_header == 8
                      else struct.pack(">I4sQ", 1, b"mdat", payload + 16))
            for t in tracks:
                _copy_samples(t, out)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, output)
    finally:
        tmp.unlink(missing_ok=True)
    return int(sum(t.frames for t in tracks))


def _copy_samples(track: VideoTrack, out) -> None:
    """Copy a track's samples in order, reading runs of adjacent samples at once."""
    ends = track.offsets + track.sizes
    breaks = np.flatnonzero(track.offsets[1:] != ends[:-1]) + 1  # samples that do not follow the one before
    run_starts = np.concatenate(([0], breaks))
    run_ends = np.concatenate((breaks, [track.frames]))
    with open(track.path, "rb") as f:
        for a, b in zip(run_starts, run_ends):
            pos, left = int(track.offsets[a]), int(ends[b - 1] - track.offsets[a])
            f.seek(pos)
            while left:
                block = f.read(min(left, COPY_BLOCK_BYTES))
                if not block:
                    raise Mp4Error(f"{track.path}: its samples run past the end of the file")
                out.write(block)
                left -= len(block)
