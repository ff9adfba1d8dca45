"""What an earlier run left in its output folder, so that ``--resume`` can continue after it.

frames.jsonl is the source of truth: the run continues after the last complete, valid line. A line
cut short by a hard kill (or any line after the first invalid one) is removed from the file before
appending. The earlier annotated video and MCAP are never touched: the continuation goes to the next
free part name (``annotated.part2.mp4``, ``annotated.part3.mp4``, ...; ``RES.part2.mcap``, ...).
"""

from __future__ import annotations

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
    parts: the earlier parts as summary.json listed them (one dict per part).
    previous_input: the input path the earlier summary.json names, or None.
    """

    next_frame: int
    frames_read: int
    frames_processed: int
    frames_failed: int
    bytes_dropped: int = 0
    wall_time_s: float = 0.0
    parts: list[dict[str, Any]] = field(default_factory=list)
    previous_input: str | None = None


def read_resume_state(out_dir: str | Path) -> ResumeState:
    """Read ``out_dir/frames.jsonl`` (and summary.json when there); changes nothing (see ``drop_cut_tail``)."""
    out_dir = Path(out_dir)
    frames = out_dir / "frames.jsonl"
    if not frames.is_file():
        raise UserInputError(f"--resume: no frames.jsonl in {out_dir} (nothing to resume; run without --resume)")
    data = frames.read_bytes()
    good_end, last_frame, n_read, n_failed = 0, -1, 0, 0
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
    return ResumeState(next_frame=last_frame + 1, frames_read=n_read, frames_processed=n_read - n_failed,
                       frames_failed=n_failed, bytes_dropped=dropped,
                       wall_time_s=float(summary.get("wall_time_s") or 0.0) if summary else 0.0,
                       parts=parts, previous_input=(summary.get("input") or {}).get("path") if summary else None)


def drop_cut_tail(out_dir: str | Path, state: ResumeState) -> None:
    """Remove the ``state.bytes_dropped`` bytes after the last valid line of frames.jsonl (before appending)."""
    if state.bytes_dropped:
        frames = Path(out_dir) / "frames.jsonl"
        with open(frames, "r+b") as f:
            size = f.seek(0, 2)
            f.truncate(size - state.bytes_dropped)


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
