"""A privileged look-ahead planner for the simulator only: it sees the future by copying the simulator.

At a decision it deep-copies the highway-env environment (every other driver included, so the copy shows exactly
what they will do), plays each of the five meta-actions followed by ``horizon - 1`` IDLE steps (``depth`` 2: by
the best of the five next actions, then IDLE), and scores the
roll-out: the simulator's reward discounted by :data:`DISCOUNT` per step, a collision costs
:data:`CRASH_COST` and ends the roll-out (``score="speed"``: the ego's speed in m/s instead of the reward, a
collision 1000). It cannot drive a real car (no simulator to copy there); it is used

* by ``benchmarks/planner_ceiling.py``, to measure what the traffic allows, and
* by ``perception.planning.sim.distill``, as the teacher whose action scores a Q-network learns to predict from the
  Kinematics observation alone.
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np

from perception.planning.actions import FASTER, IDLE, LANE_LEFT, LANE_RIGHT, SLOWER

__all__ = ["ACTION_ORDER", "DISCOUNT", "CRASH_COST", "rollout_score", "action_scores", "best_action",
           "episode_summary"]

ACTION_ORDER = (FASTER, IDLE, LANE_LEFT, LANE_RIGHT, SLOWER)  # tie-break order of best_action
DISCOUNT = 0.9  # per decision (1 s in highway-fast-v0)
CRASH_COST = 10.0  # returns lost by a collision (score "reward"); 1000 m/s with score "speed"


def rollout_score(env_unwrapped: Any, first_action: int, horizon: int, score: str = "reward", depth: int = 1,
                  crash_cost: float | None = None) -> float:
    """Discounted score of ``first_action`` then IDLE for ``horizon`` decisions, on a deep copy of the simulator.

    With ``depth`` > 1 the continuation is searched too: after ``first_action``, the best of the five actions
    (each again scored with ``depth - 1`` and one decision less), instead of IDLE. Depth 2 costs about five
    times depth 1. ``crash_cost`` replaces the cost of a collision (default :data:`CRASH_COST`, or 1000 m/s with
    ``score="speed"``); a collision inside the searched continuation is discounted with it, one step's worth.
    """
    sim = copy.deepcopy(env_unwrapped)
    crash = crash_cost if crash_cost is not None else (1000.0 if score == "speed" else CRASH_COST)
    if depth > 1:
        _, reward, terminated, truncated, info = sim.step(first_action)
        if info.get("crashed"):
            return -crash
        total = float(info["speed"]) if score == "speed" else float(reward)
        if terminated or truncated or horizon <= 1:
            return total
        return total + DISCOUNT * max(rollout_score(sim, a, horizon - 1, score, depth - 1, crash) for a in range(5))
    total = 0.0
    for k in range(horizon):
        _, reward, terminated, truncated, info = sim.step(first_action if k == 0 else IDLE)
        if info.get("crashed"):
            return total - crash
        total += (float(info["speed"]) if score == "speed" else float(reward)) * DISCOUNT ** k
        if terminated or truncated:
            break
    return total


def action_scores(env_unwrapped: Any, horizon: int, score: str = "reward", depth: int = 1,
                  crash_cost: float | None = None) -> np.ndarray:
    """float32[5]: the roll-out score of each action, indexed like ``perception.planning.policy.ACTIONS``."""
    out = np.zeros(5, dtype=np.float32)
    for action in range(5):
        out[action] = rollout_score(env_unwrapped, action, horizon, score, depth, crash_cost)
    return out


def best_action(scores: np.ndarray) -> int:
    """The best-scoring action; ties go FASTER, IDLE, LANE_LEFT, LANE_RIGHT, SLOWER."""
    ordered = [float(scores[a]) for a in ACTION_ORDER]
    return ACTION_ORDER[int(np.argmax(ordered))]


def episode_summary(episodes: list[dict]) -> dict[str, float]:
    """Crash rate, mean speed over all steps (m/s) and mean return of episode records
    ``{"return", "steps", "mean_speed_mps", "crashed", ...}`` (what the look-ahead benchmark and the distillation
    write per episode)."""
    steps = sum(e["steps"] for e in episodes)
    return {"episodes": len(episodes), "crash_rate": float(np.mean([e["crashed"] for e in episodes])),
            "mean_speed_mps": sum(e["mean_speed_mps"] * e["steps"] for e in episodes) / steps,
            "mean_return": float(np.mean([e["return"] for e in episodes]))}
