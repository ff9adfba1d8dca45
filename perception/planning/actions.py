"""The planner's action set and the ego's target speeds, shared by the runtime and the simulator side.

Actions are highway-env's ``DiscreteMetaAction`` in its order; FASTER / SLOWER step the ego through the
target speeds (``target_speeds_mps``), which a policy file records from its training config.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

ACTIONS = ("LANE_LEFT", "IDLE", "LANE_RIGHT", "FASTER", "SLOWER")  # highway-env DiscreteMetaAction order
LANE_LEFT, IDLE, LANE_RIGHT, FASTER, SLOWER = range(5)              # indices into ACTIONS
DEFAULT_TARGET_SPEEDS_MPS = (20.0, 25.0, 30.0)  # highway-env's DiscreteMetaAction default


def check_target_speeds(speeds_mps: Sequence[float]) -> tuple[float, ...]:
    """``speeds_mps`` as a tuple if it is a valid set of target speeds (at least two, positive, increasing,
    evenly spaced: highway-env maps a speed to the nearest index assuming even spacing); else ValueError."""
    s = tuple(float(v) for v in speeds_mps)
    if len(s) < 2 or s[0] <= 0 or any(b <= a for a, b in zip(s, s[1:])):
        raise ValueError(f"{list(s)} must be at least two positive, increasing speeds (m/s)")
    if not np.allclose(np.diff(s), s[1] - s[0], atol=1e-6):
        raise ValueError(f"{list(s)} must be evenly spaced")
    return s
