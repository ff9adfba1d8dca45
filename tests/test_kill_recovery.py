"""SIGKILL mid-run (issue 26, item 6): the annotated video loses at most about a second, and the messages of
``--mcap-out`` written up to the kill can be read back. One real run of the Udacity clip, killed after 60 frames;
each test works on its own copy of what the kill left."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import cv2
import pytest

from conftest import CLIP, REPO, need, run_cli

from perception.sinks.video import finished_segments, segments_dir

KILL_AFTER = 60  # frames in frames.jsonl before the kill
CLIP_FPS = 25
LOST_AT_MOST = CLIP_FPS + 1  # one segment (one second) being written, and the frame in hand


def count_frames(path) -> int:
    cap = cv2.VideoCapture(str(path))
    n = 0
    while cap.read()[0]:
        n += 1
    return n


def lines(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.fixture(scope="module")
def killed(tmp_path_factory):
    """(folder holding out/ and r.mcap as the kill left them, frames in frames.jsonl at the kill)."""
    pytest.importorskip("mcap", reason="--mcap-out needs the optional 'logs' extra")
    root = tmp_path_factory.mktemp("killed")
    out = root / "out"
    proc = subprocess.Popen([sys.executable, "-m", "perception.run", "--video", str(need(CLIP)), "--output", str(out),
                             "--mcap-out", str(root / "r.mcap"), "--no-progress"], cwd=REPO,
                            env=dict(os.environ, PYTHONPATH=str(REPO)), stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    frames = out / "frames.jsonl"
    deadline = time.time() + 300
    while time.time() < deadline:
        if frames.exists() and frames.read_text().count("\n") >= KILL_AFTER:
            break
        if proc.poll() is not None:
            pytest.fail(f"run ended before it could be killed: {proc.stderr.read()}")
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    n = frames.read_text().count("\n")
    assert KILL_AFTER <= n < 221
    return root, n


def copy_of(killed, tmp_path):
    root, n = killed
    shutil.copytree(root, tmp_path / "k")
    return tmp_path / "k", n


def test_the_video_up_to_a_second_before_the_kill_plays(killed, tmp_path):
    root, n = copy_of(killed, tmp_path)
    out = root / "out"
    assert not (out / "annotated.mp4").exists()
    segments = finished_segments(segments_dir(out / "annotated.mp4"))
    decoded = sum(count_frames(p) for p in segments)
    assert n - LOST_AT_MOST <= decoded <= n, f"{decoded} frames decodable of {n} processed"
    assert [p.name for p in segments] == [f"{i:06d}.mp4" for i in range(len(segments))]


def test_join_video_after_the_kill(killed, tmp_path):
    root, n = copy_of(killed, tmp_path)
    out = root / "out"
    expected = sum(count_frames(p) for p in finished_segments(segments_dir(out / "annotated.mp4")))
    done = run_cli("perception.tools.join_video", str(out), timeout=120)
    assert done.returncode == 0, done.stderr
    assert count_frames(out / "annotated.mp4") == expected >= n - LOST_AT_MOST
    assert not segments_dir(out / "annotated.mp4").exists()
    summary = json.loads((out / "summary.json").read_text())  # says the video is shorter than frames.jsonl
    assert summary["annotated_video_frames"] == expected
    assert ("annotated_video_note" in summary) == (expected < n)
    if expected < n:
        assert f"holds {expected} of these {n} frames" in summary["annotated_video_note"]
        assert "also in summary.json" in done.stderr


def test_mcap_messages_up_to_the_kill_are_recovered(killed, tmp_path):
    from mcap.reader import make_reader

    root, n = copy_of(killed, tmp_path)
    done = run_cli("perception.tools.recover_mcap", str(root / "r.mcap"), timeout=120)
    assert done.returncode == 0, done.stderr
    assert "it had no summary" in done.stderr
    with open(root / "r.recovered.mcap", "rb") as f:  # an indexed reader: needs the summary
        reader = make_reader(f)
        counts = {c.topic: reader.get_summary().statistics.channel_message_counts[c.id]
                  for c in reader.get_summary().channels.values()}
        records = [json.loads(m.data) for _, _, m in reader.iter_messages(topics=["/perception/frame"])]
    assert set(counts) == {"/camera/image/compressed", "/perception/annotations", "/perception/frame",
                           "/perception/plan"}
    assert all(n - LOST_AT_MOST <= c <= n for c in counts.values()), counts
    assert records == lines(root / "out" / "frames.jsonl")[:len(records)], "the messages are the run's own results"
    again = run_cli("perception.tools.recover_mcap", str(root / "r.mcap"), timeout=120)
    assert again.returncode == 2 and "exists" in again.stderr and len(again.stderr.strip().splitlines()) == 1


def test_resume_after_the_kill_joins_the_first_part_and_continues(killed, tmp_path):
    root, n = copy_of(killed, tmp_path)
    out = root / "out"
    joined = sum(count_frames(p) for p in finished_segments(segments_dir(out / "annotated.mp4")))
    total = n + 5
    resumed = run_cli("perception.run", "--video", str(CLIP), "--output", str(out), "--mcap-out", str(root / "r.mcap"),
                      "--no-progress", "--max-frames", str(total), "--resume")
    assert resumed.returncode == 0, resumed.stderr
    assert [r["frame"] for r in lines(out / "frames.jsonl")] == list(range(total))
    assert count_frames(out / "annotated.mp4") == joined
    assert count_frames(out / "annotated.part2.mp4") == 5
    first = json.loads((out / "summary.json").read_text())["parts"][0]
    assert first["frames_read"] == n and first["annotated_video_frames"] == joined
    assert ("annotated_video_note" in first) == (joined < n)
    assert not list(out.glob(".*.segments"))


def test_a_fresh_run_removes_the_killed_runs_segments(killed, tmp_path):
    root, _ = copy_of(killed, tmp_path)
    out = root / "out"
    fresh = run_cli("perception.run", "--video", str(CLIP), "--output", str(out), "--no-progress", "--max-frames", "2",
                    "--lanes", "off", "--planner", "off")
    assert fresh.returncode == 0, fresh.stderr
    assert count_frames(out / "annotated.mp4") == 2
    assert not list(out.glob(".*.segments"))
