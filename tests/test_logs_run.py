"""Real clip -> driving log -> perception.run (--mcap-out) round trips, through the CLIs users call."""

from __future__ import annotations

import base64
import json

import cv2
import numpy as np
import pytest

from conftest import CLIP, need, run_cli

pytest.importorskip("mcap", reason="the 'logs' extra (mcap) is not installed: pip install '.[logs]'")
pytest.importorskip("rosbags", reason="the 'logs' extra (rosbags) is not installed: pip install '.[logs]'")

N = 10
EXPECTED_CHANNELS = {  # topic -> schema name; all JSON with JSON Schema
    "/camera/image/compressed": "foxglove.CompressedImage",
    "/perception/annotations": "foxglove.ImageAnnotations",
    "/perception/frame": "perception.FrameRecord",
    "/perception/plan": "perception.Plan",
}


def assert_one_line_error(proc, *needles):
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    for n in needles:
        assert n in lines[0], lines[0]


@pytest.fixture(scope="module")
def round_trip(tmp_path_factory):
    d = tmp_path_factory.mktemp("roundtrip")
    log = d / "clip.mcap"
    made = run_cli("perception.tools.video_to_log", "--video", str(need(CLIP)), "--output", str(log),
                   "--max-frames", str(N))
    assert made.returncode == 0, made.stderr
    out, res = d / "out", d / "res.mcap"
    ran = run_cli("perception.run", "--video", str(log), "--output", str(out), "--mcap-out", str(res),
                  "--no-video", "--no-progress", "--conf", "0.01")
    return made, ran, out, res


def read_mcap(path):
    from mcap.reader import make_reader

    with open(path, "rb") as f:
        reader = make_reader(f)
        summary = reader.get_summary()
        messages: dict[str, list] = {}
        for schema, channel, message in reader.iter_messages():
            messages.setdefault(channel.topic, []).append((schema, channel, message))
    return summary, messages


def test_run_on_the_log_keeps_frame_count_and_clock(round_trip):
    made, ran, out, _ = round_trip
    assert f"wrote {N} frames" in made.stderr
    assert ran.returncode == 0, ran.stderr
    records = [json.loads(line) for line in (out / "frames.jsonl").read_text().splitlines()]
    assert [r["frame"] for r in records] == list(range(N))
    assert [r["timestamp_s"] for r in records] == pytest.approx([i / 25 for i in range(N)], abs=1e-6)
    assert [r["log_time_ns"] - records[0]["log_time_ns"] for r in records] == [i * 40_000_000 for i in range(N)]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["input"]["kind"] == "mcap" and summary["input"]["topic"] == "/camera/image/compressed"
    assert summary["input"]["fps"] == pytest.approx(25.0)
    assert summary["frames_read"] == summary["frames_processed"] == N and "input_damage" not in summary


def test_mcap_out_has_every_channel_once_per_frame(round_trip):
    _, ran, out, res = round_trip
    summary, messages = read_mcap(res)
    channels = {c.topic: c for c in summary.channels.values()}
    assert set(channels) == set(EXPECTED_CHANNELS)
    for topic, schema_name in EXPECTED_CHANNELS.items():
        schema = summary.schemas[channels[topic].schema_id]
        assert (schema.name, schema.encoding, channels[topic].message_encoding) == (schema_name, "jsonschema", "json")
        json.loads(schema.data)
        assert summary.statistics.channel_message_counts[channels[topic].id] == N
        assert len(messages[topic]) == N
    records = [json.loads(line) for line in (out / "frames.jsonl").read_text().splitlines()]
    frames = [json.loads(m.data) for _, _, m in messages["/perception/frame"]]
    assert frames == records, "the frame channel carries exactly the frames.jsonl records"
    log_times = [m.log_time for _, _, m in messages["/camera/image/compressed"]]
    assert log_times == [r["log_time_ns"] for r in records]
    first = json.loads(messages["/camera/image/compressed"][0][2].data)
    image = cv2.imdecode(np.frombuffer(base64.b64decode(first["data"]), np.uint8), cv2.IMREAD_COLOR)
    assert first["format"] == "jpeg" and image.shape == (540, 960, 3)
    n_boxes = 0
    for (_, _, m), rec in zip(messages["/perception/annotations"], records):
        ann = json.loads(m.data)
        boxes = [p for p in ann["points"] if p["type"] == 2]  # LINE_LOOP
        lanes = [p for p in ann["points"] if p["type"] == 3]  # LINE_STRIP
        assert len(boxes) == len(rec["detections"]) and len(lanes) == len(rec["lanes"])
        assert len(ann["texts"]) == len(rec["detections"]) + 1  # a label per box + the HUD line
        for box, det in zip(boxes, rec["detections"]):
            x1, y1, x2, y2 = det["box_xyxy"]
            corners = [v for p in box["points"] for v in (p["x"], p["y"])]
            assert corners == pytest.approx([x1, y1, x2, y1, x2, y2, x1, y2], abs=0.01)
        n_boxes += len(boxes)
        stamp = ann["texts"][-1]["timestamp"]
        assert stamp["sec"] * 10**9 + stamp["nsec"] == m.log_time
    assert n_boxes > 0, "--conf 0.01 lets boxes through even with untrained weights"
    plans = [json.loads(m.data) for _, _, m in messages["/perception/plan"]]
    assert [p["frame"] for p in plans] == list(range(N))


