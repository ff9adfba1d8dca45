"""A rule-based safety check that can override the policy's action, and says why.

It reads the same Kinematics observation as the policy (decoded to metres, simulator axes: x ahead, y right), so
it works identically in the simulator and on video. Lanes are indexed from the ego row's road ``y`` (centres every
4 m); a vehicle is *in a lane* when its road ``y`` now, ``cut_in_s`` ahead or anywhere between is within 2 m of
that lane's centre; during its own lane change the ego occupies both lanes and never reverses. Gaps are bumper to
bumper (centre distance minus one 5 m vehicle length). Rules, in order:

1. a lane change off the road is judged as IDLE;
2. a lane change into an occupied gap (a vehicle in the target lane within ``front_gap_m`` ahead, or
   ``front_gap_opening_m`` when it is faster than the ego, or ``rear_gap_m`` behind, or closing with
   time-to-collision below ``ttc_min_s``) -> keep the lane (IDLE, or SLOWER if rule 4 fires);
3. a *trap* (the vehicle ahead slower than ``min_speed_mps``, reached within ``escape_ttc_s``) -> a free
   neighbour lane (a short gap that opens is accepted) when one exists, else SLOWER;
4. keeping or raising speed closer than ``min_gap_m`` + ``headway_s`` x ego speed to the vehicle ahead, or with
   time-to-collision below ``ttc_min_s`` -> SLOWER (or a free neighbour lane at minimum speed). With
   ``braking_margin_m`` set, rule 4 is a *braking check* instead (:func:`braking_gaps_m`): the judged action for
   one decision period, then SLOWER every period, behind a lead holding its speed; unsafe when the gap would fall
   below ``braking_margin_m`` within ``braking_horizon_s``.

``SafetyVeto.for_target_speeds(..., exact_observations=)`` picks the fixed headway (margins against perception
errors: video and noisy observations) or the braking check (exact simulator state). Given ``previous_obs`` (one
``period_s`` earlier), vehicles seen then but now missing within ``hold_match_m`` of their prediction, although
still in view, are held for this decision; on video the tracker's hold does that job, so the pipeline does not
pass it. Measurements behind these choices: docs/models/planner_dqn.md and docs/history.md, "Planner".
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from perception.planning.actions import ACTIONS, FASTER, IDLE, LANE_LEFT, LANE_RIGHT, SLOWER
from perception.planning.observation import LANE_WIDTH_M, VEHICLE_LENGTH_M, KinematicsObservation, VehicleState

EXACT_BRAKING_MARGIN_M = 4.0  # the braking check's gap on exact observations (chosen on development seeds)
TAU_SPEED_S = 0.6  # highway-env's speed controller: acceleration = (target speed - speed) / TAU_SPEED_S


def nearest_target_speed_mps(speed_mps: float, speeds_mps: tuple[float, float, float]) -> float:
    """The target speed nearest ``speed_mps`` (highway-env's ``MDPVehicle.speed_to_index``); ``speeds_mps`` =
    (lowest, step, highest)."""
    lo, step, hi = speeds_mps
    return float(np.clip(lo + round((speed_mps - lo) / step) * step, lo, hi))


def braking_gaps_m(gap_m: float, ego_speed_mps: float, lead_speed_mps: float, first_target_mps: float,
                   speeds_mps: tuple[float, float, float], horizon_s: float = 5.0, period_s: float = 1.0,
                   dt_s: float = 0.1) -> np.ndarray:
    """Bumper gaps (m), float[horizon_s / dt_s + 1] at t = 0, dt_s, ..., horizon_s, when the ego drives toward
    ``first_target_mps`` for one decision period ``period_s`` and then chooses SLOWER every period (one speed
    step below the speed nearest its own, as highway-env's ``MDPVehicle`` does), behind a lead holding
    ``lead_speed_mps``. Speeds follow highway-env's first-order controller (time constant ``TAU_SPEED_S``),
    integrated every ``dt_s``. ``speeds_mps`` = (lowest, step, highest) target speed."""
    lo, step = speeds_mps[0], speeds_mps[1]
    speed, target = ego_speed_mps, first_target_mps
    steps_per_period = max(int(round(period_s / dt_s)), 1)
    gaps = [gap_m]
    for i in range(int(round(horizon_s / dt_s))):
        if i and i % steps_per_period == 0:
            target = max(nearest_target_speed_mps(speed, speeds_mps) - step, lo)
        new_speed = speed + (target - speed) / TAU_SPEED_S * dt_s
        gaps.append(gaps[-1] + (lead_speed_mps - 0.5 * (speed + new_speed)) * dt_s)
        speed = new_speed
    return np.asarray(gaps)


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
    front_gap_m: float = 12.0    # target-lane gap needed ahead for a lane change (m, bumper to bumper) ...
    front_gap_opening_m: float = 6.0  # ... or this much when that vehicle drives faster than the ego (m)
    rear_gap_m: float = 8.0      # ... and behind (m)
    min_speed_mps: float = 20.0  # lowest target speed of the simulator's SLOWER action (m/s)
    escape_ttc_s: float = 8.0    # a vehicle slower than min_speed_mps reached within this is a trap (s)
    cut_in_s: float = 1.0        # lateral prediction horizon for cut-ins (s)
    speed_step_mps: float = 5.0  # target-speed change of one FASTER (m/s)
    lanes_count: int = 3         # lanes of the road
    hold_match_m: tuple[float, float] = (5.0, 2.0)  # (longitudinal, lateral) distance within which a vehicle
    #   seen now counts as the predicted position of one seen in the previous observation (m)
    braking_margin_m: float | None = None  # rule 4 as the braking check, keeping this bumper gap (m); None: the
    #   fixed headway and time-to-collision
    braking_horizon_s: float = 5.0  # how far the braking check looks ahead (s)
    max_speed_mps: float = 30.0  # highest target speed of FASTER (m/s), for the braking check

    @property
    def kind(self) -> str:
        """'headway' (rule 4 with the fixed headway) or 'braking' (the braking check)."""
        return "headway" if self.braking_margin_m is None else "braking"

    @classmethod
    def for_target_speeds(cls, target_speeds_mps: tuple[float, ...], *, exact_observations: bool = False,
                          **thresholds: float) -> SafetyVeto:
        """The veto for an ego whose FASTER / SLOWER step through ``target_speeds_mps`` (evenly spaced): its
        lowest and highest speed and speed step come from them. ``exact_observations`` (the simulator's true
        state, no perception errors): rule 4 is the braking check with ``EXACT_BRAKING_MARGIN_M``."""
        if exact_observations:
            thresholds = {"braking_margin_m": EXACT_BRAKING_MARGIN_M, **thresholds}
        return cls(min_speed_mps=float(target_speeds_mps[0]), max_speed_mps=float(target_speeds_mps[-1]),
                   speed_step_mps=float(target_speeds_mps[1] - target_speeds_mps[0]), **thresholds)

    def check(self, obs: np.ndarray, action: int, contract: KinematicsObservation | None = None,
              previous_obs: np.ndarray | None = None, period_s: float = 1.0) -> VetoDecision:
        """The decision for ``action`` (index into ACTIONS) given ``obs`` (float32[vehicles_count, 5]); with
        ``previous_obs`` (the observation ``period_s`` earlier) vehicles missing now are held (module docstring)."""
        contract = contract or KinematicsObservation()
        ego, others = contract.decode(obs)
        if previous_obs is not None:
            others = others + self.held_vehicles(ego, others, *contract.decode(previous_obs), period_s,
                                                 full=len(others) >= contract.vehicles_count - 1)
        lane = int(round(ego.y_m / LANE_WIDTH_M))
        judged = action
        if action in (LANE_LEFT, LANE_RIGHT) and not 0 <= lane + (1 if action == LANE_RIGHT else -1) < self.lanes_count:
            judged = IDLE  # rule 1
        # FASTER raises the target speed by one step (5 m/s) for the next decision period: judge it at that speed.
        boost = self.speed_step_mps if judged == FASTER else 0.0
        danger = self._danger(ego, others, self._ego_lanes(ego), boost_mps=boost)
        trap = self._trap(ego, others, boost_mps=boost)
        if judged in (LANE_LEFT, LANE_RIGHT):
            target = lane + (-1 if judged == LANE_LEFT else 1)
            blocked = self._lane_change_blocked(ego, others, target)
            if not blocked:
                return VetoDecision(action, False, "")
            name = "left" if judged == LANE_LEFT else "right"
            escape = self._escape(ego, others) if trap else None
            if escape is not None:
                return VetoDecision(escape, True, f"lane change {name} vetoed: {blocked}; {trap}: other side free")
            return VetoDecision(SLOWER if danger or trap else IDLE, True, f"lane change {name} vetoed: {blocked}")
        if trap or (danger and ego.vx_mps <= self.min_speed_mps + 1.0):
            escape = self._escape(ego, others)
            if escape is not None:
                name = "left" if escape == LANE_LEFT else "right"
                return VetoDecision(escape, True, f"{trap or danger}: lane change {name}")
        if (danger or trap) and judged != SLOWER:
            return VetoDecision(SLOWER, True, danger or trap)
        return VetoDecision(action, False, "")

    def held_vehicles(self, ego: VehicleState, others: list[VehicleState], prev_ego: VehicleState,
                      prev_others: list[VehicleState], period_s: float, full: bool) -> list[VehicleState]:
        """Vehicles of the previous observation, predicted ``period_s`` on and expressed relative to the ego now,
        that match no vehicle seen now but should be in view: not more than 10 m behind, and nearer than the
        farthest vehicle seen now when the observation is ``full`` (else it may just have been crowded out)."""
        ego_dx = 0.5 * (prev_ego.vx_mps + ego.vx_mps) * period_s  # ego's forward travel, m
        farthest = max((abs(v.x_m) for v in others), default=0.0) if full else np.inf
        dx_tol, dy_tol = self.hold_match_m
        held = []
        for v in prev_others:
            vx_abs, vy_abs = v.vx_mps + prev_ego.vx_mps, v.vy_mps + prev_ego.vy_mps  # its own velocity
            p = VehicleState(x_m=v.x_m + vx_abs * period_s - ego_dx,
                             y_m=prev_ego.y_m + v.y_m + vy_abs * period_s - ego.y_m,
                             vx_mps=vx_abs - ego.vx_mps, vy_mps=vy_abs - ego.vy_mps)
            if p.x_m <= -2.0 * VEHICLE_LENGTH_M or abs(p.x_m) >= farthest:
                continue
            if not any(abs(o.x_m - p.x_m) < dx_tol and abs(o.y_m - p.y_m) < dy_tol for o in others):
                held.append(p)
        return held

    def _ego_lanes(self, ego: VehicleState) -> tuple[int, ...]:
        """Lanes the ego occupies: one, or the two it straddles during a lane change."""
        pos = ego.y_m / LANE_WIDTH_M
        near = int(round(pos))
        if abs(pos - near) < 0.15:
            return (near,)
        return (int(np.floor(pos)), int(np.floor(pos)) + 1)

    def _in_lane(self, ego: VehicleState, v: VehicleState, lane: int) -> bool:
        """Whether ``v`` is, will be within ``cut_in_s``, or passes on the way, within 2 m of lane ``lane``'s
        centre (its lateral position extrapolated linearly)."""
        centre = lane * LANE_WIDTH_M - ego.y_m  # relative to the ego, m
        # the lateral path from now to the prediction: a vehicle sweeping across a lane occupies it on the way
        y0, y1 = sorted((v.y_m, v.y_m + v.vy_mps * self.cut_in_s))
        return y0 - 2.0 < centre < y1 + 2.0

    def _lead(self, ego: VehicleState, others: list[VehicleState], lanes: tuple[int, ...]) -> VehicleState | None:
        ahead = [v for v in others if v.x_m > 0 and any(self._in_lane(ego, v, lane) for lane in lanes)]
        return min(ahead, key=lambda v: v.x_m) if ahead else None

    def _danger(self, ego: VehicleState, others: list[VehicleState], lanes: tuple[int, ...],
                boost_mps: float = 0.0, headway: bool = True) -> str:
        """Why driving on in ``lanes`` at this speed (plus ``boost_mps``) is unsafe, or ''. Without ``headway``
        only a closing vehicle (time-to-collision) counts, not a short but opening gap."""
        v = self._lead(ego, others, lanes)
        if v is None:
            return ""
        gap = v.x_m - VEHICLE_LENGTH_M
        if self.braking_margin_m is not None:  # the braking check; judges opening gaps by itself
            speeds = (self.min_speed_mps, self.speed_step_mps, self.max_speed_mps)
            first = min(nearest_target_speed_mps(ego.vx_mps, speeds) + boost_mps, self.max_speed_mps)
            smallest = float(braking_gaps_m(gap, ego.vx_mps, ego.vx_mps + v.vx_mps, first, speeds,
                                            self.braking_horizon_s).min())
            if smallest < self.braking_margin_m:
                return f"braking check: the gap to the vehicle {gap:.0f} m ahead would fall to {smallest:.0f} m"
            return ""
        need = self.min_gap_m + self.headway_s * max(ego.vx_mps + boost_mps, 0.0)
        closing = -v.vx_mps + boost_mps
        if closing > 0 and gap / closing < self.ttc_min_s:
            return f"time-to-collision {gap / max(closing, 1e-6):.1f} s to the vehicle {gap:.0f} m ahead"
        if gap < need and (headway or closing > 0):
            return f"gap {gap:.0f} m to the vehicle ahead is below {need:.0f} m"
        return ""

    def _trap(self, ego: VehicleState, others: list[VehicleState], boost_mps: float = 0.0) -> str:
        """'' unless the vehicle ahead is slower than the lowest speed the ego can drive and close (reached
        within ``escape_ttc_s`` at the present closing speed plus ``boost_mps``, or at the lowest speed)."""
        v = self._lead(ego, others, self._ego_lanes(ego))
        if v is None:
            return ""
        lead_speed = ego.vx_mps + v.vx_mps
        if lead_speed >= self.min_speed_mps - 0.5:
            return ""
        gap = v.x_m - VEHICLE_LENGTH_M
        closing = max(self.min_speed_mps - lead_speed, -v.vx_mps + boost_mps)
        if gap / closing < self.escape_ttc_s:
            return f"vehicle {gap:.0f} m ahead at {lead_speed:.0f} m/s, below the lowest speed"
        return ""

    def _escape(self, ego: VehicleState, others: list[VehicleState]) -> int | None:
        """A free neighbour lane (LANE_LEFT / LANE_RIGHT) without danger or a slow vehicle ahead, or None.
        Never while the ego is between two lanes (a reversal mid-change is what collides)."""
        lanes = self._ego_lanes(ego)
        if len(lanes) > 1:
            return None
        for action, target in ((LANE_LEFT, lanes[0] - 1), (LANE_RIGHT, lanes[0] + 1)):
            if not 0 <= target < self.lanes_count:
                continue
            # a short gap that opens beats staying behind a vehicle we cannot slow down to: headway not required
            if self._lane_change_blocked(ego, others, target) or self._danger(ego, others, (target,), headway=False):
                continue
            lead = self._lead(ego, others, (target,))
            if lead is not None and ego.vx_mps + lead.vx_mps < self.min_speed_mps - 0.5:
                continue
            return action
        return None

    def _lane_change_blocked(self, ego: VehicleState, others: list[VehicleState], target: int) -> str:
        for v in others:
            if not self._in_lane(ego, v, target):
                continue
            gap_front = v.x_m - VEHICLE_LENGTH_M
            gap_rear = -v.x_m - VEHICLE_LENGTH_M
            need_front = self.front_gap_opening_m if v.vx_mps > 0 else self.front_gap_m
            if (v.x_m >= 0 and gap_front < need_front) or (v.x_m < 0 and gap_rear < self.rear_gap_m):
                return f"vehicle in the target lane at {v.x_m:+.0f} m"
            if v.x_m > 0 and v.vx_mps < 0 and gap_front / -v.vx_mps < self.ttc_min_s:
                return f"time-to-collision {gap_front / -v.vx_mps:.1f} s in the target lane"
        return ""
