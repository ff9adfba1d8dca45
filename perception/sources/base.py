"""The interface every frame source implements (videos, image folders, later driving logs)."""

from __future__ import annotations

from typing import Iterator, Protocol

from perception.sources.frame import FailedFrame, Frame, SourceInfo


class FrameSource(Protocol):
    """Iterates over frames in capture order.

    ``iter_frames`` yields ``Frame`` for each decoded frame and ``FailedFrame`` for a frame that
    exists but could not be decoded; the pipeline counts the latter and goes on. A source opened
    on bad input raises ``UserInputError`` from its constructor, never later.
    """

    info: SourceInfo

    def iter_frames(self, start_index: int = 0) -> Iterator[Frame | FailedFrame]: ...

    def close(self) -> None: ...
