"""What an earlier run left in its output folder, so that ``--resume`` can continue after it.

frames.jsonl is the source of truth: the run continues after the last complete, valid line. A line
cut short by a hard kill (or any line after the first invalid one) is removed from the file before
appending. The earlier annotated video and MCAP are never touched: the continuation goes to the next
free part name (``annotated.part2.mp4``, ``annotated.part3.mp4``, ...; ``RES.part2.mcap``, ...).

A run records its input's identity (``input_identity``) in summary.json before its first frame; ``--resume``
refuses an input that is not the same file any more (``identity_mismatch``). Object and lane track ids continue
after the highest ids the earlier parts used (``ResumeState.next_track_id``, ``ResumeState.next_lane_id``).
"""

from __future__ import annotations

import glob
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from perception.errors import UserInputError


@dataclass(frozen=True)
class ResumeState:
    """Counts of the frames already written, and how the earlier parts were described.

    next_frame: index of the first input frame still to process (last frame in frames.jsonl + 1).
    frames_read / frames_processed / frames_failed: counted from frames.jsonl lines.
    bytes_dropped: bytes of a cut or invalid tail removed from frames.jsonl.
    wall_time_s: wall time of the earlier parts (from summary.json; 0 when it is missing).
    startup_s / processing_s: the start-up and processing parts of it (a summary from before they were recorded
        counts all of its wall time as processing).
    parts: the earlier parts as summary.json listed them (one dict per part).
    previous_input: the input path the earlier summary.json names, or None.
    previous_identity: the input identity the earlier summary.json recorded (``input_identity``), or None.
    next_track_id: first object track id still free: above every ``track_id`` in frames.jsonl and the earlier
        summary's ``tracking.next_track_id``.
    next_lane_id: first lane track id still free: above every lane ``id`` in frames.jsonl and the earlier
        summary's ``lanes.next_track_id`` (``lanes.tracks_started`` in summaries from before it was recorded).
    """

    next_frame: int
    frames_read: int
    frames_processed: int
    frames_failed: int
    bytes_dropped: int = 0
    wall_time_s: float = 0.0
    startup_s: float = 0.0
    processing_s: float = 0.0
    parts: list[dict[str, Any]] = field(default_factory=list)
    previous_input: str | None = None
    previous_identity: dict[str, Any] | None = None
    next_track_id: int = 1
    next_lane_id: int = 0


def read_resume_state(out_dir: str | Path) -> ResumeState:
    """Read ``out_dir/frames.jsonl`` (and summary.json when there); changes nothing (see ``drop_cut_tail``)."""
    out_dir = Path(out_dir)
    frames = out_dir / "frames.jsonl"
    if not frames.is_file():
        raise UserInputError(f"--resume: no frames.jsonl in {out_dir} (nothing to resume; run without --resume)")
    data = frames.read_bytes()
    good_end, last_frame, n_read, n_failed, max_track_id, max_lane_id = 0, -1, 0, 0, 0, -1
    pos = 0
    while pos < len(data):
        nl = data.find(b"\n", pos)
        if nl == -1:
            break  # last line cut short
        try:
            rec = json.loads(data[pos:nl])
            frame = rec["frame"]
            if not isinstance(frame, int) or frame <= last_frame:
                raise ValueError("frame numbers must increase")
        except (ValueError, KeyError, TypeError):
            break
        last_frame = frame
        max_track_id = max([max_track_id, *_track_ids(rec)])
        max_lane_id = max([max_lane_id, *_lane_ids(rec)])
        n_read += 1
        n_failed += rec.get("status") == "failed"
        pos = good_end = nl + 1
    dropped = len(data) - good_end
    summary = _load_summary(out_dir / "summary.json")
    parts = [dict(p) for p in summary.get("parts") or ([_part_of(summary)] if summary else []) if isinstance(p, dict)]
    if parts:  # a hard-killed last part left a stale summary: its counts come from frames.jsonl
        earlier = parts[:-1]
        earlier_read = sum(int(p.get("frames_read") or 0) for p in earlier)
        earlier_failed = sum(int(p.get("frames_failed") or 0) for p in earlier)
        parts[-1].update(frames_read=n_read - earlier_read, frames_failed=n_failed - earlier_failed,
                         frames_processed=(n_read - earlier_read) - (n_failed - earlier_failed))
    inputs = summary.get("input") if isinstance(summary.get("input"), dict) else {}
    identity = inputs.get("identity") if isinstance(inputs.get("identity"), dict) else None
    tracking = summary.get("tracking") if isinstance(summary.get("tracking"), dict) else {}
    recorded_next = tracking.get("next_track_id")
    next_track_id = max(max_track_id + 1, recorded_next if _is_int(recorded_next) else 1)
    lanes = summary.get("lanes") if isinstance(summary.get("lanes"), dict) else {}
    recorded_lanes = lanes.get("next_track_id", lanes.get("tracks_started"))
    next_lane_id = max(max_lane_id + 1, recorded_lanes if _is_int(recorded_lanes) else 0)
    wall = _seconds(summary.get("wall_time_s"))
    processing = _seconds(summary.get("processing_s")) if "processing_s" in summary else wall
    return ResumeState(next_frame=last_frame + 1, frames_read=n_read, frames_processed=n_read - n_failed,
                       frames_failed=n_failed, bytes_dropped=dropped, wall_time_s=wall,
                       startup_s=_seconds(summary.get("startup_s")), processing_s=processing,
                       parts=parts, previous_input=inputs.get("path"), previous_identity=identity,
                       next_track_id=next_track_id, next_lane_id=next_lane_id)


