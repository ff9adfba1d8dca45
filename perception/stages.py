"""Per-frame stages after postprocessing, run in a fixed order: distances -> tracking -> planning.

Each stage is a callable ``stage(result: FrameResult) -> None`` that fills fields of the result; a stage with
a ``summary()`` method contributes a block of summary.json under its name.
"""

from __future__ import annotations

from typing import Any, Callable

from perception.results import FrameResult


class FrameStages:
    """Runs named stages in order; ``summary()`` -> {name: stage.summary()} for stages that have one."""

    def __init__(self, stages: list[tuple[str, Callable[[FrameResult], None] | None]]) -> None:
        self.stages = [(name, stage) for name, stage in stages if stage is not None]

    def __call__(self, result: FrameResult) -> None:
        for _, stage in self.stages:
            stage(result)

    def reset(self) -> None:
        """Forget earlier frames: ``reset()`` of every stage that keeps state from frame to frame."""
        for _, stage in self.stages:
            if hasattr(stage, "reset"):
                stage.reset()

    def summary(self) -> dict[str, Any]:
        return {name: stage.summary() for name, stage in self.stages if hasattr(stage, "summary")}
