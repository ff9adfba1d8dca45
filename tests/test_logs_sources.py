"""Driving logs as frame sources: every format we write reads back with the clip's frames and clock."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from conftest import CLIP, need

pytest.importorskip("mcap", reason="the 'logs' extra (mcap) is not installed: pip install '.[logs]'")
pytest.importorskip("rosbags", reason="the 'logs' extra (rosbags) is not installed: pip install '.[logs]'")

from perception.errors import UserInputError  # noqa: E402
from perception.sources import FailedFrame, Frame, open_source  # noqa: E402
from perception.sources.logs import LogFormatError  # noqa: E402
from perception.sources.logs.image_messages import (ImageDecodeError, RawImageMessage,  # noqa: E402
                                                    decode_to_bgr)
from perception.tools.video_to_log import DEFAULT_START_TIME_S, open_writer  # noqa: E402

N_FRAMES = 8
START_NS = int(DEFAULT_START_TIME_S * 1e9)
TOPIC = "/camera/image/compressed"


@pytest.fixture(scope="module")
def clip_frames() -> list[np.ndarray]:
    cap = cv2.VideoCapture(str(need(CLIP)))
    frames = []
    for _ in range(N_FRAMES):
        ok, frame = cap.read()
        assert ok
        frames.append(frame)
    cap.release()
    return frames


def write_log(path, frames, *, fmt="mcap", message="ros", raw=False, storage="sqlite3", topic=TOPIC, fps=25.0):
    writer = open_writer(fmt, path, topic, message=message, raw=raw, storage=storage)
    for i, frame in enumerate(frames):
        writer.write(frame, START_NS + int(round(i / fps * 1e9)))
    writer.close()
    return path


FORMATS = [  # (id, file name, format, message, raw, storage, kind)
    ("mcap-ros-jpeg", "log.mcap", "mcap", "ros", False, "sqlite3", "mcap"),
    ("mcap-ros-raw", "log.mcap", "mcap", "ros", True, "sqlite3", "mcap"),
    ("mcap-foxglove-json", "log.mcap", "mcap", "foxglove-json", False, "sqlite3", "mcap"),
    ("mcap-foxglove-protobuf", "log.mcap", "mcap", "foxglove-protobuf", False, "sqlite3", "mcap"),
    ("ros2-sqlite3-jpeg", "bag2", "ros2", "ros", False, "sqlite3", "ros2"),
    ("ros2-mcap-raw", "bag2", "ros2", "ros", True, "mcap", "ros2"),
    ("ros1-jpeg", "log.bag", "ros1", "ros", False, "sqlite3", "ros1"),
    ("ros1-raw", "log.bag", "ros1", "ros", True, "sqlite3", "ros1"),
]


@pytest.mark.parametrize("name,fmt,message,raw,storage,kind", [f[1:] for f in FORMATS], ids=[f[0] for f in FORMATS])
def test_log_reads_back_frames_and_clock(tmp_path, clip_frames, name, fmt, message, raw, storage, kind):
    if message == "foxglove-protobuf":
        pytest.importorskip("google.protobuf", reason="protobuf is not installed")
    path = write_log(tmp_path / name, clip_frames, fmt=fmt, message=message, raw=raw, storage=storage)
    source = open_source(path)
    try:
        info = source.info
        assert (info.kind, info.frame_count, info.width_px, info.height_px) == (kind, N_FRAMES, 960, 540)
        assert info.fps == pytest.approx(25.0)
        assert info.extra["topic"] == TOPIC
        items = list(source.iter_frames())
        assert source.damage == []
    finally:
        source.close()
    assert all(isinstance(f, Frame) for f in items)
    assert [f.index for f in items] == list(range(N_FRAMES))
    for i, f in enumerate(items):
        assert f.timestamp_s == pytest.approx(i / 25.0, abs=1e-9)
        assert f.log_time_ns == START_NS + round(i / 25.0 * 1e9)
        diff = np.abs(f.image_bgr.astype(np.int16) - clip_frames[i].astype(np.int16))
        if raw:
            assert diff.max() == 0, "raw images must come back bit-exact"
        else:
            assert diff.mean() < 3.0, "JPEG round trip should stay close to the original"


def test_start_index_skips_without_losing_the_clock(tmp_path, clip_frames):
    source = open_source(write_log(tmp_path / "log.mcap", clip_frames))
    items = list(source.iter_frames(start_index=5))
    source.close()
    assert [f.index for f in items] == [5, 6, 7]
    assert items[0].timestamp_s == pytest.approx(0.2)


def test_ros1_reader_agrees_with_rosbags(tmp_path, clip_frames):
    """Our damage-tolerant ROS 1 reader delivers what rosbags' own reader delivers on an intact bag."""
    from rosbags.highlevel import AnyReader

    path = write_log(tmp_path / "log.bag", clip_frames[:4], fmt="ros1")
    with AnyReader([path]) as reader:
        theirs = [(t, bytes(raw)) for _, t, raw in reader.messages()]
    from perception.sources.logs.ros1_backend import Ros1Backend

    backend = Ros1Backend(path)
    (topic,) = backend.topics()
    ours = [(m.log_time_ns, bytes(m.payload)) for m in backend.messages(topic)]
    backend.close()
    assert ours == theirs
    assert (topic.name, topic.type_name, topic.message_count) == (TOPIC, "sensor_msgs/CompressedImage", 4)


