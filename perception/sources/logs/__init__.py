"""Driving logs as frame sources: MCAP files, ROS 1 bags, ROS 2 bag folders.

``open_log(path, topic=None)`` returns a ``LogSource`` (same interface as VideoSource). Which reader:

| path | kind | reader |
|---|---|---|
| ``*.mcap`` | mcap | damage-tolerant MCAP reader (``mcap`` package) |
| ``*.bag`` | ros1 | damage-tolerant ROS 1 reader; messages deserialized with ``rosbags`` |
| folder with ``metadata.yaml`` | ros2 | MCAP storage: the MCAP reader on its files; sqlite3 storage: ``rosbags``, |
| | | or, for a ``.db3`` sqlite refuses whole (cut short), the rows it still gives (``sqlite_salvage``) |

The packages come with the ``logs`` extra (``pip install 'perception[logs]'``) and are imported only
when a log is opened.
"""

from __future__ import annotations

from pathlib import Path

from perception.sources.logs.errors import LogDependencyError, LogFormatError
from perception.sources.logs.source import LogSource

__all__ = ["LogSource", "LogFormatError", "LogDependencyError", "open_log", "is_log_path", "LOG_SUFFIXES"]

LOG_SUFFIXES = (".mcap", ".bag")


def is_log_path(path: str | Path) -> bool:
    """True for an ``.mcap`` / ``.bag`` file or a folder holding ``metadata.yaml`` (a ROS 2 bag)."""
    p = Path(path)
    if p.is_dir():
        return (p / "metadata.yaml").is_file()
    return p.suffix.lower() in LOG_SUFFIXES


def open_log(path: str | Path, topic: str | None = None, speed_topic: str | None = None,
             ego_speed: bool = True) -> LogSource:
    """Open a driving log as a frame source of its camera topic (``topic`` or the only camera topic), with the
    ego speed from ``speed_topic`` or the log's first odometry / twist topic (see ``ego_speed``; not read when
    ``ego_speed`` is False)."""
    p = Path(path)
    if p.is_dir():
        backend = _ros2_backend(p)
    elif p.suffix.lower() == ".mcap":
        from perception.sources.logs.mcap_backend import McapBackend

        backend = McapBackend([p], kind="mcap")
    elif p.suffix.lower() == ".bag":
        from perception.sources.logs.ros1_backend import Ros1Backend

        backend = Ros1Backend(p)
    else:
        raise LogFormatError(f"{p.name} is not a driving log (.mcap, .bag or a ROS 2 bag folder)")
    return LogSource(p, backend, topic=topic, speed_topic=speed_topic, ego_speed=ego_speed)


def _ros2_backend(folder: Path):
    """MCAP-stored ROS 2 bags go to the MCAP reader (damage-tolerant), sqlite3 ones to rosbags, or, when sqlite
    refuses a .db3 whole (cut short, malformed), to the rows it still gives (``sqlite_salvage``)."""
    import yaml

    try:
        meta = yaml.safe_load((folder / "metadata.yaml").read_text(encoding="utf-8"))
        info = meta["rosbag2_bagfile_information"]
        storage = str(info.get("storage_identifier", ""))
        files = [folder / str(name) for name in info.get("relative_file_paths") or []]
    except (OSError, UnicodeDecodeError, yaml.YAMLError, KeyError, TypeError, AttributeError):
        raise LogFormatError(f"{folder / 'metadata.yaml'} is not a readable ROS 2 bag metadata file") from None
    if storage == "mcap":
        from perception.sources.logs.mcap_backend import McapBackend

        files = [f for f in files if f.is_file()] or sorted(folder.glob("*.mcap"))
        if not files:
            raise LogFormatError(f"ROS 2 bag {folder.name} names no MCAP file that exists")
        return McapBackend(files, kind="ros2", name=folder.name)
    from perception.sources.logs.rosbag_backend import RosbagBackend
    from perception.sources.logs.sqlite_salvage import CUT_SHORT, SqliteSalvageBackend, missing_bytes

    # A .db3 cut short is refused whole by sqlite (and so by rosbags): read the rows it still holds instead.
    databases = [f for f in files if f.suffix == ".db3" and f.is_file()]
    if any(missing_bytes(f) != 0 for f in databases):
        return SqliteSalvageBackend(folder, databases, _announced_counts(info), CUT_SHORT)
    try:
        return RosbagBackend(folder, kind="ros2")
    except LogFormatError as e:
        if "malformed" not in str(e) and "not a database" not in str(e):
            raise
        return SqliteSalvageBackend(folder, databases, _announced_counts(info), str(e).rsplit(": ", 1)[-1])


def _announced_counts(info: dict) -> dict[str, int]:
    """Messages per topic as a ROS 2 bag's ``metadata.yaml`` announces them (topics it lists badly are left out)."""
    counts = {}
    for entry in info.get("topics_with_message_count") or []:
        try:
            counts[str(entry["topic_metadata"]["name"])] = int(entry["message_count"])
        except (KeyError, TypeError, ValueError):
            continue
    return counts
