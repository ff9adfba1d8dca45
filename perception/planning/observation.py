"""The observation contract between perception (or the simulator) and the planner.

The layout is highway-env's ``Kinematics`` observation with its defaults, so a policy trained in the
simulator reads perception's output unchanged:

* an array float32[vehicles_count, 5]; columns ``presence, x, y, vx, vy``;
* row 0 is the ego vehicle in *road* coordinates: ``x`` along the road, ``y`` across it (lane centres at
  ``y = lane_index * 4 m``, lane 0 the leftmost), ``vx``/``vy`` its velocity;
* rows 1.. are the nearest other vehicles (sorted by |longitudinal gap|, none more than 10 m behind the ego,
  none farther than 200 m) *relative to the ego*: ``x`` ahead (+) / behind (-), ``y`` to the RIGHT (+),
  ``vx``/``vy`` relative velocity; rows without a vehicle are all zeros;
* every column is mapped linearly to [-1, 1] from its range and clipped: ``x`` ±200 m, ``y`` ±4 m × lanes,
  ``vx``/``vy`` ±80 m/s (highway-env: 5 and 2 times ``Vehicle.MAX_SPEED`` = 40 m/s).

Frames: the simulator's ``y`` axis points right, the calibration road frame's ``y`` points LEFT
(``calibration/__init__.py``); :meth:`KinematicsObservation.from_road_tracks` flips the sign.

On video the ego's own road position is not observed. The ego row then uses ``x = 200 m`` (the value the
simulator's normalised ego ``x`` saturates at after the first seconds of every episode), the lane index the
lane stage implies (neighbour lines seen on the left / right), and an assumed speed (no CAN bus in a video).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

MAX_SPEED_MPS = 40.0           # highway-env Vehicle.MAX_SPEED
LANE_WIDTH_M = 4.0             # highway-env AbstractLane.DEFAULT_WIDTH
PERCEPTION_DISTANCE_M = 200.0  # highway-env AbstractEnv.PERCEPTION_DISTANCE (5 x MAX_SPEED)
VEHICLE_LENGTH_M = 5.0         # highway-env Vehicle.LENGTH; vehicles > 2 lengths behind are not observed
FEATURES = ("presence", "x", "y", "vx", "vy")


@dataclass(frozen=True)
class VehicleState:
    """A vehicle on a straight road, simulator axes: x forward (m), y right (m), vx/vy (m/s).

    For the ego these are absolute road coordinates; for the others, relative to the ego.
    """

    x_m: float
    y_m: float
    vx_mps: float
    vy_mps: float


@dataclass(frozen=True)
class KinematicsObservation:
    """highway-env's Kinematics observation (defaults: 5 rows, relative, sorted, normalised, clipped)."""

    vehicles_count: int = 5    # ego + 4 nearest vehicles
    lanes_count: int = 3       # lanes of the road; sets the y range (±4 m x lanes_count)

    @property
    def ranges(self) -> dict[str, tuple[float, float]]:
        """Column -> (min, max) in metres or m/s, mapped to [-1, 1]."""
        y_max = LANE_WIDTH_M * self.lanes_count
        return {"x": (-5.0 * MAX_SPEED_MPS, 5.0 * MAX_SPEED_MPS), "y": (-y_max, y_max),
                "vx": (-2.0 * MAX_SPEED_MPS, 2.0 * MAX_SPEED_MPS), "vy": (-2.0 * MAX_SPEED_MPS, 2.0 * MAX_SPEED_MPS)}

    def observe(self, ego: VehicleState, others: Sequence[VehicleState]) -> np.ndarray:
        """float32[vehicles_count, 5] from the ego (absolute) and the others (relative, nearest first)."""
        rows = [ego, *self.select(others)][: self.vehicles_count]
        obs = np.zeros((self.vehicles_count, len(FEATURES)), dtype=np.float64)
        lo = np.array([r[0] for r in self.ranges.values()])
        hi = np.array([r[1] for r in self.ranges.values()])
        for i, v in enumerate(rows):
            raw = np.array([v.x_m, v.y_m, v.vx_mps, v.vy_mps])
            obs[i, 0] = 1.0
            obs[i, 1:] = np.clip(-1.0 + 2.0 * (raw - lo) / (hi - lo), -1.0, 1.0)
        return obs.astype(np.float32)

    def select(self, others: Sequence[VehicleState]) -> list[VehicleState]:
        """The vehicles the simulator would show: within 200 m, not more than 10 m behind, nearest
        (by |x|) first, at most ``vehicles_count - 1``."""
        seen = [v for v in others if np.hypot(v.x_m, v.y_m) < PERCEPTION_DISTANCE_M
                and v.x_m > -2.0 * VEHICLE_LENGTH_M]
        return sorted(seen, key=lambda v: abs(v.x_m))[: self.vehicles_count - 1]

    def decode(self, obs: np.ndarray) -> tuple[VehicleState, list[VehicleState]]:
        """Inverse of :meth:`observe` (up to clipping): (ego, others) in metres and m/s."""
        obs = np.asarray(obs, dtype=np.float64).reshape(self.vehicles_count, len(FEATURES))
        lo = np.array([r[0] for r in self.ranges.values()])
        hi = np.array([r[1] for r in self.ranges.values()])
        states = [VehicleState(*(lo + (row[1:] + 1.0) * (hi - lo) / 2.0)) for row in obs if row[0] > 0.5]
        if not states:
            raise ValueError("observation has no ego row")
        return states[0], states[1:]

    def states_from_simulator(self, env: Any) -> tuple[VehicleState, list[VehicleState]]:
        """(ego, others) read from a highway-env environment's road, the way its Kinematics observation does."""
        base = env.unwrapped
        ego = base.observation_type.observer_vehicle if hasattr(base.observation_type, "observer_vehicle") \
            else base.vehicle
        near = base.road.close_objects_to(ego, PERCEPTION_DISTANCE_M, count=self.vehicles_count - 1,
                                          see_behind=False, sort=True)
        e = VehicleState(float(ego.position[0]), float(ego.position[1]), float(ego.velocity[0]),
                         float(ego.velocity[1]))
        others = [VehicleState(float(v.position[0] - e.x_m), float(v.position[1] - e.y_m),
                               float(v.velocity[0] - e.vx_mps), float(v.velocity[1] - e.vy_mps)) for v in near]
        return e, others

    def from_road_tracks(self, tracks_road: Sequence[tuple[float, float, float, float]], *, ego_speed_mps: float,
                         ego_lane_index: int) -> np.ndarray:
        """The observation for one video frame.

        Args:
            tracks_road: per tracked vehicle (x_m, y_m, vx_mps, vy_mps) in the calibration road frame
                (x forward, y LEFT, origin below the camera), velocities relative to the ego.
            ego_speed_mps: the ego's speed (assumed or from the vehicle bus).
            ego_lane_index: 0 = leftmost lane of ``lanes_count``.
        Returns: float32[vehicles_count, 5].
        """
        lane = int(np.clip(ego_lane_index, 0, self.lanes_count - 1))
        ego = VehicleState(PERCEPTION_DISTANCE_M, lane * LANE_WIDTH_M, float(ego_speed_mps), 0.0)
        others = [VehicleState(float(x), -float(y), float(vx), -float(vy)) for x, y, vx, vy in tracks_road]
        return self.observe(ego, others)