def test_mcap_out_replays_as_a_log(round_trip):
    """RES.mcap has exactly one camera topic, so it is itself a valid input (frames and clock kept)."""
    from perception.sources import open_source

    *_, res = round_trip
    source = open_source(res)
    items = list(source.iter_frames())
    source.close()
    assert len(items) == N and [f.timestamp_s for f in items] == pytest.approx([i / 25 for i in range(N)])


@pytest.mark.parametrize("fmt,name", [("ros1", "clip.bag"), ("ros2", "clip_bag")])
def test_ros_bag_replay_with_topic(tmp_path, fmt, name):
    log = tmp_path / name
    made = run_cli("perception.tools.video_to_log", "--video", str(need(CLIP)), "--output", str(log), "--format", fmt,
                   "--topic", "/front/image_raw", "--raw", "--max-frames", "3")
    assert made.returncode == 0, made.stderr
    out = tmp_path / "out"
    ran = run_cli("perception.run", "--video", str(log), "--topic", "/front/image_raw", "--output", str(out),
                  "--no-video", "--no-progress")
    assert ran.returncode == 0, ran.stderr
    summary = json.loads((out / "summary.json").read_text())
    assert summary["input"]["kind"] == fmt and summary["input"]["message_type"].endswith("Image")
    records = [json.loads(line) for line in (out / "frames.jsonl").read_text().splitlines()]
    assert [r["timestamp_s"] for r in records] == pytest.approx([0.0, 0.04, 0.08])


def test_cli_topic_errors(tmp_path):
    from mcap.writer import Writer

    log = tmp_path / "two.mcap"
    with open(log, "wb") as f:
        w = Writer(f)
        w.start()
        schema = w.register_schema("sensor_msgs/msg/CompressedImage", "ros2msg", b"string format\nuint8[] data\n")
        for topic in ("/cam/left", "/cam/right"):
            w.register_channel(topic, "cdr", schema)
        w.finish()
    proc = run_cli("perception.run", "--video", str(log), "--output", str(tmp_path / "o"))
    assert_one_line_error(proc, "--topic", "/cam/left", "/cam/right")
    proc = run_cli("perception.run", "--video", str(log), "--topic", "/cam/top", "--output", str(tmp_path / "o"))
    assert_one_line_error(proc, "/cam/top is not in")
    proc = run_cli("perception.run", "--video", str(need(CLIP)), "--topic", "/cam", "--output", str(tmp_path / "o"))
    assert_one_line_error(proc, "--topic")


def test_video_to_log_user_errors(tmp_path):
    existing = tmp_path / "exists.mcap"
    existing.write_bytes(b"x")
    proc = run_cli("perception.tools.video_to_log", "--video", str(need(CLIP)), "--output", str(existing))
    assert_one_line_error(proc, "exists.mcap", "exists")
    assert existing.read_bytes() == b"x"
    proc = run_cli("perception.tools.video_to_log", "--video", str(tmp_path / "nope.mp4"), "--output",
                   str(tmp_path / "a.mcap"))
    assert_one_line_error(proc, "nope.mp4")
    proc = run_cli("perception.tools.video_to_log", "--video", str(need(CLIP)), "--output", str(tmp_path / "b.bag"),
                   "--message", "foxglove-json")
    assert_one_line_error(proc, "--message")
