"""``LogSource``: the frames of one camera topic of a driving log, as a FrameSource.

Timestamps: ``Frame.timestamp_s`` is the message's record (log) time minus the record time of the
topic's first message, in seconds; ``Frame.log_time_ns`` keeps the absolute record time. Frames are
numbered by message position on the topic: a message that cannot be decoded, or that the log's index
lists (with its time) in a damaged chunk, is a ``FailedFrame`` at its position.

Ego speed: when the log has an odometry or twist topic (or ``speed_topic`` names one), it is read once at
open and each ``Frame.ego_speed_mps`` is the speed at the frame's record time (``ego_speed``), or None.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import numpy as np

from perception.sources.frame import FailedFrame, Frame, SourceInfo
from perception.sources.logs.backend import LogBackend, LogMessage, LostMessages
from perception.sources.logs.ego_speed import EgoSpeedTrack, choose_speed_topic, read_ego_speed
from perception.sources.logs.errors import LogFormatError
from perception.sources.logs.image_messages import decode_to_bgr
from perception.sources.logs.topics import choose_topic

# Frame rate estimate: median interval of the first this-many messages.
FPS_PROBE_MESSAGES = 31
# fps when the log gives fewer than two timestamps.
DEFAULT_FPS = 10.0


class LogSource:
    """Camera frames from a log backend (MCAP, ROS 1 bag, ROS 2 bag); see the module docstring.

    ``damage`` (read after iterating) lists one-line notes about damage met in the log. Frames lost
    to damage are FailedFrames at their position when an index entry gives their record time; lost
    frames that only the index's totals reveal are counted in ``frames_lost`` (and a note), not numbered.
    """

    def __init__(self, path: str | Path, backend: LogBackend, topic: str | None = None,
                 speed_topic: str | None = None, ego_speed: bool = True):
        self.path = Path(path)
        self._backend = backend
        self.ego_speed: EgoSpeedTrack | None = None
        try:
            try:
                self.topic = choose_topic(backend.topics(), topic, self.path.name)
            except LogFormatError as e:
                if backend.damage:  # say why the topic list is short
                    raise LogFormatError(f"{e}; the log is damaged: {backend.damage[0]}") from None
                raise
            self._decode = backend.image_decoder(self.topic)
            first_image, times_ns = self._probe()
            speed = choose_speed_topic(backend.topics(), speed_topic, self.path.name) if ego_speed else None
            if speed is not None:
                self.ego_speed = read_ego_speed(backend, speed)
        except BaseException:
            backend.close()
            raise
        self._t0_ns = times_ns[0]
        intervals = np.diff(np.asarray(times_ns, dtype=np.int64))
        intervals = intervals[intervals > 0]
        fps = float(1e9 / np.median(intervals)) if intervals.size else DEFAULT_FPS
        fps_known = bool(intervals.size) and 0.0 < fps < 1000.0
        self._damage: list[str] = []
        self.frames_lost = 0  # set by iter_frames: announced by the index, neither read nor numbered
        self.info = SourceInfo(
            path=str(self.path), kind=backend.kind, fps=fps if fps_known else DEFAULT_FPS,
            frame_count=self.topic.message_count,
            width_px=int(first_image.shape[1]), height_px=int(first_image.shape[0]),
            extra={"topic": self.topic.name, "message_type": self.topic.type_name,
                   "log_start_time_ns": int(self._t0_ns),
                   "fps_from": "log timestamps (median interval)" if fps_known else "assumed",
                   "ego_speed": self.ego_speed.describe() if self.ego_speed is not None else None},
        )

    def _probe(self) -> tuple[np.ndarray, list[int]]:
        """First decodable image and the record times of the first few messages (ns)."""
        image = None
        times: list[int] = []
        last_error = "no readable message"
        for event in self._backend.messages(self.topic):
            if isinstance(event, LostMessages):
                times.extend(event.log_times_ns or ())
                continue
            times.append(event.log_time_ns)
            if image is None:
                try:
                    image = decode_to_bgr(self._decode(event.payload))
                except Exception as e:  # noqa: BLE001 - any decoder failure means "this frame is bad"
                    last_error = _reason(e)
            if image is not None and len(times) >= FPS_PROBE_MESSAGES:
                break
        if image is None:
            damage = f"; {self._backend.damage[0]}" if self._backend.damage else ""
            raise LogFormatError(f"no readable camera frame on topic {self.topic.name} in {self.path.name} "
                                 f"({last_error}{damage})")
        return image, times[:FPS_PROBE_MESSAGES]

    @property
    def damage(self) -> list[str]:
        """One-line notes about damage in the log met by the last ``iter_frames`` pass (empty: none)."""
        return list(self._damage)

    def _t(self, log_time_ns: int) -> float:
        return (log_time_ns - self._t0_ns) / 1e9

    def iter_frames(self, start_index: int = 0) -> Iterator[Frame | FailedFrame]:
        """Yield frames from ``start_index`` on; earlier messages are skipped without decoding."""
        period_ns = int(round(1e9 / self.info.fps))
        index = 0
        last_ns = self._t0_ns - period_ns
        self._damage = []
        for event in self._backend.messages(self.topic):
            if isinstance(event, LogMessage):
                last_ns = event.log_time_ns
                if index >= start_index:
                    yield self._decode_frame(index, event)
                index += 1
                continue
            if event.count is None:
                continue  # the backend's damage note says so; nothing to number
            times = event.log_times_ns or tuple(last_ns + period_ns * (k + 1) for k in range(event.count))
            for t_ns in times:
                if index >= start_index:
                    yield FailedFrame(index=index, timestamp_s=self._t(t_ns), reason=event.reason, log_time_ns=t_ns)
                index += 1
                last_ns = t_ns
        self._damage = list(self._backend.damage)
        expected = self.topic.message_count
        self.frames_lost = max(0, expected - index) if expected is not None else 0
        if self.frames_lost:
            # Not turned into FailedFrames: an index count is not evidence of where (or whether) they were.
            self._damage.append(f"the log's index announces {expected} messages on {self.topic.name}, {index} were "
                                f"found: {self.frames_lost} lost to damage (not numbered in frames.jsonl)")

    def _decode_frame(self, index: int, event: LogMessage) -> Frame | FailedFrame:
        t = self._t(event.log_time_ns)
        try:
            image = decode_to_bgr(self._decode(event.payload))
        except Exception as e:  # noqa: BLE001 - a bad message is one failed frame, never the end of the run
            return FailedFrame(index=index, timestamp_s=t, reason=_reason(e), log_time_ns=event.log_time_ns)
        speed = self.ego_speed.at(event.log_time_ns) if self.ego_speed is not None else None
        return Frame(index=index, timestamp_s=t, image_bgr=image, source=self.info, log_time_ns=event.log_time_ns,
                     ego_speed_mps=speed)

    def close(self) -> None:
        self._backend.close()


def _reason(e: Exception) -> str:
    text = " ".join(str(e).split())[:200]
    return f"{type(e).__name__}: {text}" if text else type(e).__name__
