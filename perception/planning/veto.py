"""A rule-based safety check that can override the policy's action.

It reads the same Kinematics observation as the policy (decoded to metres, simulator axes: x ahead,
y right), so it works identically in the simulator and on video. Rules, in order:

1. lane change into an occupied gap: a vehicle in the target lane (lateral offset 2..6 m to that side)
   from ``rear_gap_m`` behind to ``front_gap_m`` ahead, or closing on the ego with time-to-collision below
   ``ttc_min_s`` -> keep the lane (IDLE, or SLOWER if rule 2 also fires);
2. keeping or raising speed with a vehicle ahead in the ego lane (|lateral offset| < 2 m) closer than
   ``min_gap_m`` + ``headway_s`` x ego speed, or with time-to-collision below ``ttc_min_s`` -> SLOWER;
   when the ego already drives at the simulator's lowest target speed (``min_speed_mps``; SLOWER cannot
   brake further), a slower vehicle ahead within ``escape_ttc_s`` also counts as danger, and the ego moves to a
   neighbour lane that passes rule 1 and has no danger ahead when there is one.

Gaps are bumper to bumper (centre distance minus one 5 m vehicle length).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from perception.planning.observation import VEHICLE_LENGTH_M, KinematicsObservation, VehicleState
from perception.planning.policy import ACTIONS

LANE_LEFT, IDLE, LANE_RIGHT, FASTER, SLOWER = range(5)


@dataclass(frozen=True)
class VetoDecision:
    """The action to execute, whether the policy's choice was overridden, and why (empty when not)."""

    action: int
    vetoed: bool
    reason: str

    def to_json(self, policy_action: int) -> dict:
        return {"action": ACTIONS[self.action], "policy_action": ACTIONS[policy_action], "vetoed": self.vetoed,
                "reason": self.reason or "policy"}


@dataclass(frozen=True)
class SafetyVeto:
    """Thresholds of the rules above."""

    ttc_min_s: float = 3.0       # time-to-collision below which closing in is unsafe (s)
    min_gap_m: float = 8.0       # standstill bumper gap to keep to the vehicle ahead (m)
    headway_s: float = 0.6       # extra gap per m/s of ego speed (s)
    front_gap_m: float = 12.0    # target-lane gap needed ahead for a lane change (m, bumper to bumper)
    rear_gap_m: float = 8.0      # ... and behind (m)
    min_speed_mps: float = 20.0  # lowest target speed of the simulator's SLOWER action (m/s)
    escape_ttc_s: float = 8.0    # at minimum speed, look for a free lane when TTC ahead is below this (s)
    lanes_count: int = 3         # lanes of the road (a lane change off the road is never an escape)

    def check(self, obs: np.ndarray, action: int, contract: KinematicsObservation | None = None) -> VetoDecision:
        contract = contract or KinematicsObservation()
        ego, others = contract.decode(obs)
        at_min_speed = ego.vx_mps <= self.min_speed_mps + 1.0
        danger_ahead = self._ahead_danger(ego, others, lateral=0.0,
                                          ttc_s=self.escape_ttc_s if at_min_speed else self.ttc_min_s)
        if action in (LANE_LEFT, LANE_RIGHT):
            side = -1.0 if action == LANE_LEFT else 1.0
            blocked = self._lane_change_blocked(ego, others, side)
            if blocked:
                name = "left" if action == LANE_LEFT else "right"
                return VetoDecision(SLOWER if danger_ahead else IDLE, True, f"lane change {name} vetoed: {blocked}")
        if action in (IDLE, FASTER, SLOWER) and danger_ahead:
            if at_min_speed:
                escape = self._escape(ego, others)
                if escape is not None:
                    if escape == action:
                        return VetoDecision(action, False, "")
                    name = "left" if escape == LANE_LEFT else "right"
                    return VetoDecision(escape, True, f"{danger_ahead}; at minimum speed: lane change {name}")
            if action != SLOWER:
                return VetoDecision(SLOWER, True, danger_ahead)
        return VetoDecision(action, False, "")

    def _escape(self, ego: VehicleState, others: list[VehicleState]) -> int | None:
        """A free neighbour lane (LANE_LEFT / LANE_RIGHT) without danger ahead, or None."""
        lane = int(round(ego.y_m / 4.0))
        for action, side in ((LANE_LEFT, -1.0), (LANE_RIGHT, 1.0)):
            if not 0 <= lane + int(side) < self.lanes_count:
                continue
            if not self._lane_change_blocked(ego, others, side) and not self._ahead_danger(ego, others, 4.0 * side):
                return action
        return None

    def _ahead_danger(self, ego: VehicleState, others: list[VehicleState], lateral: float,
                      ttc_s: float | None = None) -> str:
        ttc_s = self.ttc_min_s if ttc_s is None else ttc_s
        ahead = [v for v in others if v.x_m > 0 and abs(v.y_m - lateral) < 2.0]  # lateral: lane centre offset (m)
        if not ahead:
            return ""
        v = min(ahead, key=lambda v: v.x_m)
        gap = v.x_m - VEHICLE_LENGTH_M
        need = self.min_gap_m + self.headway_s * max(ego.vx_mps, 0.0)
        closing = -v.vx_mps
        if closing > 0 and gap / closing < ttc_s:
            return f"time-to-collision {gap / closing:.1f} s to the vehicle {gap:.0f} m ahead"
        if gap < need:
            return f"gap {gap:.0f} m to the vehicle ahead is below {need:.0f} m"
        return ""

    def _lane_change_blocked(self, ego: VehicleState, others: list[VehicleState], side: float) -> str:
        for v in others:
            dy = v.y_m * side
            if not 2.0 < dy < 6.0:
                continue
            gap_front = v.x_m - VEHICLE_LENGTH_M
            gap_rear = -v.x_m - VEHICLE_LENGTH_M
            if (v.x_m >= 0 and gap_front < self.front_gap_m) or (v.x_m < 0 and gap_rear < self.rear_gap_m):
                return f"vehicle in the target lane at {v.x_m:+.0f} m"
            if v.x_m > 0 and v.vx_mps < 0 and gap_front / -v.vx_mps < self.ttc_min_s:
                return f"time-to-collision {gap_front / -v.vx_mps:.1f} s in the target lane"
        return ""
