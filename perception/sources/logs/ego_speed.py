"""The ego vehicle's speed from a driving log's odometry or twist topic, looked up at each frame's record time.

Topic types read (ROS 1 / ROS 2 spellings, and the same names in JSON or protobuf schemas):

| type | field | speed |
|---|---|---|
| ``nav_msgs/Odometry`` | ``twist.twist.linear`` | ``hypot(x, y)`` in m/s |
| ``geometry_msgs/TwistStamped`` | ``twist.linear`` | ``hypot(x, y)`` |
| ``geometry_msgs/TwistWithCovarianceStamped`` | ``twist.twist.linear`` | ``hypot(x, y)`` |
| ``std_msgs/Float32``, ``std_msgs/Float64`` (only when named with ``--speed-topic``) | ``data`` | ``abs(data)`` |

The norm of the horizontal velocity does not depend on which frame the twist is given in (Odometry's
``child_frame_id`` body frame, or a world frame). The speed at a frame is interpolated linearly between the
messages around its record time, or taken from the nearest one, when a message lies within ``MAX_GAP_S``;
otherwise the frame has no measured speed and the planner falls back to its assumed speed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from perception.sources.logs.backend import LogBackend, LogMessage
from perception.sources.logs.errors import LogFormatError
from perception.sources.logs.image_messages import message_field
from perception.sources.logs.topics import LogTopic

# A speed sample counts for a frame when it is at most this far from the frame's record time (s).
MAX_GAP_S = 0.5
# Plausible ego speeds (m/s); a message outside is dropped as garbage (and counted).
MAX_SPEED_MPS = 100.0

# Normalised type name -> path of the vector (x, y) or scalar field holding the velocity.
VELOCITY_FIELDS: dict[str, tuple[str, ...]] = {
    "nav_msgs/Odometry": ("twist", "twist", "linear"),
    "geometry_msgs/TwistStamped": ("twist", "linear"),
    "geometry_msgs/TwistWithCovarianceStamped": ("twist", "twist", "linear"),
}
SCALAR_FIELDS: dict[str, tuple[str, ...]] = {"std_msgs/Float32": ("data",), "std_msgs/Float64": ("data",)}


def normalise_type(type_name: str) -> str:
    """``nav_msgs/msg/Odometry``, ``nav_msgs.msg.Odometry`` and ``nav_msgs/Odometry`` -> ``nav_msgs/Odometry``."""
    parts = [p for p in type_name.replace(".", "/").split("/") if p and p != "msg"]
    return "/".join(parts[-2:])


def is_speed_type(type_name: str, *, named: bool = False) -> bool:
    """True for a type found on its own (odometry, twist); ``named`` also admits plain float topics."""
    t = normalise_type(type_name)
    return t in VELOCITY_FIELDS or (named and t in SCALAR_FIELDS)


@dataclass(frozen=True)
class EgoSpeedTrack:
    """Speed samples of one topic, sorted by record time.

    Attributes:
        topic, type_name: where they came from.
        times_ns: int64 (N,) record (log) times, ascending.
        speeds_mps: float64 (N,) ego speed at those times.
        dropped: messages that could not be decoded or held no plausible speed.
    """

    topic: str
    type_name: str
    times_ns: np.ndarray
    speeds_mps: np.ndarray
    dropped: int = 0

    def at(self, log_time_ns: int | None, max_gap_s: float = MAX_GAP_S) -> float | None:
        """Speed at ``log_time_ns`` (interpolated between neighbours within ``max_gap_s``), or None."""
        if log_time_ns is None or not len(self.times_ns):
            return None
        gap_ns = max_gap_s * 1e9
        i = int(np.searchsorted(self.times_ns, log_time_ns))
        before = i - 1 if i > 0 else None
        after = i if i < len(self.times_ns) else None
        near_before = before is not None and log_time_ns - self.times_ns[before] <= gap_ns
        near_after = after is not None and self.times_ns[after] - log_time_ns <= gap_ns
        if near_before and near_after and self.times_ns[after] > self.times_ns[before]:
            w = (log_time_ns - self.times_ns[before]) / (self.times_ns[after] - self.times_ns[before])
            return float(self.speeds_mps[before] + w * (self.speeds_mps[after] - self.speeds_mps[before]))
        if near_before:
            return float(self.speeds_mps[before])
        if near_after:
            return float(self.speeds_mps[after])
        return None

    def describe(self) -> dict[str, Any]:
        return {"topic": self.topic, "type": self.type_name, "messages": int(len(self.times_ns)),
                "dropped_messages": self.dropped}


def choose_speed_topic(topics: list[LogTopic], requested: str | None, log_name: str) -> LogTopic | None:
    """The topic named by ``--speed-topic`` (LogFormatError, one line, when absent or of another type), else
    the first odometry topic by name, else the first twist topic; None when the log has neither."""
    if requested is not None:
        for t in topics:
            if t.name == requested:
                if not is_speed_type(t.type_name, named=True):
                    kinds = ", ".join([*VELOCITY_FIELDS, *SCALAR_FIELDS])
                    raise LogFormatError(f"--speed-topic {requested} in {log_name} has type {t.type_name}; "
                                         f"supported: {kinds}")
                return t
        found = [f"{t.name} ({t.type_name})" for t in topics if is_speed_type(t.type_name)]
        raise LogFormatError(f"--speed-topic {requested} is not in {log_name}; speed topics there: "
                             f"{', '.join(found) or 'none'}")
    for kind in VELOCITY_FIELDS:
        for t in topics:
            if normalise_type(t.type_name) == kind:
                return t
    return None


def read_ego_speed(backend: LogBackend, topic: LogTopic) -> EgoSpeedTrack:
    """Read every message of ``topic`` (one pass over the log) into an :class:`EgoSpeedTrack`."""
    decode = backend.message_decoder(topic)
    kind = normalise_type(topic.type_name)
    path = VELOCITY_FIELDS.get(kind) or SCALAR_FIELDS[kind]
    times, speeds, dropped = [], [], 0
    for event in backend.messages(topic):
        if not isinstance(event, LogMessage):
            continue
        try:
            value = _field(decode(event.payload), path)
            speed = math.hypot(float(_field(value, ("x",))), float(_field(value, ("y",)))) \
                if kind in VELOCITY_FIELDS else abs(float(value))
        except Exception:  # noqa: BLE001 - one unreadable message is one missing sample
            dropped += 1
            continue
        if not math.isfinite(speed) or speed > MAX_SPEED_MPS:
            dropped += 1
            continue
        times.append(int(event.log_time_ns))
        speeds.append(speed)
    order = np.argsort(np.asarray(times, dtype=np.int64), kind="stable")
    return EgoSpeedTrack(topic.name, topic.type_name, np.asarray(times, dtype=np.int64)[order],
                         np.asarray(speeds, dtype=np.float64)[order], dropped)


def _field(message: Any, path: tuple[str, ...]) -> Any:
    """``message.a.b`` for ROS / protobuf objects, ``message["a"]["b"]`` for JSON dicts (None when absent)."""
    for name in path:
        message = message_field(message, name)
    return message
