"""annotated.mp4 as one-second segment files, joined without re-encoding (perception.sinks.video, mp4_join) and by
``python -m perception.tools.join_video`` after a kill. Real frames from the Udacity clip."""

from __future__ import annotations

import shutil

import cv2
import numpy as np
import pytest

from conftest import CLIP, need, run_cli

from perception.sinks.lock import OutputLock
from perception.sinks.mp4_join import Mp4Error, join_mp4, read_video_track
from perception.sinks.video import VideoSink, finished_segments, segments_dir

FPS = 10.0  # 10 frames per one-second segment


@pytest.fixture(scope="module")
def clip_frames() -> list[np.ndarray]:
    cap = cv2.VideoCapture(str(need(CLIP)))
    frames = []
    while len(frames) < 25:
        ok, frame = cap.read()
        assert ok
        frames.append(frame)
    return frames


def decode(path) -> list[np.ndarray]:
    cap = cv2.VideoCapture(str(path))
    frames = []
    while True:
        ok, frame = cap.read()
        if not ok:
            return frames
        frames.append(frame)


def test_finished_segments_play_while_the_run_goes_on_and_join_into_the_same_frames(tmp_path, clip_frames):
    video = tmp_path / "annotated.mp4"
    sink = VideoSink(video, FPS, (960, 540))
    for frame in clip_frames:
        sink.write(frame)
    segments = finished_segments(segments_dir(video))
    assert [p.name for p in segments] == ["000000.mp4", "000001.mp4"], "25 frames: two finished, one being written"
    assert not video.exists(), "the video appears when the run ends"
    decoded = [f for p in segments for f in decode(p)]  # what a kill at this moment would leave
    assert len(decoded) == 20
    sink.close()
    joined = decode(video)
    assert len(joined) == 25 and not segments_dir(video).exists()
    assert all(np.array_equal(a, b) for a, b in zip(joined, decoded)), "joined without re-encoding"
    cap = cv2.VideoCapture(str(video))
    assert cap.get(cv2.CAP_PROP_FPS) == pytest.approx(FPS)
    errors = [np.abs(a.astype(int) - b).mean() for a, b in zip(joined, clip_frames)]
    assert max(errors) < 6, "each frame is the frame written there (mp4v's own loss only)"


def test_a_run_without_frames_still_leaves_a_video(tmp_path):
    video = tmp_path / "annotated.mp4"
    VideoSink(video, FPS, (64, 48)).close()
    assert video.is_file() and decode(video) == [] and not segments_dir(video).exists()


def test_a_new_sink_replaces_what_an_earlier_run_left(tmp_path, clip_frames):
    video = tmp_path / "annotated.mp4"
    video.write_bytes(b"an earlier run's video")
    stale = segments_dir(video)
    stale.mkdir()
    (stale / "000000.mp4").write_bytes(b"an earlier run's segment")
    sink = VideoSink(video, FPS, (960, 540))
    assert not video.exists() and finished_segments(stale) == []
    sink.write(clip_frames[0])
    sink.close()
    assert len(decode(video)) == 1


