"""Live sources and frame selection, as a user runs them: a stream served over HTTP from the real clip (OpenCV
reads it through FFmpeg, as it would an IP camera), and --classes / --stride / --start / --end."""

from __future__ import annotations

import functools
import http.server
import json
import shutil
import threading

import cv2
import pytest

from conftest import CLIP, need, run_cli


@pytest.fixture(scope="module")
def http_clip(tmp_path_factory):
    """URL of the real clip served by a local HTTP server for the module's tests."""
    root = tmp_path_factory.mktemp("served")
    shutil.copy(need(CLIP), root / "clip.mp4")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    handler.log_message = lambda *a, **k: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/clip.mp4"
    server.shutdown()


def records(out) -> list[dict]:
    return [json.loads(line) for line in (out / "frames.jsonl").read_text().splitlines()]


def test_a_stream_url_runs_like_a_video(http_clip, tmp_path):
    out = tmp_path / "out"
    proc = run_cli("perception.run", "--source", http_clip, "--output", str(out), "--max-frames", "60",
                   "--no-progress", "--no-report")
    assert proc.returncode == 0, proc.stderr
    recs = records(out)
    assert [r["frame"] for r in recs] == list(range(60))
    assert all(b["timestamp_s"] > a["timestamp_s"] for a, b in zip(recs, recs[1:]))
    assert sum(len(r["lanes"]) > 0 for r in recs) > 30  # the lane stage calibrated on the stream's first frames
    summary = json.loads((out / "summary.json").read_text())
    assert summary["input"]["kind"] == "stream" and summary["input"]["live"] is True
    assert summary["frames_processed"] == 60
    cap = cv2.VideoCapture(str(out / "annotated.mp4"))
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 60


def test_a_stream_that_cannot_be_opened_is_one_line_and_no_folder(http_clip, tmp_path):
    out = tmp_path / "out"
    for url in (http_clip.replace("clip.mp4", "missing.mp4"), "rtsp://user:secret@127.0.0.1:1/live"):
        proc = run_cli("perception.run", "--source", url, "--output", str(out), "--no-progress", timeout=120)
        lines = proc.stderr.strip().splitlines()
        assert proc.returncode == 2 and len(lines) == 1 and lines[0].startswith("error: cannot open stream"), proc.stderr
        assert "secret" not in proc.stderr  # a password in the URL is never printed
        assert not out.exists()
    proc = run_cli("perception.run", "--source", http_clip, "--output", str(out), "--resume", "--no-progress")
    assert proc.returncode == 2 and "live source" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1


def test_stride_start_end_and_classes_select_frames_and_boxes(tmp_path):
    clip = need(CLIP)  # 25 fps
    out = tmp_path / "sel"
    proc = run_cli("perception.run", "--source", str(clip), "--output", str(out), "--stride", "5", "--start", "2",
                   "--end", "4", "--classes", "car", "--no-progress", "--no-report")
    assert proc.returncode == 0, proc.stderr
    recs = records(out)
    assert [r["frame"] for r in recs] == list(range(50, 100, 5))  # 2 s <= t < 4 s, every 5th frame
    assert all(2.0 <= r["timestamp_s"] < 4.0 for r in recs)
    labels = {d["label"] for r in recs for d in r["detections"]}
    assert labels == {"car"}, labels  # the clip has cars; nothing else is kept
    cap = cv2.VideoCapture(str(out / "annotated.mp4"))
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 10 and cap.get(cv2.CAP_PROP_FPS) == pytest.approx(5.0)

    for flags, needle in ((["--classes", "car,unicorn"], "unicorn"), (["--start", "3", "--end", "2"], "--end"),
                          (["--stride", "0"], "--stride")):
        bad = run_cli("perception.run", "--source", str(clip), "--output", str(tmp_path / "bad"), *flags)
        lines = bad.stderr.strip().splitlines()
        assert bad.returncode == 2 and len(lines) == 1 and needle in lines[0], bad.stderr
        assert not (tmp_path / "bad").exists()
