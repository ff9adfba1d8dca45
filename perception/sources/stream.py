"""Live sources: a camera by its index (``0``) or a network stream (``rtsp://``, ``http(s)://``, ``udp://``,
``tcp://``, ``rtmp://``, ``srt://``), read through OpenCV (FFmpeg for URLs).

A live source has no length and no seek: it runs until the stream ends or the user stops it (Ctrl-C), and
``--resume`` does not apply. Frames are numbered in arrival order; ``timestamp_s`` is the stream's own
presentation time when FFmpeg reports one that increases, else the time since the first frame on this machine's
monotonic clock. A stream that stops delivering is retried ``RETRIES`` times ``RETRY_WAIT_S`` apart, then ends
the run normally; a stream that cannot be opened is a one-line error before anything is written.
"""

from __future__ import annotations

import re
import time
from typing import Iterator

import cv2

from perception.errors import UserInputError
from perception.sources.frame import FailedFrame, Frame, SourceInfo
from perception.sources.video import DecoderLog

STREAM_URL = re.compile(r"^(rtsp|rtsps|http|https|udp|tcp|rtmp|srt)://", re.IGNORECASE)
RETRIES = 3
RETRY_WAIT_S = 0.5
DEFAULT_FPS = 30.0  # when the stream does not say


def is_live(path: str) -> bool:
    """True for a camera index (``"0"``) or a stream URL."""
    return str(path).isdigit() or bool(STREAM_URL.match(str(path)))


def _redact(url: str) -> str:
    """The URL without a password (``rtsp://user:secret@host`` -> ``rtsp://user:***@host``)."""
    return re.sub(r"(://[^/:@]+):[^/@]*@", r"\1:***@", url)


class StreamSource:
    """Frames from a camera index or a stream URL (see the module docstring)."""

    def __init__(self, path: str):
        self.label = _redact(str(path))
        camera = str(path).isdigit()
        self._log = DecoderLog()  # FFmpeg's lines (a refused connection, lost packets) stay off the terminal
        self._cap, log = self._log.open_quietly(int(path)) if camera else self._log.open_quietly(str(path),
                                                                                                  cv2.CAP_FFMPEG)
        if not self._cap.isOpened():
            self._cap.release()
            self._log.close()
            what = f"camera {path}" if camera else f"stream {self.label}"
            why = _redact(log[-1]) if log else "not reachable, or not a video stream OpenCV can read"
            raise UserInputError(f"cannot open {what}: {why}")
        self._t0 = time.monotonic()
        self._last_t = -1.0
        self._stream_clock = True
        self._buffer: list[tuple] = []  # (image, timestamp_s, warning) read ahead by peek()
        first = self._read()
        if first is None:
            self._cap.release()
            self._log.close()
            raise UserInputError(f"{self.label}: opened, but no frame arrived")
        self._buffer.append(first)
        fps = self._cap.get(cv2.CAP_PROP_FPS)
        fps = float(fps) if fps and 0 < fps < 1000 else DEFAULT_FPS
        image = first[0]
        self.info = SourceInfo(path=self.label, kind="camera" if camera else "stream", fps=fps, frame_count=None,
                               width_px=int(image.shape[1]), height_px=int(image.shape[0]), extra={"live": True})

    def _read(self) -> tuple | None:
        """The next (image BGR (H, W, 3) uint8, timestamp_s, decoder warning or None), retrying a stalled stream;
        None when it ended."""
        for attempt in range(RETRIES + 1):
            ok, image, log = self._log.read(self._cap)
            if ok and image is not None:
                break
            if attempt == RETRIES:
                return None
            time.sleep(RETRY_WAIT_S)
        t = None
        if self._stream_clock:
            t_ms = self._cap.get(cv2.CAP_PROP_POS_MSEC)
            t = t_ms / 1000.0 if t_ms and t_ms > 0 and t_ms / 1000.0 > self._last_t else None
        if t is None:
            self._stream_clock = False  # from here on this machine's clock, never going back
            t = max(time.monotonic() - self._t0, self._last_t + 1e-3)
        self._last_t = t
        warning = f"decoder reported errors: {'; '.join(dict.fromkeys(log))}"[:300] if log else None
        return image, t, warning

    def peek(self, n: int) -> list:
        """Up to ``n`` first frames (BGR images), read ahead and still delivered by ``iter_frames``: what the lane
        stage calibrates on, since a live source cannot be opened a second time."""
        while len(self._buffer) < n:
            item = self._read()
            if item is None:
                break
            self._buffer.append(item)
        return [item[0] for item in self._buffer[:n]]

    def iter_frames(self, start_index: int = 0) -> Iterator[Frame | FailedFrame]:
        if start_index:
            raise UserInputError("--resume does not apply to a live source (camera or stream)")
        index = 0
        while True:
            item = self._buffer.pop(0) if self._buffer else self._read()
            if item is None:
                return  # the stream ended (or stopped delivering)
            yield Frame(index=index, timestamp_s=item[1], image_bgr=item[0], source=self.info, warning=item[2])
            index += 1

    def close(self) -> None:
        self._cap.release()
        self._log.close()