def test_join_refuses_segments_that_are_not_one_video(tmp_path, clip_frames):
    a, b = tmp_path / "a.mp4", tmp_path / "b.mp4"
    for path, size in ((a, (960, 540)), (b, (480, 270))):
        w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), FPS, size)
        for frame in clip_frames[:3]:
            w.write(cv2.resize(frame, size))
        w.release()
    with pytest.raises(Mp4Error, match="b.mp4"):
        join_mp4([a, b], tmp_path / "out.mp4")
    assert not (tmp_path / "out.mp4").exists()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(a.read_bytes()[: a.stat().st_size // 2])  # no index: what a kill leaves of a segment
    with pytest.raises(Mp4Error, match="no index"):
        read_video_track(cut)


def _leftover(tmp_path, clip_frames):
    """An output folder as a killed run leaves it: two finished segments and the one being written."""
    run = tmp_path / "run"
    run.mkdir()
    sink = VideoSink(run / "annotated.mp4", FPS, (960, 540))
    for frame in clip_frames:
        sink.write(frame)
    killed = tmp_path / "killed"
    killed.mkdir()
    shutil.copytree(sink.segments, segments_dir(killed / "annotated.mp4"))
    sink.close()
    return killed


def test_join_video_tool_joins_what_a_killed_run_left(tmp_path, clip_frames):
    killed = _leftover(tmp_path, clip_frames)
    done = run_cli("perception.tools.join_video", str(killed), timeout=120)
    assert done.returncode == 0, done.stderr
    assert "joined 20 frames" in done.stderr
    assert len(decode(killed / "annotated.mp4")) == 20
    assert [p.name for p in killed.iterdir()] == ["annotated.mp4"]
    again = run_cli("perception.tools.join_video", str(killed), timeout=120)
    assert again.returncode == 2 and again.stderr.startswith("error: ") and "nothing to join" in again.stderr
    assert len(again.stderr.strip().splitlines()) == 1


def test_join_video_tool_bad_input(tmp_path, clip_frames):
    missing = run_cli("perception.tools.join_video", str(tmp_path / "nowhere"), timeout=120)
    assert missing.returncode == 2 and missing.stderr.strip() == f"error: {tmp_path / 'nowhere'}: no such folder"
    killed = _leftover(tmp_path, clip_frames)
    with OutputLock(killed):  # a run (this test) still writes there
        busy = run_cli("perception.tools.join_video", str(killed), timeout=120)
    assert busy.returncode == 2 and "in use by another run" in busy.stderr
    assert len(busy.stderr.strip().splitlines()) == 1
    assert not (killed / "annotated.mp4").exists()
    (segments_dir(killed / "annotated.mp4") / "000001.mp4").write_bytes(b"\0\0\0\x08free")  # a damaged segment
    damaged = run_cli("perception.tools.join_video", str(killed), timeout=120)
    assert damaged.returncode == 2 and "000001.mp4" in damaged.stderr and "Traceback" not in damaged.stderr
    assert finished_segments(segments_dir(killed / "annotated.mp4")), "the segments stay when the join fails"


def test_join_writes_64_bit_offsets_when_the_video_is_large(tmp_path, clip_frames, monkeypatch):
    """Past 4 GiB the index needs 64-bit chunk offsets (co64) and a 64-bit mdat size; shown here by lowering the
    32-bit limit to 100 kB instead of writing 4 GiB."""
    import perception.sinks.mp4_join as mp4_join

    video = tmp_path / "annotated.mp4"
    sink = VideoSink(video, FPS, (960, 540))
    for frame in clip_frames[:20]:  # two whole segments
        sink.write(frame)
    kept = tmp_path / "segments"
    shutil.copytree(sink.segments, kept)
    sink.close()
    monkeypatch.setattr(mp4_join, "MAX_U32", 100_000)
    assert join_mp4(finished_segments(kept), tmp_path / "large.mp4") == 20
    data = (tmp_path / "large.mp4").read_bytes()
    assert b"co64" in data and b"stco" not in data
    assert all(np.array_equal(a, b) for a, b in zip(decode(tmp_path / "large.mp4"), decode(video)))
    assert len(decode(tmp_path / "large.mp4")) == 20


def _codec(path) -> str:
    import av

    with av.open(str(path)) as container:
        return container.streams.video[0].codec_context.name


def test_the_video_is_h264_that_browsers_play_also_at_odd_sizes(tmp_path, clip_frames):
    pytest.importorskip("av", reason="PyAV is not installed")
    video = tmp_path / "annotated.mp4"
    sink = VideoSink(video, FPS, (1241, 375))  # KITTI-like: odd width and height
    assert sink.codec == "h264" and sink.note is None
    for frame in clip_frames[:12]:
        sink.write(cv2.resize(frame, (1241, 375)))
    sink.close()
    joined = decode(video)
    assert _codec(video) == "h264" and len(joined) == 12
    assert joined[0].shape[:2] in ((375, 1241), (376, 1242))  # yuv420p: one replicated row/column at most


def test_without_pyav_the_video_falls_back_to_mp4v_and_says_so(tmp_path, clip_frames, monkeypatch):
    import perception.sinks.video as video_module

    monkeypatch.setattr(video_module, "h264_missing", lambda: "PyAV (the 'av' package) is not installed")
    video = tmp_path / "annotated.mp4"
    sink = VideoSink(video, FPS, (960, 540))
    assert sink.codec == "mp4v" and "browsers do not play" in sink.note and "pip install av" in sink.note
    for frame in clip_frames[:3]:
        sink.write(frame)
    sink.close()
    assert len(decode(video)) == 3 and _codec(video) == "mpeg4"
