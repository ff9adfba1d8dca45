"""Accuracy hook for the benchmark: ``accuracy_fn(runner) -> {"camvid_val_miou": ..., "apollo_ap50": ...}``.

The evaluation code lives in ``perception.evaluation``. When that module exists and exposes
``evaluate_runner(runner) -> dict[str, float]`` (the runner carries ``model_config``: classes and
input size), the benchmark calls it once per backend/precision; otherwise the accuracy columns say
why they are empty. Nothing else here needs to change to plug it in.
"""

from __future__ import annotations

import importlib
import importlib.util
from typing import Any, Callable

from perception.errors import first_line

ACCURACY_MODULE = "perception.evaluation"
ACCURACY_FUNCTION = "evaluate_runner"
# metric key returned by the hook -> table column
ACCURACY_COLUMNS = {"camvid_val_miou": "CamVid mIoU", "apollo_ap50": "Apollo AP50"}

AccuracyFn = Callable[[Any], dict[str, float]]


def find_accuracy_fn() -> tuple[AccuracyFn | None, str]:
    """(the hook, "") when ``perception.evaluation.evaluate_runner`` exists, else (None, why not)."""
    if importlib.util.find_spec(ACCURACY_MODULE) is None:
        return None, f"n/a ({ACCURACY_MODULE} missing)"
    module = importlib.import_module(ACCURACY_MODULE)
    fn = getattr(module, ACCURACY_FUNCTION, None)
    if not callable(fn):
        return None, f"n/a ({ACCURACY_MODULE} has no {ACCURACY_FUNCTION})"
    return fn, ""


def accuracy_cells(fn: AccuracyFn | None, reason: str, runner: Any) -> dict[str, float | str]:
    """Column values for one runner: numbers from the hook, or the reason they are missing."""
    if fn is None:
        return {key: reason for key in ACCURACY_COLUMNS}
    try:
        metrics = fn(runner)
    except Exception as e:  # an evaluation failure must not hide the latency rows
        return {key: f"failed: {first_line(e, 80)}" for key in ACCURACY_COLUMNS}
    return {key: metrics.get(key, "n/a (not returned)") for key in ACCURACY_COLUMNS}
