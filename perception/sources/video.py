"""Video files decoded with OpenCV (FFmpeg backend)."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import cv2
import numpy as np

from perception.errors import UserInputError
from perception.sources.frame import FailedFrame, Frame, SourceInfo

# After this many consecutive unreadable frames we assume the rest of the file is gone.
MAX_CONSECUTIVE_FAILURES = 25


class VideoSource:
    """Frames of a video file, in order.

    Timestamps are ``index / fps``, with fps from the container (falls back to 30 when the
    container does not say). A frame the decoder cannot read while the container still announces
    more frames is reported as ``FailedFrame`` and decoding continues with the next one.
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)
        if not self.path.exists():
            raise UserInputError(f"video not found: {self.path}")
        if not self.path.is_file():
            raise UserInputError(f"not a file: {self.path}")
        cap = cv2.VideoCapture(str(self.path))
        ok, first = cap.read() if cap.isOpened() else (False, None)
        if not ok or first is None:
            cap.release()
            raise UserInputError(f"cannot decode any frame from {self.path}: not a video, or damaged")
        fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
        count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        fourcc = int(cap.get(cv2.CAP_PROP_FOURCC) or 0)
        codec = "".join(chr((fourcc >> (8 * i)) & 0xFF) for i in range(4)).strip("\x00") if fourcc else ""
        self._cap = cap
        self._first: np.ndarray | None = first
        self.info = SourceInfo(
            path=str(self.path),
            kind="video",
            fps=fps if 0.0 < fps < 1000.0 else 30.0,
            frame_count=count if count > 0 else None,
            width_px=int(first.shape[1]),
            height_px=int(first.shape[0]),
            extra={"codec": codec, "fps_from_container": 0.0 < fps < 1000.0},
        )

    def iter_frames(self, start_index: int = 0) -> Iterator[Frame | FailedFrame]:
        """Yield frames from ``start_index`` on (earlier frames are decoded and skipped)."""
        fps = self.info.fps
        announced = self.info.frame_count
        index = 0
        failures_in_a_row = 0
        while True:
            if self._first is not None:
                ok, image = True, self._first
                self._first = None
            else:
                ok, image = self._cap.read()
            if ok and image is not None:
                failures_in_a_row = 0
                if index >= start_index:
                    if image.ndim == 2:
                        image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
                    yield Frame(index=index, timestamp_s=index / fps, image_bgr=image, source=self.info)
                index += 1
                continue
            # read() failed: the end, or a damaged frame in the middle.
            if announced is None or index >= announced:
                return
            failures_in_a_row += 1
            if index >= start_index:
                yield FailedFrame(index=index, timestamp_s=index / fps, reason="decode failed")
            index += 1
            if failures_in_a_row >= MAX_CONSECUTIVE_FAILURES:
                # Count the rest as lost rather than spin on a dead file.
                for lost in range(index, announced):
                    if lost >= start_index:
                        yield FailedFrame(index=lost, timestamp_s=lost / fps, reason="unreadable tail")
                return

    def close(self) -> None:
        self._cap.release()
