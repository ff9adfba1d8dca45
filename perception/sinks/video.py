"""annotated.mp4 through OpenCV's VideoWriter."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from perception.errors import UserInputError


class VideoSink:
    """Writes BGR frames of one size to an MP4 (codec mp4v, playable by common players).

    The file is finalised by ``close()``; the pipeline calls it on normal exit, on errors and on
    Ctrl-C/SIGTERM, so an interrupted run still leaves a playable file.
    """

    def __init__(self, path: str | Path, fps: float, size_wh: tuple[int, int]):
        self.path = Path(path)
        self.size_wh = (int(size_wh[0]), int(size_wh[1]))
        self._writer = cv2.VideoWriter(str(self.path), cv2.VideoWriter_fourcc(*"mp4v"), float(fps), self.size_wh)
        if not self._writer.isOpened():
            raise UserInputError(f"cannot open {self.path} for writing video")
        self.frames_written = 0

    def write(self, image_bgr: np.ndarray) -> None:
        if (image_bgr.shape[1], image_bgr.shape[0]) != self.size_wh:
            # A source whose frame size changes (image folders) is fitted to the first frame's size.
            image_bgr = cv2.resize(image_bgr, self.size_wh, interpolation=cv2.INTER_AREA)
        self._writer.write(image_bgr)
        self.frames_written += 1

    def close(self) -> None:
        if self._writer is not None:
            self._writer.release()
            self._writer = None
