"""Ego speed from a driving log: odometry / twist topics in every log format, looked up at each frame's time.

The speeds are a real drive's: comma2k19's CAN speed (about 89 Hz) and its camera frame times (20 fps), with the
dashcam clip's frames as the camera images.
"""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from conftest import CLIP, SHARED_DATA, need, run_cli

pytest.importorskip("mcap", reason="the 'logs' extra (mcap) is not installed: pip install '.[logs]'")
pytest.importorskip("rosbags", reason="the 'logs' extra (rosbags) is not installed: pip install '.[logs]'")

from perception.errors import UserInputError  # noqa: E402
from perception.sources import Frame, open_source  # noqa: E402
from perception.sources.logs import LogFormatError  # noqa: E402
from perception.sources.logs.ego_speed import EgoSpeedTrack, normalise_type  # noqa: E402

COMMA = SHARED_DATA / "comma2k19_example_segment" / "segment"
N_FRAMES = 8
START_NS = 1_700_000_000 * 10**9
CAMERA, ODOM = "/camera/image/compressed", "/vehicle/odom"


@pytest.fixture(scope="module")
def drive() -> dict:
    """Camera frames at every 6th of comma2k19's frame times, and its CAN speed samples over the same seconds."""
    seg = need(COMMA)
    frame_t = np.load(seg / "global_pose" / "frame_times")[::6][:N_FRAMES]  # every 0.3 s
    can_t = np.load(seg / "processed_log" / "CAN" / "speed" / "t")
    can_v = np.load(seg / "processed_log" / "CAN" / "speed" / "value").reshape(-1)
    keep = (can_t >= frame_t[0] - 1.0) & (can_t <= frame_t[-1] + 1.0)
    t0 = frame_t[0]
    cap = cv2.VideoCapture(str(need(CLIP)))
    images = []
    for _ in range(N_FRAMES):
        ok, image = cap.read()
        assert ok
        images.append(cv2.resize(image, (320, 180)))
    cap.release()
    to_ns = lambda t: START_NS + np.round((t - t0) * 1e9).astype(np.int64)  # noqa: E731
    return {"frame_ns": to_ns(frame_t), "images": images, "speed_ns": to_ns(can_t[keep]), "speed_mps": can_v[keep],
            "frame_t": frame_t, "can_t": can_t[keep], "can_v": can_v[keep]}


def _ros_types(ros_version: int):
    from rosbags import typesys

    return typesys.get_typestore(typesys.Stores.ROS1_NOETIC if ros_version == 1 else typesys.Stores.ROS2_HUMBLE)


def _odometry(store, t_ns: int, speed_mps: float, ros_version: int):
    """nav_msgs/Odometry with the speed along the body x axis (and a little sideways, as a real odometry has)."""
    T = store.types  # noqa: N806
    sec, nsec = divmod(int(t_ns), 10**9)
    stamp = T["builtin_interfaces/msg/Time"](sec=sec, nanosec=nsec)
    header = (T["std_msgs/msg/Header"](seq=0, stamp=stamp, frame_id="odom") if ros_version == 1
              else T["std_msgs/msg/Header"](stamp=stamp, frame_id="odom"))
    vec = T["geometry_msgs/msg/Vector3"]
    pose = T["geometry_msgs/msg/PoseWithCovariance"](
        pose=T["geometry_msgs/msg/Pose"](position=T["geometry_msgs/msg/Point"](x=0.0, y=0.0, z=0.0),
                                         orientation=T["geometry_msgs/msg/Quaternion"](x=0.0, y=0.0, z=0.0, w=1.0)),
        covariance=np.zeros(36))
    lateral = 0.02 * speed_mps
    forward = float(np.sqrt(speed_mps ** 2 - lateral ** 2))
    twist = T["geometry_msgs/msg/TwistWithCovariance"](
        twist=T["geometry_msgs/msg/Twist"](linear=vec(x=forward, y=lateral, z=0.0), angular=vec(x=0.0, y=0.0, z=0.0)),
        covariance=np.zeros(36))
    return T["nav_msgs/msg/Odometry"](header=header, child_frame_id="base_link", pose=pose, twist=twist)


def write_drive_log(path, drive, fmt: str, *, speed_topic: str = ODOM, speed_ns=None):
    """A log with the camera topic and an Odometry topic: ``fmt`` "mcap", "ros2-sqlite3", "ros2-mcap" or "ros1"."""
    from perception.sinks.camera_log import _RosImages

    ros_version = 1 if fmt == "ros1" else 2
    images = _RosImages(ros_version=ros_version, raw=False)
    store = images.store
    odom_type = "nav_msgs/msg/Odometry"
    speed_ns = drive["speed_ns"] if speed_ns is None else speed_ns
    events = sorted([(int(t), 0, i) for i, t in enumerate(drive["frame_ns"])]
                    + [(int(t), 1, i) for i, t in enumerate(speed_ns)])

    def payload(kind: int, i: int, t: int) -> bytes:
        if kind == 0:
            return images.serialize(drive["images"][i], t)
        msg = _odometry(store, t, float(drive["speed_mps"][i]), ros_version)
        return bytes(store.serialize_ros1(msg, odom_type) if ros_version == 1 else store.serialize_cdr(msg, odom_type))

    if fmt == "mcap":
        from mcap.writer import Writer

        with open(path, "wb") as f:
            w = Writer(f)
            w.start(profile="ros2", library="test")
            channels = []
            for topic, msgtype in ((CAMERA, images.msgtype), (speed_topic, odom_type)):
                definition, _ = store.generate_msgdef(msgtype, ros_version=2)
                channels.append(w.register_channel(topic, "cdr", w.register_schema(msgtype, "ros2msg",
                                                                                   definition.encode())))
            for t, kind, i in events:
                w.add_message(channels[kind], log_time=t, publish_time=t, data=payload(kind, i, t))
            w.finish()
        return path
    if fmt == "ros1":
        from rosbags.rosbag1 import Writer

        writer = Writer(path)
    else:
        from rosbags.rosbag2 import StoragePlugin, Writer

        writer = Writer(path, version=9, storage_plugin=StoragePlugin.MCAP if fmt == "ros2-mcap"
                        else StoragePlugin.SQLITE3)
    writer.open()
    conns = [writer.add_connection(CAMERA, images.msgtype, typestore=store),
             writer.add_connection(speed_topic, odom_type, typestore=store)]
    for t, kind, i in events:
        writer.write(conns[kind], t, payload(kind, i, t))
    writer.close()
    return path


