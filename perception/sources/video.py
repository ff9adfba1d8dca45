"""Video files decoded with OpenCV (FFmpeg backend).

Frame identity comes from the container's presentation timestamps (``CAP_PROP_POS_MSEC`` after each read),
not from counting reads: when damage makes the decoder skip packets, a counter would give every later frame
the index (and time) of an earlier one. A frame's index is its slot at the nominal frame rate, counted from
the last placed frame: ``index = previous + round((t - t_previous) * fps)``; the slots it jumps over are
reported as lost (``FailedFrame``) at their own index. This assumes a constant frame rate, as the nominal fps
does. Only a container without timestamps (every frame at 0 s) falls back to decode order.

What FFmpeg's decoder logs while a frame is read (it writes errors to the process's stderr, fd 2) is caught
for the length of that read: a frame whose decoding logged errors carries them in ``Frame.warning`` and the
pipeline writes it with ``status: "damaged"``. The decoder runs in one thread so that its messages belong to
the frame being read. After such errors, or after lost frames, the frames decoded before the next key frame
predict from damaged or missing pictures: they are flagged the same way (key frames are found by a pass over
the file's packets, made only once damage is met). Damage the decoder does not notice (random bytes that
still parse as valid slice data) cannot be seen through OpenCV: those frames, and the ones that follow up to
the next key frame, stay ``ok``, except the frame decoded right before frames that could not be read, which
gets a warning (its data may run into the damage). Messages that are not FFmpeg's are passed on to stderr.
"""

from __future__ import annotations

import os
import re
import sys
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable, Iterator

import cv2
import numpy as np

from perception.errors import UserInputError
from perception.sources.frame import FailedFrame, Frame, SourceInfo

# After this many consecutive unreadable frames we assume the rest of the file is gone.
MAX_CONSECUTIVE_FAILURES = 25
# At most this many notes in ``damage`` (one more says that some were left out).
MAX_NOTES = 20
# A line of FFmpeg's default log output: "[h264 @ 0x55d0c8a1f2c0] Invalid NAL unit size ...".
_FFMPEG_LINE = re.compile(r"^\[[^\]@]+ @ 0x[0-9a-fA-F]+\] ")


class DecoderLog:
    """Catches what is written to fd 2 (FFmpeg's log) while one ``cap.read()`` (or opening a capture) runs."""

    def __init__(self):
        self._file = tempfile.TemporaryFile()

    def open(self, *args: Any) -> tuple[cv2.VideoCapture, list[str]]:
        """``cv2.VideoCapture(*args)``; returns (capture, FFmpeg's log lines: e.g. "moov atom not found")."""
        return self._caught(lambda: cv2.VideoCapture(*args))

    def open_quietly(self, *args: Any) -> tuple[cv2.VideoCapture, list[str]]:
        """Like ``open``, but OpenCV's own lines ("[ WARN:0] ... can't be used to capture by name") are caught
        too: a source that cannot be opened says so in one line of its own."""
        return self._caught(lambda: cv2.VideoCapture(*args), pass_other=False)

    def read(self, cap: cv2.VideoCapture) -> tuple[bool, np.ndarray | None, list[str]]:
        """``cap.read()``; returns (ok, image, FFmpeg's log lines written meanwhile)."""
        (ok, image), log = self._caught(cap.read)
        return ok, image, log

    def _caught(self, call: Callable[[], Any], pass_other: bool = True) -> tuple[Any, list[str]]:
        """(what ``call()`` returns, FFmpeg's lines it wrote to fd 2); other lines go on to stderr (with
        ``pass_other``, else they are dropped)."""
        sys.stderr.flush()
        fd = self._file.fileno()
        saved = os.dup(2)
        try:
            os.dup2(fd, 2)
            try:
                value = call()
            finally:
                os.dup2(saved, 2)
        finally:
            os.close(saved)
        size = os.lseek(fd, 0, os.SEEK_END)
        if size == 0:
            return value, []
        os.lseek(fd, 0, os.SEEK_SET)
        text = os.read(fd, size).decode("utf-8", errors="replace")
        os.ftruncate(fd, 0)
        os.lseek(fd, 0, os.SEEK_SET)
        lines = [line for line in text.splitlines() if line.strip()]
        ffmpeg = [line for line in lines if _FFMPEG_LINE.match(line)]
        other = [line for line in lines if not _FFMPEG_LINE.match(line)]
        if other and pass_other:  # not ours to swallow
            os.write(2, ("\n".join(other) + "\n").encode())
        return value, [_FFMPEG_LINE.sub("", line).strip() for line in ffmpeg]

    def close(self) -> None:
        self._file.close()


