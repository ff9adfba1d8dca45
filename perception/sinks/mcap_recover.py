"""Rewrite an MCAP file that a killed process left without its summary into a complete, indexed one.

An MCAP writer puts the index (chunk indexes, statistics, footer) at the end of the file, in ``finish()``; a run
killed with SIGKILL never gets there, so readers that seek to the index (``mcap.reader.make_reader`` on a file)
cannot open it. The data before the cut is intact: ``--mcap-out`` writes small chunks (see
``perception.sinks.mcap_results``), each one complete on disk once written. ``recover_mcap`` reads the file from
the start, record by record, keeps every schema, channel, message, metadata and attachment up to the first record
that is cut short or damaged (a chunk whose CRC or compression fails), and writes them into a new file with a
full summary, as ``mcap recover`` of the MCAP command-line tool does.
"""

from __future__ import annotations

import io
import os
import struct
from dataclasses import dataclass
from pathlib import Path

from perception.errors import UserInputError
from perception.sinks.mcap_results import CHUNK_BYTES
from perception.sources.logs.errors import require

MAGIC = b"\x89MCAP0\r\n"
RECORD_HEADER = struct.Struct("<BQ")  # opcode, length


@dataclass(frozen=True)
class McapRecovery:
    """What ``recover_mcap`` kept.

    messages: messages written to the new file; channels: channels they are on (with their message counts in
    ``messages_per_topic``). bytes_kept: bytes of the old file read whole (magic included); bytes_lost: the
    bytes after them (a cut-off or damaged tail; 0 for a complete file). complete: the old file had its summary.
    """

    messages: int
    messages_per_topic: dict[str, int]
    bytes_kept: int
    bytes_lost: int
    complete: bool


def recover_mcap(source: str | Path, output: str | Path) -> McapRecovery:
    """Copy the readable records of ``source`` into a new MCAP file ``output`` (which must not exist).

    Raises ``UserInputError`` (one line) when ``source`` is missing, not an MCAP file or has no readable header, or
    ``output`` exists. ``output`` appears whole or not at all.
    """
    require("mcap.writer", "recovering an MCAP file")
    from mcap.records import DataEnd, Footer, Header
    from mcap.writer import Writer

    source, output = Path(source), Path(output)
    if not source.is_file():
        raise UserInputError(f"{source}: no such file")
    if output.exists() or output.resolve() == source.resolve():
        raise UserInputError(f"{output} exists; choose another output file (the original is never overwritten)")
    tmp = output.with_name(f".{output.name}.recovering")
    copier, complete, kept = None, False, len(MAGIC)
    try:
        with open(source, "rb") as f, open(tmp, "wb") as out:
            size = os.fstat(f.fileno()).st_size
            if f.read(len(MAGIC)) != MAGIC:
                raise UserInputError(f"{source}: not an MCAP file (it does not start with the MCAP magic bytes)")
            for record, inner, end in _whole_records(f, size):
                if isinstance(record, Header):
                    if copier is None:
                        writer = Writer(out, chunk_size=CHUNK_BYTES)
                        writer.start(profile=record.profile, library=record.library)
                        copier = _Copier(writer)
                elif copier is None:
                    break  # no header first: damaged from the start
                try:
                    for item in inner:
                        copier.add(item)
                except KeyError:  # a message on a channel never defined (or a channel's schema): damaged
                    break
                kept = end
                if isinstance(record, (DataEnd, Footer)):
                    complete = True  # the data section ended: what follows is the summary, rebuilt anyway
                    break
            if copier is None:
                raise UserInputError(f"{source}: no readable MCAP header: nothing to recover")
            copier.writer.finish()
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, output)
    finally:
        tmp.unlink(missing_ok=True)
    return McapRecovery(messages=sum(copier.per_topic.values()), messages_per_topic=dict(copier.per_topic),
                        bytes_kept=kept, bytes_lost=0 if complete else size - kept, complete=complete)


def _whole_records(f, size: int):
    """(record, the records to copy from it, end offset) for each top-level record of an open MCAP file after its
    magic, a chunk unpacked (its CRC checked); stops at the first record cut short or that fails to decode."""
    from mcap.records import Chunk
    from mcap.stream_reader import StreamReader, breakup_chunk

    pos = f.tell()
    while pos + RECORD_HEADER.size <= size:
        f.seek(pos)
        opcode, length = RECORD_HEADER.unpack(f.read(RECORD_HEADER.size))
        end = pos + RECORD_HEADER.size + length
        if end > size:
            return  # cut short by the kill
        raw = RECORD_HEADER.pack(opcode, length) + f.read(length)
        try:  # damaged bytes can fail anywhere in the decoders (struct, zstd, lz4, CRC): keep what came before
            record = next(StreamReader(io.BytesIO(raw), skip_magic=True, emit_chunks=True).records, None)
            inner = breakup_chunk(record, validate_crc=True) if isinstance(record, Chunk) else [record]
        except Exception:  # noqa: BLE001
            return
        yield record, inner, end
        pos = end


class _Copier:
    """Adds schemas, channels, messages, metadata and attachments read from one file to a Writer, renumbering the
    schema and channel ids (a Writer numbers its own)."""

    def __init__(self, writer) -> None:
        self.writer = writer
        self.schemas: dict = {}  # old schema id -> Schema record, registered once a channel uses it
        self.schema_ids: dict[int, int] = {}  # old id -> new id
        self.channel_ids: dict[int, int] = {}
        self.topics: dict[int, str] = {}  # old channel id -> topic
        self.per_topic: dict[str, int] = {}

    def add(self, record) -> None:
        from mcap.records import Attachment, Channel, Message, Metadata, Schema

        w = self.writer
        if isinstance(record, Schema):
            self.schemas.setdefault(record.id, record)
        elif isinstance(record, Channel) and record.id not in self.channel_ids:
            if record.schema_id and record.schema_id not in self.schema_ids:
                schema = self.schemas[record.schema_id]
                self.schema_ids[record.schema_id] = w.register_schema(schema.name, schema.encoding, schema.data)
            self.channel_ids[record.id] = w.register_channel(record.topic, record.message_encoding,
                                                             self.schema_ids.get(record.schema_id, 0), record.metadata)
            self.topics[record.id] = record.topic
        elif isinstance(record, Message):
            w.add_message(self.channel_ids[record.channel_id], log_time=record.log_time, data=record.data,
                          publish_time=record.publish_time, sequence=record.sequence)
            topic = self.topics[record.channel_id]
            self.per_topic[topic] = self.per_topic.get(topic, 0) + 1
        elif isinstance(record, Metadata):
            w.add_metadata(record.name, record.metadata)
        elif isinstance(record, Attachment):
            w.add_attachment(record.create_time, record.log_time, record.name, record.media_type, record.data)
