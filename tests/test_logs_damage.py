"""Damaged logs and videos: read up to (and past, where the index allows) the damage; loss counted.

The CLI exits 0 with a warning when something was readable, 2 with one line when nothing was.
"""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from conftest import CLIP, need, run_cli

pytest.importorskip("mcap", reason="the 'logs' extra (mcap) is not installed: pip install '.[logs]'")
pytest.importorskip("rosbags", reason="the 'logs' extra (rosbags) is not installed: pip install '.[logs]'")

from perception.sources import FailedFrame, Frame, open_source  # noqa: E402
from perception.tools.video_to_log import open_writer  # noqa: E402

START_NS = 1_700_000_000 * 10**9


@pytest.fixture(scope="module")
def clip_frames() -> list[np.ndarray]:
    cap = cv2.VideoCapture(str(need(CLIP)))
    frames = [cap.read()[1] for _ in range(12)]
    cap.release()
    return frames


def write_log(path, frames, fmt="mcap", **kw):
    writer = open_writer(fmt, path, "/camera/image/compressed", message="ros", raw=kw.get("raw", False),
                         storage=kw.get("storage", "sqlite3"))
    for i, frame in enumerate(frames):
        writer.write(frame, START_NS + i * 40_000_000)
    writer.close()
    return path


def read(path):
    source = open_source(path)
    items = list(source.iter_frames())
    source.close()
    return source, items


def assert_clean_prefix(items, n_min, n_max):
    assert n_min <= len(items) < n_max
    assert all(isinstance(f, Frame) for f in items)
    assert [f.index for f in items] == list(range(len(items)))
    assert [f.timestamp_s for f in items] == pytest.approx([i * 0.04 for i in range(len(items))])


def test_truncated_mcap_is_read_up_to_the_cut(tmp_path, clip_frames):
    path = write_log(tmp_path / "log.mcap", clip_frames)
    data = path.read_bytes()
    path.write_bytes(data[:int(len(data) * 0.7)])  # a recorder killed mid-write: no summary, last chunk cut
    source, items = read(path)
    assert_clean_prefix(items, 4, 12)
    assert source.info.frame_count == len(items)  # no index: what the scan could see
    assert any("truncated" in note for note in source.damage)


def test_damaged_mcap_chunk_loses_only_its_frames_counted_in_place(tmp_path, clip_frames):
    from mcap.reader import make_reader

    path = write_log(tmp_path / "log.mcap", clip_frames)
    with open(path, "rb") as f:
        chunks = make_reader(f).get_summary().chunk_indexes
    assert len(chunks) >= 3
    victim = chunks[1]
    data = bytearray(path.read_bytes())
    at = victim.chunk_start_offset + 200
    data[at:at + 1000] = bytes(1000)  # inside the chunk's payload: CRC mismatch, framing intact
    path.write_bytes(bytes(data))
    source, items = read(path)
    assert [f.index for f in items] == list(range(12)), "every frame keeps its position"
    failed = [f.index for f in items if isinstance(f, FailedFrame)]
    assert failed and failed == list(range(failed[0], failed[-1] + 1)), "one chunk: one contiguous block"
    assert 0 < failed[0] and failed[-1] < 11
    for f in items:  # lost frames carry their real record time (from the chunk's message index)
        assert f.timestamp_s == pytest.approx(f.index * 0.04)
    assert any("CRC" in note for note in source.damage)


def test_ros1_bag_cut_short_and_chunk_damage(tmp_path, clip_frames):
    path = write_log(tmp_path / "log.bag", clip_frames[:6], fmt="ros1", raw=True)  # one 1.5 MB chunk per frame
    data = path.read_bytes()
    from perception.sources.logs.ros1_scan import Ros1File

    bag = Ros1File(path)
    chunk_pos = [p for p, _ in bag.index.chunks]
    bag.close()
    # A chunk header wiped in the middle: the bag index lets the reader skip to the next chunk.
    damaged = bytearray(data)
    damaged[chunk_pos[3]:chunk_pos[3] + 64] = bytes(64)
    (tmp_path / "mid.bag").write_bytes(bytes(damaged))
    source, items = read(tmp_path / "mid.bag")
    assert [f.index for f in items] == list(range(6))
    assert [f.index for f in items if isinstance(f, FailedFrame)] == [3]
    # Cut short (a recorder killed mid-write leaves no index either).
    (tmp_path / "cut.bag").write_bytes(data[:chunk_pos[4] + 1000])
    source, items = read(tmp_path / "cut.bag")
    assert_clean_prefix(items, 4, 5)
    assert source.damage


def test_ros2_mcap_bag_cut_short(tmp_path, clip_frames):
    # raw images: rosbags closes a 1 MiB chunk after every frame, so a cut keeps whole chunks before it
    folder = write_log(tmp_path / "bag", clip_frames[:8], fmt="ros2", storage="mcap", raw=True)
    (storage,) = folder.glob("*.mcap")
    data = storage.read_bytes()
    storage.write_bytes(data[:int(len(data) * 0.6)])
    source, items = read(folder)
    assert source.info.kind == "ros2"
    assert_clean_prefix(items, 3, 8)


