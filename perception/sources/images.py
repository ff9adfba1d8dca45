"""A folder of still images, read in sorted file-name order."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import cv2

from perception.errors import UserInputError
from perception.sources.frame import FailedFrame, Frame, SourceInfo

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")


class ImageFolderSource:
    """Every image in a folder (not recursive), sorted by file name.

    Image folders carry no clock, so ``timestamp_s = index / fps`` with an assumed ``fps``
    (default 10, set by ``--fps``); ``SourceInfo.extra["fps_assumed"]`` says so. A file that
    fails to decode becomes a ``FailedFrame``.
    """

    def __init__(self, path: str | Path, fps: float = 10.0):
        self.path = Path(path)
        if not self.path.is_dir():
            raise UserInputError(f"image folder not found: {self.path}")
        self.files = sorted(p for p in self.path.iterdir()
                            if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS)
        if not self.files:
            raise UserInputError(f"no images ({', '.join(IMAGE_EXTENSIONS)}) in folder {self.path}")
        first = None
        for f in self.files:
            first = cv2.imread(str(f), cv2.IMREAD_COLOR)
            if first is not None:
                break
        if first is None:
            raise UserInputError(f"none of the {len(self.files)} images in {self.path} can be decoded")
        if fps <= 0:
            raise UserInputError(f"--fps must be positive, got {fps}")
        self.info = SourceInfo(
            path=str(self.path), kind="images", fps=float(fps), frame_count=len(self.files),
            width_px=int(first.shape[1]), height_px=int(first.shape[0]),
            extra={"fps_assumed": True},
        )

    def iter_frames(self, start_index: int = 0) -> Iterator[Frame | FailedFrame]:
        fps = self.info.fps
        for index in range(start_index, len(self.files)):
            image = cv2.imread(str(self.files[index]), cv2.IMREAD_COLOR)
            t = index / fps
            if image is None:
                yield FailedFrame(index=index, timestamp_s=t, reason=f"cannot decode {self.files[index].name}")
            else:
                yield Frame(index=index, timestamp_s=t, image_bgr=image, source=self.info)

    def close(self) -> None:
        pass
