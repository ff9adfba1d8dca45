"""Per-stage wall-clock timing with percentiles for summary.json and the closing log line.

Memory stays constant however long a run is (a live camera may run for days): each stage keeps a histogram of
its times over logarithmic bins (each ``BIN_RATIO`` wider than the last, from ``MIN_MS`` to ``MAX_MS``), its
count, sum, minimum and maximum. Percentiles are read from the histogram, so they are within half a bin (0.5 %)
of the exact ones; the mean, count, minimum and maximum are exact. Per-frame times go to frames.jsonl instead.
"""

from __future__ import annotations

import math
import time
from contextlib import contextmanager
from typing import Iterator

import numpy as np

MIN_MS = 1e-3
MAX_MS = 1e7
BIN_RATIO = 1.01
_LOG_RATIO = math.log(BIN_RATIO)
N_BINS = int(math.ceil(math.log(MAX_MS / MIN_MS) / _LOG_RATIO)) + 1


class _Histogram:
    """Counts of one stage's times in logarithmic bins (bin 0 holds everything below MIN_MS)."""

    def __init__(self) -> None:
        self.counts = np.zeros(N_BINS + 1, np.int64)
        self.count = 0
        self.total_ms = 0.0
        self.min_ms = math.inf
        self.max_ms = -math.inf

    def add(self, ms: float) -> None:
        ms = max(0.0, float(ms))
        b = 0 if ms < MIN_MS else min(N_BINS, 1 + int(math.log(ms / MIN_MS) / _LOG_RATIO))
        self.counts[b] += 1
        self.count += 1
        self.total_ms += ms
        self.min_ms = min(self.min_ms, ms)
        self.max_ms = max(self.max_ms, ms)

    def percentile(self, q: float) -> float:
        """The q-th percentile (0-100): the geometric centre of the bin it falls in, within [min, max]."""
        rank = q / 100.0 * (self.count - 1)
        b = int(np.searchsorted(np.cumsum(self.counts), rank, side="right"))
        centre = 0.0 if b == 0 else MIN_MS * BIN_RATIO ** (b - 0.5)
        return min(max(centre, self.min_ms), self.max_ms)


class StageTimer:
    """Times per named stage, in milliseconds, in constant memory (see the module docstring)."""

    def __init__(self) -> None:
        self._stages: dict[str, _Histogram] = {}

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.add(name, (time.perf_counter() - t0) * 1000.0)

    def add(self, name: str, ms: float) -> None:
        hist = self._stages.get(name)
        if hist is None:
            hist = self._stages[name] = _Histogram()
        hist.add(ms)

    def summary(self) -> dict[str, dict[str, float]]:
        """{stage: {"p50": ms, "p90": ms, "p99": ms, "mean": ms, "count": n}}"""
        return {name: {"p50": round(h.percentile(50), 3), "p90": round(h.percentile(90), 3),
                       "p99": round(h.percentile(99), 3), "mean": round(h.total_ms / h.count, 3), "count": h.count}
                for name, h in self._stages.items() if h.count}

    def one_line(self) -> str:
        """'preprocess 1.2 ms | inference 10.3 ms | ...' (medians)."""
        return " | ".join(f"{name} {h.percentile(50):.1f} ms" for name, h in self._stages.items() if h.count)
