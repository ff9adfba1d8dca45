"""Still images as a frame source: a folder (sorted by file name, optionally recursive), a glob or one image."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import cv2

from perception.errors import UserInputError
from perception.sources.frame import FailedFrame, Frame, SourceInfo

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")


class ImageListSource:
    """Still images in a given order: a folder's images, a glob's matches or one image.

    Each frame carries its file's ``name`` (``still_names``). Stills carry no clock, so ``timestamp_s = index / fps`` with an assumed ``fps`` (default 10, set by
    ``--fps``); ``SourceInfo.extra["fps_assumed"]`` says so. A file that fails to decode becomes a
    ``FailedFrame``. ``SourceInfo`` has the first decodable image's size.
    """

    def __init__(self, files: list[Path], *, label: str, fps: float = 10.0):
        self.files = list(files)
        if not self.files:
            raise UserInputError(f"no images ({', '.join(IMAGE_EXTENSIONS)}) in {label}")
        self.names = still_names(self.files)
        if fps <= 0:
            raise UserInputError(f"--fps must be positive, got {fps}")
        first = None
        for f in self.files:
            first = cv2.imread(str(f), cv2.IMREAD_COLOR)
            if first is not None:
                break
        if first is None:
            raise UserInputError(f"none of the {len(self.files)} images in {label} can be decoded")
        self.info = SourceInfo(
            path=label, kind="images", fps=float(fps), frame_count=len(self.files),
            width_px=int(first.shape[1]), height_px=int(first.shape[0]),
            extra={"fps_assumed": True},
        )

    def iter_frames(self, start_index: int = 0) -> Iterator[Frame | FailedFrame]:
        fps = self.info.fps
        for index in range(start_index, len(self.files)):
            image = cv2.imread(str(self.files[index]), cv2.IMREAD_COLOR)
            t = index / fps
            if image is None:
                yield FailedFrame(index=index, timestamp_s=t, reason=f"cannot decode {self.files[index].name}",
                                  name=self.names[index])
            else:
                yield Frame(index=index, timestamp_s=t, image_bgr=image, source=self.info, name=self.names[index])

    def close(self) -> None:
        pass


def still_names(files: list[Path]) -> tuple[str, ...]:
    """Each still's path below the stills' common folder, POSIX style (``a/x.png``): unique, and the name its
    frames.jsonl record and its annotated picture (``annotated/a/x.png``) carry."""
    import os

    if not files:
        return ()
    resolved = [Path(f).resolve() for f in files]
    root = Path(os.path.commonpath([str(f.parent) for f in resolved]))
    return tuple(f.relative_to(root).as_posix() for f in resolved)


def is_image_file(path: Path) -> bool:
    return path.is_file() and path.suffix.lower() in IMAGE_EXTENSIONS


def image_folder_source(path: str | Path, *, fps: float = 10.0, recursive: bool = False) -> ImageListSource:
    """Every image in a folder (``recursive``: and its sub-folders), sorted by relative path."""
    root = Path(path)
    if not root.is_dir():
        raise UserInputError(f"image folder not found: {root}")
    files = sorted(p for p in (root.rglob("*") if recursive else root.iterdir()) if is_image_file(p))
    return ImageListSource(files, label=f"folder {root}", fps=fps)


def image_glob_source(pattern: str, *, fps: float = 10.0) -> ImageListSource:
    """The images matching a glob pattern (``**`` spans folders), sorted by path."""
    import glob

    files = sorted(Path(p) for p in glob.glob(pattern, recursive=True) if is_image_file(Path(p)))
    if not files:
        raise UserInputError(f"no images ({', '.join(IMAGE_EXTENSIONS)}) match {pattern!r}")
    return ImageListSource(files, label=pattern, fps=fps)