def _seconds(value: Any) -> float:
    """A time from summary.json, 0 when it is missing or not a number."""
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else 0.0


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _track_ids(record: Any) -> list[int]:
    """The integer ``track_id`` values of one frames.jsonl record's detections."""
    dets = record.get("detections") if isinstance(record, dict) else None
    if not isinstance(dets, list):
        return []
    return [d["track_id"] for d in dets if isinstance(d, dict) and _is_int(d.get("track_id"))]


def _lane_ids(record: Any) -> list[int]:
    """The integer lane ``id`` values of one frames.jsonl record's lanes."""
    lanes = record.get("lanes") if isinstance(record, dict) else None
    if not isinstance(lanes, list):
        return []
    return [lane["id"] for lane in lanes if isinstance(lane, dict) and _is_int(lane.get("id"))]


# Bytes hashed at each end of an input file: enough to tell two recordings apart, cheap for any file size.
IDENTITY_HASH_BYTES = 1 << 20


def input_identity(path: str | Path, *, exclude: str | Path | None = None) -> dict[str, Any]:
    """What identifies an input, recorded before a run's first frame and compared by ``--resume``.

    A file: absolute ``path``, ``size_bytes``, ``mtime_ns`` and ``sha256_first_last_mib`` (SHA-256 of its first
    and last MiB; the whole file when smaller than 2 MiB). A folder (images, ROS 2 bag) or a glob of images: the
    absolute ``path`` (the pattern for a glob), and over the files in it: ``files`` (count), ``size_bytes``
    (sum), ``mtime_ns`` (latest) and ``sha256_listing`` (SHA-256 of each file's relative name, size and mtime).
    Files under ``exclude`` (the run's own output folder, when it lies inside the input folder) do not count.
    """
    p = Path(path)
    abs_path = str(p.resolve()) if p.exists() else str(Path(path).absolute())
    if p.is_file():
        st = p.stat()
        digest = hashlib.sha256()
        with open(p, "rb") as f:
            digest.update(f.read(IDENTITY_HASH_BYTES))
            if st.st_size > IDENTITY_HASH_BYTES:
                f.seek(max(IDENTITY_HASH_BYTES, st.st_size - IDENTITY_HASH_BYTES))
                digest.update(f.read(IDENTITY_HASH_BYTES))
        return {"path": abs_path, "size_bytes": st.st_size, "mtime_ns": st.st_mtime_ns,
                "sha256_first_last_mib": digest.hexdigest()}
    if p.is_dir():
        root, files = p, sorted(f for f in p.rglob("*") if f.is_file())
    else:
        root, files = None, sorted(Path(f) for f in glob.glob(str(path), recursive=True) if Path(f).is_file())
    if exclude is not None:
        skip = Path(exclude).resolve()
        files = [f for f in files if not f.resolve().is_relative_to(skip)]
    listing = hashlib.sha256()
    size, mtime = 0, 0
    for f in files:
        st = f.stat()
        size, mtime = size + st.st_size, max(mtime, st.st_mtime_ns)
        name = f.relative_to(root).as_posix() if root is not None else str(f.resolve())
        listing.update(f"{name}\t{st.st_size}\t{st.st_mtime_ns}\n".encode())
    return {"path": abs_path, "files": len(files), "size_bytes": size, "mtime_ns": mtime,
            "sha256_listing": listing.hexdigest()}