LOG_FORMATS = [("mcap", "drive.mcap"), ("ros2-sqlite3", "bag"), ("ros2-mcap", "bag"), ("ros1", "drive.bag")]


@pytest.mark.parametrize("fmt,name", LOG_FORMATS, ids=[f for f, _ in LOG_FORMATS])
def test_each_frame_gets_the_drives_speed_at_its_time(tmp_path, drive, fmt, name):
    path = write_drive_log(tmp_path / name, drive, fmt)
    source = open_source(path)
    frames = [f for f in source.iter_frames() if isinstance(f, Frame)]
    source.close()
    assert len(frames) == N_FRAMES
    assert source.info.extra["ego_speed"] == {"topic": ODOM, "type": source.info.extra["ego_speed"]["type"],
                                              "messages": len(drive["speed_ns"]), "dropped_messages": 0}
    assert normalise_type(source.info.extra["ego_speed"]["type"]) == "nav_msgs/Odometry"
    want = np.interp(drive["frame_t"], drive["can_t"], drive["can_v"])  # the CAN speed at each camera frame
    got = np.array([f.ego_speed_mps for f in frames])
    np.testing.assert_allclose(got, want, atol=1e-3)
    assert 7.9 < got.min() and got.max() < 11.2  # the drive speeds up from 8 to 11 m/s over these 2.1 s


def test_frames_far_from_any_speed_message_get_none(drive):
    track = EgoSpeedTrack("/odom", "nav_msgs/msg/Odometry", np.array([0, 10**8, 2 * 10**9], dtype=np.int64),
                          np.array([10.0, 12.0, 20.0]))
    assert track.at(5 * 10**7) == pytest.approx(11.0)        # between two samples 0.1 s apart: interpolated
    assert track.at(10**9) is None                            # 0.9 s and 1 s from its neighbours
    assert track.at(2 * 10**9 + 4 * 10**8) == pytest.approx(20.0)  # 0.4 s after the last one: the last one
    assert track.at(None) is None


def test_speed_topic_choice_and_errors(tmp_path, drive):
    path = write_drive_log(tmp_path / "d.mcap", drive, "mcap", speed_topic="/gps/odom")
    source = open_source(path, speed_topic="/gps/odom")
    assert source.info.extra["ego_speed"]["topic"] == "/gps/odom"
    source.close()
    with pytest.raises(LogFormatError) as e:
        open_source(path, speed_topic="/nope")
    assert "/gps/odom" in str(e.value) and "\n" not in str(e.value)
    with pytest.raises(LogFormatError, match="CompressedImage; supported"):
        open_source(path, speed_topic=CAMERA)
    assert open_source(path, ego_speed=False).ego_speed is None
    with pytest.raises(UserInputError, match="--speed-topic applies to driving logs"):
        open_source(need(CLIP), speed_topic="/odom")


def test_a_run_plans_with_the_logs_speed(tmp_path, drive):
    """perception.run on a log with odometry: each plan says it used the log's speed, and which."""
    # the speed topic stops at the third frame: frames more than 0.5 s later fall back to the assumed speed
    cut = drive["speed_ns"] <= drive["frame_ns"][2]
    log = write_drive_log(tmp_path / "drive.mcap", drive, "mcap", speed_ns=drive["speed_ns"][cut])
    out = tmp_path / "out"
    proc = run_cli("perception.run", "--source", str(log), "--output", str(out), "--no-video", "--no-report",
                   "--no-progress", "--lanes", "off", "--ego-speed-mps", "30")
    assert proc.returncode == 0, proc.stderr
    plans = [json.loads(line)["plan"] for line in (out / "frames.jsonl").read_text().splitlines()]
    want = np.interp(drive["frame_t"], drive["can_t"], drive["can_v"])
    # frames 0-1 interpolate; frames 2-3, within 0.5 s after the last message, take it; the rest assume 30
    last_s = (drive["speed_ns"][cut][-1] - START_NS) / 1e9
    for i, plan in enumerate(plans):
        frame_s = (drive["frame_ns"][i] - START_NS) / 1e9
        if frame_s - last_s <= 0.5:
            assert plan["ego_speed_from"] == "log" and plan["ego_speed_mps"] == pytest.approx(
                want[i] if i < 2 else drive["speed_mps"][cut][-1], abs=2e-3)  # from frame 2: the last sample
        else:
            assert plan["ego_speed_from"] == "assumed" and plan["ego_speed_mps"] == 30.0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["input"]["ego_speed"]["topic"] == ODOM
    frames = summary["planning"]["ego_speed_frames"]
    assert frames["log"] == sum(p["ego_speed_from"] == "log" for p in plans) == 4
    assert frames["log"] + frames["assumed"] == N_FRAMES
    bad = run_cli("perception.run", "--source", str(log), "--output", str(tmp_path / "bad"), "--speed-topic",
                  "/nope", "--no-progress")
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1 and "Traceback" not in bad.stderr
    assert not (tmp_path / "bad").exists()
