"""The planning stage of the pipeline: tracks + lanes -> observation -> policy -> safety veto -> ``plan``.

Per frame it builds the :class:`KinematicsObservation` from the tracked vehicles that have a road position
(``ground_xy_m``; velocity relative to the ego, 0 until the track has one), the ego lane implied by the lane
stage and the ego speed: the input's measured speed (``result.ego_speed_mps``, from a log's odometry), else the
lane stage's estimate from the motion of dashed markings (``result.ego["lane_flow_speed_mps"]``, when it has a
trusted one), else the assumed one; and writes ``result.plan``::

    {"action": "FASTER", "policy_action": "FASTER", "vetoed": false, "reason": "policy",
     "vehicles_observed": 2, "ego_lane_index": 1, "ego_speed_mps": 23.4, "ego_speed_from": "log"}
"""

from __future__ import annotations

from typing import Any

from perception.planning.observation import KinematicsObservation
from perception.planning.policy import Policy
from perception.planning.veto import SafetyVeto, VetoDecision
from perception.results import FrameResult

VEHICLE_LABELS = ("car", "truck", "bus", "motorcyclist")  # detections the simulator would model as vehicles
DEFAULT_EGO_SPEED_MPS = 25.0  # assumed ego speed on video (no vehicle bus); highway-env's initial speed


class PlanningStage:
    """Callable per frame after tracking: ``stage(result)`` sets ``result.plan``. ``veto="policy"`` (the default)
    is the safety veto for the policy's own target speeds, with the fixed headway (observations from video
    carry perception errors; the braking check is for the simulator's exact state); None turns the veto off.
    ``lane_flow_speed``: use the lane stage's speed from marking flow where the input has no measured speed."""

    def __init__(self, policy: Policy, *, veto: SafetyVeto | None | str = "policy",
                 ego_speed_mps: float = DEFAULT_EGO_SPEED_MPS, lane_flow_speed: bool = True,
                 contract: KinematicsObservation = KinematicsObservation()) -> None:
        if veto == "policy":
            veto = SafetyVeto.for_target_speeds(policy.target_speeds_mps)
        self.policy, self.veto, self.contract = policy, veto, contract
        self.ego_speed_mps = ego_speed_mps
        self.lane_flow_speed = lane_flow_speed
        self.counts: dict[str, int] = {}
        self.vetoes = 0
        self.frames = 0
        self.speed_frames = {"log": 0, "lane_flow": 0, "assumed": 0}  # frames planned with each kind of ego speed

    def ego_lane_index(self, result: FrameResult) -> int:
        """Lane index (0 = leftmost of ``lanes_count``) from the neighbour lines the lane stage saw."""
        sides = {lane.side for lane in result.lanes}
        n = self.contract.lanes_count
        if "left_left" in sides and "right_right" not in sides:
            return n - 1
        if "right_right" in sides and "left_left" not in sides:
            return 0
        return n // 2

    def __call__(self, result: FrameResult) -> None:
        tracks = [(d.ground_xy_m[0], d.ground_xy_m[1], *(d.velocity_xy_mps or (0.0, 0.0)))
                  for d in result.detections
                  if d.track_id is not None and d.ground_xy_m is not None and d.label in VEHICLE_LABELS]
        lane = self.ego_lane_index(result)
        speed, speed_from = self.ego_speed(result)
        obs = self.contract.from_road_tracks(tracks, ego_speed_mps=speed, ego_lane_index=lane)
        action = self.policy.act(obs)
        decision = self.veto.check(obs, action, self.contract) if self.veto is not None \
            else VetoDecision(action, False, "")
        plan = decision.to_json(action)
        plan["vehicles_observed"] = int(round(float(obs[1:, 0].sum())))
        plan["ego_lane_index"] = lane
        plan["ego_speed_mps"] = round(speed, 3)
        plan["ego_speed_from"] = speed_from
        result.plan = plan
        self.speed_frames[speed_from] += 1
        self.frames += 1
        self.vetoes += plan["vetoed"]
        self.counts[plan["action"]] = self.counts.get(plan["action"], 0) + 1

    def ego_speed(self, result: FrameResult) -> tuple[float, str]:
        """(ego speed m/s, where from: "log", "lane_flow" or "assumed") for this frame."""
        if result.ego_speed_mps is not None:
            return float(result.ego_speed_mps), "log"
        flow = (result.ego or {}).get("lane_flow_speed_mps") if self.lane_flow_speed else None
        if flow is not None:
            return float(flow), "lane_flow"
        return self.ego_speed_mps, "assumed"

    def summary(self) -> dict[str, Any]:
        return {"policy": self.policy.path, "policy_sha256": self.policy.sha256, "veto": self.veto is not None,
                "ego_speed_mps_assumed": self.ego_speed_mps, "ego_speed_frames": dict(self.speed_frames),
                "frames": self.frames, "vetoed_frames": self.vetoes,
                "actions": dict(sorted(self.counts.items()))}
