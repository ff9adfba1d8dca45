"""Ctrl-C or SIGTERM mid-run leaves every output valid and complete up to the last processed frame."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import cv2
import pytest

from conftest import CLIP, REPO, need


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_signal_mid_run_keeps_outputs(tmp_path, sig):
    out = tmp_path / "out"
    env = dict(os.environ, PYTHONPATH=str(REPO))
    proc = subprocess.Popen([sys.executable, "-m", "perception.run", "--video", str(need(CLIP)), "--output", str(out),
                             "--no-progress"], cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    frames = out / "frames.jsonl"
    deadline = time.time() + 120
    while time.time() < deadline:
        if frames.exists() and len(frames.read_text().splitlines()) >= 10:
            break
        if proc.poll() is not None:
            pytest.fail(f"run ended before it could be interrupted: {proc.stderr.read()}")
        time.sleep(0.1)
    proc.send_signal(sig)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr
    summary = json.loads((out / "summary.json").read_text())
    lines = frames.read_text().splitlines()
    assert summary["interrupted"] is True
    assert not (out / ".lock").exists(), "the output folder's lock is released after the signal"
    assert 10 <= summary["frames_processed"] < 221
    assert len(lines) == summary["frames_read"] == summary["frames_processed"]
    assert [json.loads(line)["frame"] for line in lines] == list(range(len(lines)))
    cap = cv2.VideoCapture(str(out / "annotated.mp4"))
    n = 0
    while cap.read()[0]:
        n += 1
    assert n == len(lines)


def _count_video_frames(path) -> int:
    cap = cv2.VideoCapture(str(path))
    n = 0
    while cap.read()[0]:
        n += 1
    return n


def test_interrupted_run_resumes_to_the_end(tmp_path):
    """SIGINT mid-run, then --resume: every frame is in frames.jsonl exactly once, the first part's video
    and MCAP stay valid and untouched, the continuation goes to new part files."""
    out, res = tmp_path / "out", tmp_path / "res.mcap"
    total = 16
    args = [sys.executable, "-m", "perception.run", "--video", str(need(CLIP)), "--output", str(out), "--no-progress",
            "--max-frames", str(total)]
    try:  # --mcap-out needs the optional 'logs' extra
        import mcap  # noqa: F401
        args += ["--mcap-out", str(res)]
    except ImportError:
        pass
    env = dict(os.environ, PYTHONPATH=str(REPO))
    proc = subprocess.Popen(args, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    frames = out / "frames.jsonl"
    deadline = time.time() + 120
    while time.time() < deadline:
        if frames.exists() and len(frames.read_text().splitlines()) >= 4:
            break
        if proc.poll() is not None:
            pytest.fail(f"run ended before it could be interrupted: {proc.stderr.read()}")
        time.sleep(0.1)
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    n_first = len(frames.read_text().splitlines())
    assert 4 <= n_first < total
    assert _count_video_frames(out / "annotated.mp4") == n_first
    if res.exists():
        from mcap.reader import make_reader

        with open(res, "rb") as f:
            counts = make_reader(f).get_summary().statistics.channel_message_counts
        assert set(counts.values()) == {n_first}, "the interrupted MCAP is finalised, one message per frame"

    resumed = subprocess.run(args + ["--resume"], cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    lines = frames.read_text().splitlines()
    assert [json.loads(line)["frame"] for line in lines] == list(range(total))
    assert _count_video_frames(out / "annotated.mp4") == n_first
    assert _count_video_frames(out / "annotated.part2.mp4") == total - n_first
    summary = json.loads((out / "summary.json").read_text())
    assert summary["interrupted"] is False and summary["resumed_from_frame"] == n_first
    assert summary["frames_read"] == summary["frames_processed"] == total
    assert [p["interrupted"] for p in summary["parts"]] == [True, False]
