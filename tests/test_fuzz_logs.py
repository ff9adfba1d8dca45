"""Fuzzed bad input for the log readers: random bytes, cut and corrupted real logs.

Property: opening and reading a log either works (frames and FailedFrames, never an exception while
iterating) or raises our UserInputError (one line) when opening; nothing else, ever.
"""

from __future__ import annotations

import os
import shutil

import cv2
import pytest

from conftest import CLIP, need

pytest.importorskip("mcap", reason="the 'logs' extra (mcap) is not installed: pip install '.[logs]'")
pytest.importorskip("rosbags", reason="the 'logs' extra (rosbags) is not installed: pip install '.[logs]'")
hypothesis = pytest.importorskip("hypothesis", reason="hypothesis is not installed")

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from perception.errors import UserInputError  # noqa: E402
from perception.sources import FailedFrame, Frame, open_source  # noqa: E402
from perception.tools.video_to_log import open_writer  # noqa: E402

MCAP_MAGIC = b"\x89MCAP0\r\n"
ROS1_MAGIC = b"#ROSBAG V2.0\n"
N_FRAMES = 4
# FUZZ_EXAMPLES=400 for a longer hunt (a few seconds per 100 examples of each test here).
FUZZ = settings(max_examples=int(os.environ.get("FUZZ_EXAMPLES", "60")), deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


def read_all(path) -> tuple[int, int] | None:
    """(frames, failed frames) read from ``path``, or None when it was refused with a UserInputError."""
    try:
        source = open_source(path)
    except UserInputError as e:
        assert "\n" not in str(e), "user errors are one line"
        return None
    try:
        items = list(source.iter_frames())
    finally:
        source.close()
    assert all(isinstance(i, (Frame, FailedFrame)) for i in items)
    assert [i.index for i in items] == list(range(len(items)))
    ok = sum(isinstance(i, Frame) for i in items)
    assert ok >= 1, "a source that opened has at least one readable frame"
    return ok, len(items) - ok


@pytest.fixture(scope="module")
def real_logs(tmp_path_factory) -> dict[str, bytes]:
    """Small real logs (4 frames of the clip, scaled down) as bytes: mcap, ros1 bag, ROS 2 bag's mcap file."""
    cap = cv2.VideoCapture(str(need(CLIP)))
    frames = [cv2.resize(cap.read()[1], (160, 90)) for _ in range(N_FRAMES)]
    cap.release()
    d = tmp_path_factory.mktemp("logs")
    out = {}
    for name, fmt, kw in (("mcap", "mcap", {}), ("mcap-json", "mcap", {"message": "foxglove-json"}),
                          ("ros1", "ros1", {}), ("ros1-raw", "ros1", {"raw": True}),
                          ("ros2", "ros2", {"storage": "mcap"}), ("ros2-sqlite", "ros2", {"storage": "sqlite3"})):
        path = d / (name + {"mcap": ".mcap", "ros1": ".bag", "ros2": ""}[fmt])
        kw.setdefault("message", "ros")
        w = open_writer(fmt, path, "/cam", storage=kw.pop("storage", "sqlite3"), raw=kw.pop("raw", False), **kw)
        for i, f in enumerate(frames):
            w.write(f, 1_000_000_000 + i * 40_000_000)
        w.close()
        if fmt == "ros2":  # the bag's one storage file is fuzzed; metadata.yaml stays intact
            (storage_file,) = [p for p in path.iterdir() if p.name != "metadata.yaml"]
            out[name] = storage_file.read_bytes()
            out[name + ":metadata"] = (path / "metadata.yaml").read_bytes()
            out[name + ":file"] = storage_file.name.encode()
        else:
            out[name] = path.read_bytes()
    return out


KINDS = ["mcap", "mcap-json", "ros1", "ros1-raw", "ros2", "ros2-sqlite"]


def _write(tmp_path, kind: str, data: bytes, real_logs=None):
    if kind.startswith("ros2"):
        folder = tmp_path / "bag"
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir()
        (folder / "metadata.yaml").write_bytes(real_logs[kind + ":metadata"])
        (folder / real_logs[kind + ":file"].decode()).write_bytes(data)
        return folder
    path = tmp_path / ("x.bag" if kind.startswith("ros1") else "x.mcap")
    path.write_bytes(data)
    return path


@FUZZ
@given(data=st.binary(max_size=4096), prefix=st.sampled_from([b"", MCAP_MAGIC, ROS1_MAGIC]),
       suffix=st.sampled_from([".mcap", ".bag"]))
def test_random_bytes(tmp_path, data, prefix, suffix):
    path = tmp_path / f"random{suffix}"
    path.write_bytes(prefix + data)
    assert read_all(path) is None or True  # the property is inside read_all: no exception but ours


@FUZZ
@given(text=st.text(max_size=300) | st.sampled_from([
    "rosbag2_bagfile_information: 3",
    "rosbag2_bagfile_information: {storage_identifier: mcap, relative_file_paths: [missing.mcap]}",
    "rosbag2_bagfile_information: {storage_identifier: sqlite3, relative_file_paths: [x.db3]}",
    "rosbag2_bagfile_information: {version: 9, storage_identifier: sqlite3}",
]))
def test_random_ros2_metadata(tmp_path, text):
    folder = tmp_path / "bag"
    folder.mkdir(exist_ok=True)
    (folder / "metadata.yaml").write_text(text, encoding="utf-8")
    (folder / "x.db3").write_bytes(b"SQLite format 3\x00" + bytes(100))
    assert read_all(folder) is None


@FUZZ
@given(kind=st.sampled_from(KINDS), cut=st.floats(0.0, 1.0))
def test_truncated_real_logs(tmp_path, real_logs, kind, cut):
    data = real_logs[kind]
    got = read_all(_write(tmp_path, kind, data[:int(len(data) * cut)], real_logs))
    if got is not None:
        ok, failed = got
        assert ok + failed <= N_FRAMES


@FUZZ
@given(kind=st.sampled_from(KINDS),
       edits=st.lists(st.tuples(st.floats(0.0, 1.0, exclude_max=True), st.integers(0, 255)), min_size=1,
                      max_size=30),
       zero_run=st.one_of(st.none(), st.tuples(st.floats(0.0, 1.0, exclude_max=True), st.integers(1, 5000))))
def test_corrupted_real_logs(tmp_path, real_logs, kind, edits, zero_run):
    data = bytearray(real_logs[kind])
    for where, value in edits:
        data[int(where * len(data))] = value
    if zero_run is not None:
        start = int(zero_run[0] * len(data))
        data[start:start + zero_run[1]] = bytes(min(zero_run[1], len(data) - start))
    got = read_all(_write(tmp_path, kind, bytes(data), real_logs))
    if got is not None:
        ok, failed = got
        assert ok <= N_FRAMES
        # Lost frames are numbered only from index entries, each of which takes >= 12 bytes of the file.
        assert failed <= len(data) // 12
