"""ROS 2 bags in sqlite3 storage that sqlite refuses as a whole (a ``.db3`` cut short): what it still holds.

A ``.db3`` file cut short (a copy that stopped, a full disk) keeps its header, and the header still counts every
page: sqlite then refuses the whole file ("database disk image is malformed") and ``rosbags`` with it. With
``PRAGMA writable_schema=ON`` sqlite takes the file's real length instead, and every row whose pages lie before
the cut can still be read. (The connection is read-only and ``immutable``: nothing is written, no journal is
looked for.) Rows are read one by one: those after a page that is gone are looked up by id, so a damaged stretch
costs only its own rows. A row whose record survives but whose data runs past the cut is a lost message with its
record time; rows whose record is gone too are counted by ``LogSource`` from the message counts in
``metadata.yaml``.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any, Callable, Iterator

from perception.sources.logs.backend import LogMessage, LostMessages, add_damage_note
from perception.sources.logs.decoders import image_decoder, ros_decoder
from perception.sources.logs.errors import LogFormatError, require
from perception.sources.logs.image_messages import ImageMessage
from perception.sources.logs.topics import LogTopic

SQLITE_MAGIC = b"SQLite format 3\x00"
SQLITE_HEADER_BYTES = 100
CUT_SHORT = "cut short"  # the ``why`` of a bag salvaged because a file of it is cut short


def missing_bytes(db: Path) -> int | None:
    """Bytes missing at the end of the sqlite file ``db`` (0: complete), from its header's page count and page
    size; None when the file has no readable sqlite header (shorter than 100 bytes, or not sqlite)."""
    try:
        with open(db, "rb") as f:
            header = f.read(SQLITE_HEADER_BYTES)
        size = db.stat().st_size
    except OSError:
        return None
    if len(header) < SQLITE_HEADER_BYTES or not header.startswith(SQLITE_MAGIC):
        return None
    page_size = int.from_bytes(header[16:18], "big")
    page_size = 65536 if page_size == 1 else page_size
    pages = int.from_bytes(header[28:32], "big")
    # The page count is valid only while the change counter (offset 24) equals "version valid for" (offset 92).
    if header[24:28] != header[92:96] or pages == 0:
        return 0
    return max(0, pages * page_size - size)


def _connect(db: Path) -> sqlite3.Connection:
    # Opened here, read by the pipeline's decoding thread, closed here again: one thread at a time.
    con = sqlite3.connect(f"{db.resolve().as_uri()}?mode=ro&immutable=1", uri=True, check_same_thread=False)
    con.execute("PRAGMA writable_schema=ON")  # take the file's real length, not the header's page count
    return con


class SqliteSalvageBackend:
    """Log backend over the ``.db3`` files of a ROS 2 bag that sqlite refuses as a whole (see the module docstring).

    Args:
        folder: the bag folder.
        files: its ``.db3`` files, in the order ``metadata.yaml`` lists them.
        counts: messages per topic as ``metadata.yaml`` announces them (the frames lost are counted from these).
        why: what went wrong opening the bag normally: ``CUT_SHORT`` (a file is), else sqlite's complaint.
    """

    kind = "ros2"

    def __init__(self, folder: Path, files: list[Path], counts: dict[str, int], why: str):
        require("rosbags.typesys", "reading ROS 2 bags")
        self.path = folder
        self.damage: list[str] = []
        self._counts = counts
        self._rows_announced = sum(counts.values())
        self._files: list[tuple[Path, sqlite3.Connection, dict[int, tuple[str, str]]]] = []
        self._definitions: dict[str, tuple[str, str]] = {}  # type -> (encoding, definition)
        self._file_notes: list[str | None] = []
        unreadable = []
        for db in files:
            lost = missing_bytes(db)
            if lost is None:
                short = db.stat().st_size < SQLITE_HEADER_BYTES
                unreadable.append(f"{db.name} is cut short inside sqlite's {SQLITE_HEADER_BYTES}-byte header" if short
                                  else f"{db.name} is not an sqlite file")
                continue
            con = None
            try:
                con = _connect(db)
                topics = {int(i): (str(n), str(t)) for i, n, t in con.execute("SELECT id, name, type FROM topics")}
            except sqlite3.Error as e:
                if con is not None:
                    con.close()
                unreadable.append(f"{db.name}: sqlite cannot read its topics ({e}), so none of its rows")
                continue
            try:
                for type_name, encoding, text in con.execute(
                        "SELECT topic_type, encoding, encoded_message_definition FROM message_definitions"):
                    if text:
                        self._definitions.setdefault(str(type_name), (str(encoding), str(text)))
            except sqlite3.Error:
                pass  # an older bag without definitions, or a damaged table: the standard ROS 2 types are used
            # A whole file beside one cut short has nothing to report.
            note = (f"{db.name}: cut short ({lost} bytes missing at the end)" if lost else
                    None if why == CUT_SHORT else f"{db.name}: sqlite reports damage ({why})")
            if not _readable_rows(con, set(topics), self._rows_announced, first_only=True):
                con.close()
                unreadable.append(f"{note or db.name} and sqlite cannot read any of its message rows")
                continue
            self._files.append((db, con, topics))
            self._file_notes.append(note)
        if not self._files:
            raise LogFormatError(f"cannot read ROS 2 bag {folder.name}: {'; '.join(unreadable) or 'no .db3 file'}")
        self._unreadable = unreadable  # files of the bag that give nothing at all
        self.damage = [n for n in self._file_notes if n] + unreadable

    def topics(self) -> list[LogTopic]:
        found: dict[str, str] = {}
        for _, _, topics in self._files:
            for name, type_name in topics.values():
                found.setdefault(name, type_name)
        return sorted((LogTopic(name=n, type_name=t, message_count=self._counts.get(n)) for n, t in found.items()),
                      key=lambda t: t.name)

    def image_decoder(self, topic: LogTopic) -> Callable[[bytes | memoryview], ImageMessage]:
        return image_decoder(topic.type_name, self.message_decoder(topic), json_base64=False)

    def message_decoder(self, topic: LogTopic) -> Callable[[bytes | memoryview], Any]:
        known = self._definitions.get(topic.type_name)
        if known is not None and known[0] in ("ros2msg", "ros2idl"):
            return ros_decoder(topic.type_name, known[1], schema_encoding=known[0])
        typesys = require("rosbags.typesys", "reading ROS 2 bags")
        store = typesys.get_typestore(typesys.Stores.LATEST)
        if topic.type_name not in store.types:
            raise LogFormatError(f"ROS 2 bag {self.path.name} stores no definition of {topic.type_name}")
        return lambda payload: store.deserialize_cdr(bytes(payload), topic.type_name)

    def messages(self, topic: LogTopic) -> Iterator[LogMessage | LostMessages]:
        """The topic's readable rows in record-time order; a row whose data is gone is a LostMessages."""
        self.damage = []
        rows: list[tuple[int, int, int]] = []  # (timestamp ns, file number, row id)
        for k, (db, con, topics) in enumerate(self._files):
            ids = {i for i, (name, _) in topics.items() if name == topic.name}
            found = _readable_rows(con, ids, self._rows_announced)
            rows.extend((ts, k, rid) for ts, rid in found)
            if self._file_notes[k]:
                self._note(f"{self._file_notes[k]}: sqlite still gives {len(found)} message(s) of {topic.name}")
        self.damage.extend(self._unreadable)
        rows.sort()
        lost = 0
        for ts, k, rid in rows:
            con = self._files[k][1]
            try:
                found = con.execute("SELECT data FROM messages WHERE id = ?", (rid,)).fetchone()
            except sqlite3.DatabaseError:
                found = None
            if found is None or found[0] is None:
                lost += 1
                yield LostMessages(count=1, log_times_ns=(int(ts),), reason="its data lies in the damaged part")
                continue
            yield LogMessage(log_time_ns=int(ts), payload=found[0])
        if lost:
            self._note(f"{lost} message(s) of {topic.name} lost: their record survives, their data does not")

    def _note(self, text: str) -> None:
        add_damage_note(self.damage, text)

    def close(self) -> None:
        for _, con, _ in self._files:
            con.close()
        self._files = []


