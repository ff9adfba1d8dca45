"""Per-stage wall-clock timing with percentiles for summary.json and the closing log line."""

from __future__ import annotations

import time
from collections import defaultdict
from contextlib import contextmanager
from typing import Iterator

import numpy as np


class StageTimer:
    """Collects milliseconds per named stage. Memory: one float per stage per frame."""

    def __init__(self) -> None:
        self.samples_ms: dict[str, list[float]] = defaultdict(list)

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.samples_ms[name].append((time.perf_counter() - t0) * 1000.0)

    def add(self, name: str, ms: float) -> None:
        self.samples_ms[name].append(ms)

    def summary(self) -> dict[str, dict[str, float]]:
        """{stage: {"p50": ms, "p90": ms, "p99": ms, "mean": ms, "count": n}}"""
        out = {}
        for name, values in self.samples_ms.items():
            v = np.asarray(values)
            out[name] = {"p50": round(float(np.percentile(v, 50)), 3), "p90": round(float(np.percentile(v, 90)), 3),
                         "p99": round(float(np.percentile(v, 99)), 3), "mean": round(float(v.mean()), 3),
                         "count": int(v.size)}
        return out

    def one_line(self) -> str:
        """'preprocess 1.2 ms | inference 10.3 ms | ...' (medians)."""
        return " | ".join(f"{k} {np.median(v):.1f} ms" for k, v in self.samples_ms.items() if v)