def identity_mismatch(recorded: dict[str, Any], current: dict[str, Any]) -> str | None:
    """None when ``current`` is the input ``recorded`` describes; else what differs, in words."""
    if recorded.get("path") != current.get("path"):
        return f"another input ({recorded.get('path')}), not {current.get('path')}"
    changed = [key for key in sorted(set(recorded) | set(current)) if key != "path"
               and recorded.get(key) != current.get(key)]
    if changed:
        return f"{recorded.get('path')} as it was then, and it has changed since ({', '.join(changed)} differ)"
    return None


def drop_cut_tail(out_dir: str | Path, state: ResumeState) -> None:
    """Remove the ``state.bytes_dropped`` bytes after the last valid line of frames.jsonl (before appending)."""
    if state.bytes_dropped:
        frames = Path(out_dir) / "frames.jsonl"
        with open(frames, "r+b") as f:
            size = f.seek(0, 2)
            f.truncate(size - state.bytes_dropped)


def note_joined_video(part: dict[str, Any], frames_in_video: int) -> None:
    """Record in ``part`` (a ``parts`` entry, or a one-part summary) how many frames the video joined after a kill
    holds: ``annotated_video_frames``, and ``annotated_video_note`` when frames.jsonl lists more (the segment being
    written when the run died is lost). ``part["frames_read"]`` must be counted from frames.jsonl."""
    part["annotated_video_frames"] = int(frames_in_video)
    lost = int(part.get("frames_read") or 0) - int(frames_in_video)
    if lost > 0:
        part["annotated_video_note"] = (f"the run was killed: the video holds {frames_in_video} of these "
                                        f"{part['frames_read']} frames; the last {lost} are only in frames.jsonl")


def record_joined_video(out_dir: str | Path, video: str | Path, frames_in_video: int) -> str | None:
    """After ``perception.tools.join_video``: note in ``out_dir/summary.json`` (rewritten atomically) the frames
    the joined ``video`` holds, on the killed run's last part. Returns the note, or None when there is nothing
    to note (no summary, the video is not the last part's, or no frame is missing)."""
    from perception.sinks.files import write_json_atomic

    out_dir = Path(out_dir)
    summary = _load_summary(out_dir / "summary.json")
    if not summary or not (out_dir / "frames.jsonl").is_file():
        return None
    state = read_resume_state(out_dir)  # counts from frames.jsonl: the summary may be up to a checkpoint old
    target = summary["parts"][-1] if isinstance(summary.get("parts"), list) and summary["parts"] else summary
    named = target.get("annotated_video") if target is not summary else (summary.get("outputs") or {}).get(
        "annotated_video")
    if not isinstance(target, dict) or not named or Path(named).name != Path(video).name or not state.parts:
        return None
    counted = {**target, "frames_read": state.parts[-1]["frames_read"]}
    note_joined_video(counted, frames_in_video)
    target["annotated_video_frames"] = counted["annotated_video_frames"]
    if "annotated_video_note" in counted:
        target["annotated_video_note"] = counted["annotated_video_note"]
    write_json_atomic(out_dir / "summary.json", summary)
    return counted.get("annotated_video_note")


def _load_summary(path: Path) -> dict[str, Any]:
    try:
        obj = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return obj if isinstance(obj, dict) else {}


def _part_of(summary: dict[str, Any]) -> dict[str, Any]:
    """A one-part run's summary reduced to what ``parts`` lists."""
    outputs = summary.get("outputs") or {}
    return {"first_frame": summary.get("resumed_from_frame", 0), "frames_read": summary.get("frames_read"),
            "frames_processed": summary.get("frames_processed"), "frames_failed": summary.get("frames_failed"),
            "interrupted": summary.get("interrupted"), "wall_time_s": summary.get("wall_time_s"),
            "startup_s": summary.get("startup_s"), "processing_s": summary.get("processing_s"),
            "annotated_video": outputs.get("annotated_video"), "mcap": outputs.get("mcap"),
            "latency_ms": summary.get("latency_ms")}


def next_part_path(path: str | Path, *, always_part: bool = False) -> Path:
    """``path`` when it does not exist (and not ``always_part``), else the first free ``<stem>.partN<suffix>``
    (N >= 2)."""
    path = Path(path)
    if not path.exists() and not always_part:
        return path
    n = 2
    while True:
        candidate = path.with_name(f"{path.stem}.part{n}{path.suffix}")
        if not candidate.exists():
            return candidate
        n += 1