class VideoSource:
    """Frames of a video file, in order, placed by their presentation time (see the module docstring).

    ``timestamp_s`` is the frame's presentation time from the container (``index / fps`` when it has none);
    fps is the container's (30 when it does not say). Frames the decoder cannot deliver are ``FailedFrame``
    at their own index: those skipped in the middle (seen as a jump in the timestamps) and, when the file
    ends before the frames the container announces, the rest ("unreadable tail"). ``damage`` (read after
    iterating) lists one-line notes about what was lost or decoded with errors.
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)
        if not self.path.exists():
            raise UserInputError(f"video not found: {self.path}")
        if not self.path.is_file():
            raise UserInputError(f"not a file: {self.path}")
        # One decoder thread: with frame threading, errors are logged while a later frame is being read.
        params = [cv2.CAP_PROP_N_THREADS, 1] if hasattr(cv2, "CAP_PROP_N_THREADS") else []
        self._log = DecoderLog()
        cap, _ = self._log.open(str(self.path), cv2.CAP_ANY, params)  # "moov atom not found" stays off stderr
        ok, first, first_log = self._log.read(cap) if cap.isOpened() else (False, None, [])
        if not ok or first is None:
            cap.release()
            self._log.close()
            raise UserInputError(f"cannot decode any frame from {self.path}: not a video, or damaged")
        fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
        count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        fourcc = int(cap.get(cv2.CAP_PROP_FOURCC) or 0)
        codec = "".join(chr((fourcc >> (8 * i)) & 0xFF) for i in range(4)).strip("\x00") if fourcc else ""
        self._cap = cap
        self._first: tuple[np.ndarray, float, list[str]] | None = (
            first, float(cap.get(cv2.CAP_PROP_POS_MSEC) or 0.0) / 1000.0, first_log)
        self._damage: list[str] = []
        self._key_times_s: np.ndarray | None = None  # presentation times of key frames, found when needed
        self.info = SourceInfo(
            path=str(self.path),
            kind="video",
            fps=fps if 0.0 < fps < 1000.0 else 30.0,
            frame_count=count if count > 0 else None,
            width_px=int(first.shape[1]),
            height_px=int(first.shape[0]),
            extra={"codec": codec, "fps_from_container": 0.0 < fps < 1000.0},
        )

    @property
    def damage(self) -> list[str]:
        """One-line notes about damage met so far (empty: none)."""
        return list(self._damage)

    def _note(self, text: str) -> None:
        if len(self._damage) < MAX_NOTES:
            self._damage.append(text)
        elif len(self._damage) == MAX_NOTES:
            self._damage.append("... more damage notes left out")

    def _is_key_frame(self, t_s: float) -> bool:
        """Whether the frame presented at ``t_s`` is a key frame (one pass over the packets, the first time)."""
        if self._key_times_s is None:
            times = []
            cap, _ = self._log.open(str(self.path), cv2.CAP_FFMPEG, [cv2.CAP_PROP_FORMAT, -1])  # packets, no decoding
            failures_in_a_row = 0
            while cap.isOpened() and failures_in_a_row < MAX_CONSECUTIVE_FAILURES:
                ok, _, _ = self._log.read(cap)  # a damaged packet fails here too: go on past it
                failures_in_a_row = 0 if ok else failures_in_a_row + 1
                if ok and cap.get(cv2.CAP_PROP_LRF_HAS_KEY_FRAME):
                    times.append(float(cap.get(cv2.CAP_PROP_POS_MSEC) or 0.0) / 1000.0)
            cap.release()
            self._key_times_s = np.asarray(times, dtype=np.float64)
        return bool(np.any(np.abs(self._key_times_s - t_s) < 0.5 / self.info.fps))

    def _next(self) -> tuple[bool, np.ndarray | None, float, list[str]]:
        """(ok, image, presentation time in seconds, decoder log lines) of the next frame."""
        if self._first is not None:
            image, t_s, log = self._first
            self._first = None
            return True, image, t_s, log
        ok, image, log = self._log.read(self._cap)
        return ok and image is not None, image, float(self._cap.get(cv2.CAP_PROP_POS_MSEC) or 0.0) / 1000.0, log

    def iter_frames(self, start_index: int = 0) -> Iterator[Frame | FailedFrame]:
        """Yield frames from ``start_index`` on (earlier frames are decoded and skipped).

        Each frame is held until the next read: a frame decoded right before frames that could not be read gets
        a warning (its packet ends where the unreadable bytes begin, so its tail may be damage the decoder hid
        without a word)."""
        held: Frame | None = None
        for item in self._frames(start_index):
            if held is not None:
                if isinstance(item, FailedFrame) and held.warning is None:
                    held = replace(held, warning=f"decoded just before frame {item.index}, which could not be read: "
                                                 f"its data may run into the damage")
                yield held
                held = None
            if isinstance(item, Frame):
                held = item
            else:
                yield item
        if held is not None:
            yield held

    def _frames(self, start_index: int) -> Iterator[Frame | FailedFrame]:
        fps = self.info.fps
        announced = self.info.frame_count
        last_index, last_t = -1, 0.0  # the last frame placed
        have_timestamps = True  # until a second frame also says 0 s
        failed_reads = 0  # reads that failed since the last frame placed
        damaged_since: int | None = None  # frames predict from damage met at this frame, until a key frame
        while True:
            ok, image, t_s, log = self._next()
            if not ok:
                if log and failed_reads == 0:  # one note per damaged stretch
                    self._note(f"decoder errors after frame {last_index}: {log[0]}")
                    damaged_since = last_index + 1 if damaged_since is None else damaged_since
                if announced is not None and last_index + 1 >= announced:
                    return  # every announced frame is placed: the end
                failed_reads += 1
                if failed_reads < MAX_CONSECUTIVE_FAILURES:
                    continue  # damage in the middle: the next frame read tells (by its time) what was lost
                if announced is not None and last_index + 1 < announced:
                    self._note(f"file ends early: frames {last_index + 1}-{announced - 1} of the {announced} "
                               f"announced could not be read")
                    for lost in range(max(last_index + 1, start_index), announced):
                        yield FailedFrame(index=lost, timestamp_s=last_t + (lost - last_index) / fps,
                                          reason="unreadable tail")
                return
            # Place the frame by its presentation time.
            if last_index >= 0 and t_s <= 0.0 and last_t <= 0.0:
                have_timestamps = False  # a second frame at 0 s: the container has no timestamps
            if not have_timestamps:
                index, t_s = last_index + 1, (last_index + 1) / fps
            elif last_index < 0:
                index = max(0, int(round(t_s * fps)))
            elif t_s <= last_t:
                # a time not after the previous frame's: which frame it is cannot be told
                self._note(f"a frame at {t_s:.3f} s (not after frame {last_index} at {last_t:.3f} s) was dropped")
                continue
            else:
                index = last_index + max(1, int(round((t_s - last_t) * fps)))
            if index > last_index + 1:
                lost_span = f"{last_index + 1}-{index - 1}" if index - last_index > 2 else f"{last_index + 1}"
                self._note(f"frames {lost_span} lost: the decoder could not read them "
                           f"({failed_reads} failed reads)")
                for lost in range(max(last_index + 1, start_index), index):
                    yield FailedFrame(index=lost, timestamp_s=t_s - (index - lost) / fps, reason="decode failed")
                damaged_since = last_index + 1 if damaged_since is None else damaged_since
            if damaged_since is not None and self._is_key_frame(t_s):
                damaged_since = None  # a key frame predicts from nothing before it
            warning = None
            if log:
                warning = f"decoder reported errors: {'; '.join(dict.fromkeys(log))}"[:300]
                self._note(f"frame {index} decoded with errors: {log[0]}")
                damaged_since = index if damaged_since is None else damaged_since
            elif damaged_since is not None:
                warning = (f"decoded after damage at frame {damaged_since}, before the next key frame: "
                           f"may show artefacts")
            last_index, last_t, failed_reads = index, t_s, 0
            if index >= start_index:
                if image.ndim == 2:
                    image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
                yield Frame(index=index, timestamp_s=t_s, image_bgr=image, source=self.info, warning=warning)

    def close(self) -> None:
        self._cap.release()
        self._log.close()