@pytest.mark.parametrize("encoding,channels", [("rgb8", 3), ("bgr8", 3), ("mono8", 1), ("bgra8", 4), ("rgba8", 4)])
def test_raw_encodings_with_padded_rows(encoding, channels):
    rng = np.random.default_rng(0)
    h, w, pad = 5, 7, 3
    pixels = rng.integers(0, 256, (h, w, channels), dtype=np.uint8)
    rows = np.concatenate([pixels.reshape(h, w * channels), np.full((h, pad), 77, np.uint8)], axis=1)
    image = decode_to_bgr(RawImageMessage(width=w, height=h, encoding=encoding, step=w * channels + pad,
                                          data=rows.tobytes()))
    assert image.shape == (h, w, 3) and image.dtype == np.uint8
    expected = {"rgb8": pixels[..., ::-1], "bgr8": pixels, "mono8": np.repeat(pixels, 3, axis=2),
                "bgra8": pixels[..., :3], "rgba8": pixels[..., 2::-1]}[encoding]
    np.testing.assert_array_equal(image, expected)


@pytest.mark.parametrize("msg", [
    RawImageMessage(width=4, height=4, encoding="bayer_rggb8", step=4, data=bytes(16)),
    RawImageMessage(width=4, height=4, encoding="rgb8", step=12, data=bytes(10)),
    RawImageMessage(width=0, height=4, encoding="rgb8", step=0, data=b""),
    RawImageMessage(width=4, height=4, encoding="rgb8", step=5, data=bytes(64)),
], ids=["unsupported", "short-data", "zero-width", "short-step"])
def test_bad_raw_images_are_decode_errors(msg):
    with pytest.raises(ImageDecodeError):
        decode_to_bgr(msg)


def _multi_topic_mcap(path, frames, camera_topics, other_topics=("/tf",)):
    """An MCAP with foxglove-json camera topics and JSON non-camera topics."""
    from mcap.writer import Writer

    from perception.sinks import foxglove_json as fj

    with open(path, "wb") as f:
        w = Writer(f)
        w.start()
        cam_schema = w.register_schema("foxglove.CompressedImage", "jsonschema",
                                       fj.schema_bytes(fj.COMPRESSED_IMAGE_SCHEMA))
        other_schema = w.register_schema("tf2_msgs/TFMessage", "jsonschema", b"{}")
        cams = [w.register_channel(t, "json", cam_schema) for t in camera_topics]
        others = [w.register_channel(t, "json", other_schema) for t in other_topics]
        for i, frame in enumerate(frames):
            t = START_NS + i * 40_000_000
            jpeg = cv2.imencode(".jpg", frame)[1].tobytes()
            for c in cams:
                w.add_message(c, log_time=t, publish_time=t, data=fj.encode(fj.compressed_image(t, jpeg)))
            for c in others:
                w.add_message(c, log_time=t, publish_time=t, data=json.dumps({"i": i}).encode())
        w.finish()
    return path


def test_topic_choice(tmp_path, clip_frames):
    path = _multi_topic_mcap(tmp_path / "two.mcap", clip_frames[:3], ["/cam/front", "/cam/rear"])
    with pytest.raises(LogFormatError) as e:
        open_source(path)
    msg = str(e.value)
    assert "--topic" in msg and "/cam/front" in msg and "/cam/rear" in msg and "\n" not in msg
    source = open_source(path, topic="/cam/rear")
    assert source.info.extra["topic"] == "/cam/rear" and source.info.frame_count == 3
    assert sum(isinstance(f, Frame) for f in source.iter_frames()) == 3
    source.close()
    with pytest.raises(LogFormatError, match="not a camera image"):
        open_source(path, topic="/tf")
    with pytest.raises(LogFormatError, match="/cam/nope is not in"):
        open_source(path, topic="/cam/nope")


def test_log_without_camera_topic(tmp_path, clip_frames):
    path = _multi_topic_mcap(tmp_path / "none.mcap", clip_frames[:2], [], other_topics=("/tf", "/odom"))
    with pytest.raises(LogFormatError, match="no camera image topic.*/odom"):
        open_source(path)


def test_undecodable_message_is_one_failed_frame(tmp_path, clip_frames):
    """A message whose JPEG is garbage is a FailedFrame at its position; the frames around it are fine."""
    from mcap.writer import Writer

    from perception.sinks import foxglove_json as fj

    path = tmp_path / "bad.mcap"
    with open(path, "wb") as f:
        w = Writer(f)
        w.start()
        ch = w.register_channel(TOPIC, "json", w.register_schema("foxglove.CompressedImage", "jsonschema",
                                                                 fj.schema_bytes(fj.COMPRESSED_IMAGE_SCHEMA)))
        for i, frame in enumerate(clip_frames[:4]):
            jpeg = b"not a jpeg" if i == 2 else cv2.imencode(".jpg", frame)[1].tobytes()
            t = START_NS + i * 40_000_000
            w.add_message(ch, log_time=t, publish_time=t, data=fj.encode(fj.compressed_image(t, jpeg)))
        w.finish()
    source = open_source(path)
    items = list(source.iter_frames())
    source.close()
    assert [type(f).__name__ for f in items] == ["Frame", "Frame", "FailedFrame", "Frame"]
    assert isinstance(items[2], FailedFrame) and items[2].timestamp_s == pytest.approx(0.08)
    assert "decode" in items[2].reason


def test_topic_flag_on_a_video_is_a_user_error():
    with pytest.raises(UserInputError, match="--topic"):
        open_source(need(CLIP), topic="/camera")
