"""Stage timing: percentiles within half a bin of numpy's, exact mean and count, memory that does not grow."""

from __future__ import annotations

import numpy as np

from perception.timing import BIN_RATIO, StageTimer


def test_percentiles_close_to_exact_and_memory_constant():
    rng = np.random.default_rng(0)
    times = rng.lognormal(mean=np.log(20.0), sigma=0.4, size=50_000)  # ms, like a stage with a tail
    timer = StageTimer()
    timer.add("inference", 5.0)
    size = timer._stages["inference"].counts.nbytes
    for t in times[1:]:
        timer.add("inference", float(t))
    times[0] = 5.0
    s = timer.summary()["inference"]
    for q in (50, 90, 99):
        exact = float(np.percentile(times, q))
        assert abs(s[f"p{q}"] / exact - 1) < (BIN_RATIO - 1), (q, s[f"p{q}"], exact)
    assert s["count"] == len(times) and abs(s["mean"] - times.mean()) < 1e-3
    assert timer._stages["inference"].counts.nbytes == size  # no per-sample storage
    assert "inference 2" in timer.one_line()


def test_a_single_sample_and_zero_times():
    timer = StageTimer()
    timer.add("draw", 3.25)
    timer.add("write", 0.0)
    s = timer.summary()
    assert s["draw"]["p50"] == s["draw"]["p99"] == 3.25  # clamped to the one value seen
    assert s["write"]["p50"] == 0.0 and s["write"]["count"] == 1