def test_cli_truncated_log_exits_0_with_a_warning(tmp_path, clip_frames):
    path = write_log(tmp_path / "log.mcap", clip_frames[:8])  # about 4 frames per 256 KiB chunk
    data = path.read_bytes()
    path.write_bytes(data[:int(len(data) * 0.7)])
    out = tmp_path / "out"
    proc = run_cli("perception.run", "--video", str(path), "--output", str(out), "--no-video", "--no-progress")
    assert proc.returncode == 0, proc.stderr
    assert "warning: input damaged" in proc.stderr and "Traceback" not in proc.stderr
    summary = json.loads((out / "summary.json").read_text())
    lines = (out / "frames.jsonl").read_text().splitlines()
    assert 1 <= summary["frames_read"] == len(lines) < 8
    assert summary["input_damage"] and summary["state"] == "finished"


def test_cli_nothing_readable_exits_2(tmp_path, clip_frames):
    path = write_log(tmp_path / "log.mcap", clip_frames[:3])
    path.write_bytes(path.read_bytes()[:60])  # magic and header only
    proc = run_cli("perception.run", "--video", str(path), "--output", str(tmp_path / "out"))
    assert proc.returncode == 2, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "log.mcap" in lines[0] and "Traceback" not in proc.stderr


def _clip_copy(path, frames, fourcc):
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), 25, (480, 270))
    for f in frames:
        writer.write(cv2.resize(f, (480, 270)))
    writer.release()
    return path


def test_cli_truncated_video_processed_up_to_the_damage(tmp_path, clip_frames):
    """An AVI cut short announces 8 frames; those after the cut are counted as failed, exit 0."""
    path = _clip_copy(tmp_path / "clip.avi", clip_frames[:8], "MJPG")
    data = path.read_bytes()
    path.write_bytes(data[:int(len(data) * 0.6)])
    out = tmp_path / "out"
    proc = run_cli("perception.run", "--video", str(path), "--output", str(out), "--no-video", "--no-progress")
    assert proc.returncode == 0, proc.stderr
    summary = json.loads((out / "summary.json").read_text())
    assert summary["frames_read"] == 8 and 1 <= summary["frames_failed"] < 8
    assert "could not be decoded" in proc.stderr


def test_cli_mp4_cut_before_its_index_exits_2(tmp_path, clip_frames):
    """OpenCV writes the MP4 index (moov) last: cut short, nothing is readable."""
    path = _clip_copy(tmp_path / "clip.mp4", clip_frames[:4], "mp4v")
    path.write_bytes(path.read_bytes()[:-2000])
    proc = run_cli("perception.run", "--video", str(path), "--output", str(tmp_path / "out"))
    assert proc.returncode == 2
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "clip.mp4" in lines[0]


def _cut_ros2_sqlite_bag(tmp_path, frames, keep: float):
    folder = write_log(tmp_path / "bag", frames, fmt="ros2", storage="sqlite3")
    (db,) = folder.glob("*.db3")
    data = db.read_bytes()
    db.write_bytes(data[:int(len(data) * keep)])  # a copy cut short: the header still counts every page
    return folder


def test_ros2_sqlite_bag_cut_short_is_read_up_to_the_cut(tmp_path, clip_frames):
    """Was: 'database disk image is malformed' for the whole bag (exit 2), though sqlite still holds the first rows."""
    folder = _cut_ros2_sqlite_bag(tmp_path, clip_frames, 0.7)
    source, items = read(folder)
    assert source.info.kind == "ros2" and source.info.frame_count == 12  # what metadata.yaml announces
    assert_clean_prefix(items, 4, 12)
    assert any("bag.db3" in note and "cut short" in note for note in source.damage), source.damage
    assert any(f"{12 - len(items)} lost" in note for note in source.damage), source.damage


def test_cli_ros2_sqlite_bag_cut_short(tmp_path, clip_frames):
    folder = _cut_ros2_sqlite_bag(tmp_path, clip_frames[:8], 0.7)
    out = tmp_path / "out"
    proc = run_cli("perception.run", "--source", str(folder), "--output", str(out), "--no-video", "--no-progress",
                   "--planner", "off")
    assert proc.returncode == 0, proc.stderr
    warnings = [line for line in proc.stderr.splitlines() if line.startswith("warning: input damaged")]
    assert len(warnings) == 1 and "Traceback" not in proc.stderr, proc.stderr
    summary = json.loads((out / "summary.json").read_text())
    assert 1 <= summary["frames_read"] == len((out / "frames.jsonl").read_text().splitlines()) < 8
    assert any("cut short" in note for note in summary["input_damage"]), summary["input_damage"]


@pytest.mark.parametrize("keep", [0.15, 0.0001])
def test_cli_ros2_sqlite_bag_with_no_readable_row_exits_2(tmp_path, clip_frames, keep):
    """Cut before the first message row (or inside sqlite's own header): one line naming the file, exit 2."""
    folder = _cut_ros2_sqlite_bag(tmp_path, clip_frames[:8], keep)
    proc = run_cli("perception.run", "--source", str(folder), "--output", str(tmp_path / "out"))
    assert proc.returncode == 2, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "bag.db3" in lines[0] and "Traceback" not in proc.stderr, proc.stderr
    assert not (tmp_path / "out").exists()
