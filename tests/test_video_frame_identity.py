"""A video damaged in the middle: every frame keeps its own index and time; what is lost is counted in place.

The damage is made the way the issue made it (``dd`` of random bytes over the middle of the clip), with a seeded
RNG so the test is repeatable. Identity is checked on images: each decoded frame must look most like the
undamaged clip's frame at the index it was given.
"""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from conftest import CLIP, need, run_cli

from perception.sources import FailedFrame, Frame, VideoSource

N_FRAMES = 221  # solidWhiteRight.mp4: 25 fps, 221 frames, moov before mdat


def thumb(image_bgr: np.ndarray) -> np.ndarray:
    """(54, 96) float32 grey thumbnail, enough to tell neighbouring frames apart."""
    return cv2.resize(cv2.cvtColor(image_bgr, cv2.COLOR_BGR2GRAY), (96, 54), interpolation=cv2.INTER_AREA).astype(
        np.float32)


@pytest.fixture(scope="module")
def clean_thumbs() -> np.ndarray:
    source = VideoSource(need(CLIP))
    items = list(source.iter_frames())
    source.close()
    assert [f.index for f in items] == list(range(N_FRAMES)) and all(isinstance(f, Frame) for f in items)
    return np.stack([thumb(f.image_bgr) for f in items])  # (N, 54, 96)


CLEAN_MAD = 0.05  # mean absolute thumbnail difference of a frame decoded intact (a damaged one: > 0.3)


def damaged_copy(tmp_path, *, seek_kib: int, count_kib: int, seed: int = 0):
    """``dd if=/dev/urandom of=copy bs=1024 count=count_kib seek=seek_kib conv=notrunc``, deterministic."""
    data = bytearray(need(CLIP).read_bytes())
    data[seek_kib * 1024:(seek_kib + count_kib) * 1024] = np.random.default_rng(seed).bytes(count_kib * 1024)
    path = tmp_path / f"damaged_{seek_kib}_{count_kib}.mp4"
    path.write_bytes(bytes(data))
    return path


def read_all(path):
    source = VideoSource(path)
    items = list(source.iter_frames())
    source.close()
    return source, items


def test_frames_after_mid_video_damage_keep_their_index_and_time(tmp_path, clean_thumbs):
    source, items = read_all(damaged_copy(tmp_path, seek_kib=1289, count_kib=200))
    # Every position of the clip exactly once, in order: no frame under a wrong index, no phantom failures.
    assert [f.index for f in items] == list(range(N_FRAMES))
    failed = [f.index for f in items if isinstance(f, FailedFrame)]
    assert failed and failed == list(range(failed[0], failed[-1] + 1)), "one damaged stretch: one block of losses"
    assert failed[-1] < N_FRAMES - 1, "the frames after the damage are decoded, not counted as failed"
    for f in items:
        assert f.timestamp_s == pytest.approx(f.index / 25, abs=1e-3)
        if isinstance(f, Frame) and not f.warning:
            mad = np.abs(clean_thumbs - thumb(f.image_bgr)).mean(axis=(1, 2))  # (N,)
            assert int(np.argmin(mad)) == f.index, (f.index, int(np.argmin(mad)))
            assert mad[f.index] < CLEAN_MAD, f"frame {f.index} is written ok but differs from the clean frame"
    # The frame whose data runs into the garbage, and those decoded after the loss (they predict from missing
    # pictures up to the next key frame, 150): flagged.
    flagged = [f.index for f in items if isinstance(f, Frame) and f.warning]
    assert flagged == [failed[0] - 1] + list(range(failed[-1] + 1, 150))
    assert source.damage and any(f"{failed[0]}" in note for note in source.damage)


def test_resume_after_the_damage_starts_at_the_right_frame(tmp_path, clean_thumbs):
    source = VideoSource(damaged_copy(tmp_path, seek_kib=1289, count_kib=200))
    items = list(source.iter_frames(start_index=180))
    source.close()
    assert [f.index for f in items] == list(range(180, N_FRAMES))
    for f in items:
        assert isinstance(f, Frame)
        assert np.abs(clean_thumbs[f.index] - thumb(f.image_bgr)).mean() < 1.0


def test_video_cut_short_lists_the_lost_tail_and_notes_the_damage(tmp_path):
    data = need(CLIP).read_bytes()
    path = tmp_path / "cut.mp4"
    path.write_bytes(data[:len(data) // 2])
    source, items = read_all(path)
    assert [f.index for f in items] == list(range(N_FRAMES))
    failed = [f.index for f in items if isinstance(f, FailedFrame)]
    assert failed == list(range(failed[0], N_FRAMES)) and 60 < failed[0] < 160
    assert any("ends" in note for note in source.damage)


def test_cli_video_cut_short_has_input_damage_in_summary(tmp_path):
    data = need(CLIP).read_bytes()
    path = tmp_path / "cut.mp4"
    path.write_bytes(data[:len(data) // 2])
    out = tmp_path / "out"
    proc = run_cli("perception.run", "--video", str(path), "--output", str(out), "--no-video", "--no-progress",
                   "--planner", "off")
    assert proc.returncode == 0, proc.stderr
    assert "warning: input damaged" in proc.stderr
    summary = json.loads((out / "summary.json").read_text())
    assert summary["input_damage"] and summary["frames_read"] == N_FRAMES
    records = [json.loads(line) for line in (out / "frames.jsonl").read_text().splitlines()]
    assert [r["frame"] for r in records] == list(range(N_FRAMES))


def test_decoder_errors_flag_the_frames_up_to_the_next_key_frame(tmp_path, clean_thumbs):
    """4 KiB of garbage that FFmpeg notices: the frame it logs errors for and those predicting from it are
    flagged; the frames before are clean and unflagged. (Garbage the decoder does not notice cannot be seen
    through OpenCV: see perception/sources/video.py.)"""
    source, items = read_all(damaged_copy(tmp_path, seek_kib=500, count_kib=4))
    assert [f.index for f in items] == list(range(N_FRAMES)) and all(isinstance(f, Frame) for f in items)
    flagged = [f.index for f in items if f.warning]
    assert flagged == list(range(41, 60)), flagged  # key frames every 30: 30, 60, ...
    assert "decoder reported errors" in items[41].warning
    mad = [float(np.abs(clean_thumbs[f.index] - thumb(f.image_bgr)).mean()) for f in items]
    assert mad[41] > 0.3, "the flagged frame is visibly damaged"
    assert all(mad[i] < 0.3 for i in range(N_FRAMES) if i not in flagged), "unflagged frames are clean"
    assert any("frame 41" in note for note in source.damage)


def test_cli_flags_the_frames_the_decoder_complains_about(tmp_path):
    """Was: perception.run silenced FFmpeg's log (OPENCV_FFMPEG_LOGLEVEL=-8), so the source never saw the decoder's
    errors and every damaged frame was written ``ok``."""
    damaged = damaged_copy(tmp_path, seek_kib=500, count_kib=4)
    out = tmp_path / "out"
    proc = run_cli("perception.run", "--source", str(damaged), "--output", str(out), "--max-frames", "70",
                   "--no-video", "--no-progress", "--lanes", "off", "--planner", "off", "--no-report", timeout=300)
    assert proc.returncode == 0, proc.stderr
    records = [json.loads(line) for line in (out / "frames.jsonl").read_text().splitlines()]
    damaged_frames = [r["frame"] for r in records if r.get("status") == "damaged"]
    assert 41 in damaged_frames, damaged_frames
    assert "Traceback" not in proc.stderr and "[h264" not in proc.stderr  # FFmpeg's own lines stay off stderr