def _readable_rows(con: sqlite3.Connection, topic_ids: set[int], rows_announced: int, *,
                   first_only: bool = False) -> list[tuple[int, int]]:
    """(timestamp ns, row id) of every readable row of the topics ``topic_ids``, in id order (``first_only``: the
    first one).

    One pass in id order; when it meets a page that is gone, the ids after it are looked up one by one (up to the
    highest id sqlite can still tell, else the number of rows ``metadata.yaml`` announces) and the pass goes on
    from the next row found. Row ids of a rosbag2 file count up from 1.
    """
    rows: list[tuple[int, int]] = []
    last = 0
    try:
        (highest,) = con.execute("SELECT max(id) FROM messages").fetchone()
    except sqlite3.DatabaseError:
        highest = None
    limit = highest if highest is not None else rows_announced
    while True:
        try:
            for rid, tid, ts in con.execute("SELECT id, topic_id, timestamp FROM messages WHERE id > ? ORDER BY id",
                                            (last,)):
                last = rid
                if tid in topic_ids:
                    rows.append((int(ts), int(rid)))
                    if first_only:
                        return rows
            return rows
        except sqlite3.DatabaseError:
            pass
        # The page after row ``last`` is gone: look for the next row that sqlite can still read.
        for rid in range(last + 1, limit + 1):
            try:
                row = con.execute("SELECT id, topic_id, timestamp FROM messages WHERE id = ?", (rid,)).fetchone()
            except sqlite3.DatabaseError:
                continue
            if row is not None:
                last = rid
                if row[1] in topic_ids:
                    rows.append((int(row[2]), int(rid)))
                    if first_only:
                        return rows
                break
        else:
            return rows
