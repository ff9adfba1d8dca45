"""The perception noise model: what our camera pipeline's errors do to a Kinematics observation.

Per observed vehicle and step (values assumed for a single front camera with flat-road ranging, in the
range the issue's calibration and tracking work points to; they are not fitted to labelled data):

* missed: probability ``miss_near`` within ``far_m`` metres, ``miss_far`` beyond (our detector's recall
  falls with range; the row then disappears and nearer-sorted rows move up);
* longitudinal position ``x``: Gaussian, sigma = ``x_sigma_fraction`` x range + ``x_sigma_m``
  (flat-road ranging error grows with distance; 1 px of box-bottom error is ~5 % at 40 m);
* lateral position ``y``: Gaussian, sigma ``y_sigma_m``;
* relative velocity ``vx``/``vy``: Gaussian, sigma ``vx_sigma_mps`` / ``vy_sigma_mps`` (differentiated tracks);
* ego speed: Gaussian, sigma ``ego_speed_sigma_mps``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from perception.planning.observation import KinematicsObservation, VehicleState


@dataclass(frozen=True)
class PerceptionNoise:
    """Noise levels; every field is a standard deviation or a probability."""

    miss_near: float = 0.05            # probability a vehicle within far_m is not observed this step
    miss_far: float = 0.25             # ... beyond far_m
    far_m: float = 50.0                # range (m) where detection becomes unreliable
    x_sigma_fraction: float = 0.05     # longitudinal sigma per metre of range
    x_sigma_m: float = 0.5             # longitudinal sigma floor (m)
    y_sigma_m: float = 0.3             # lateral sigma (m)
    vx_sigma_mps: float = 1.5          # relative longitudinal speed sigma (m/s)
    vy_sigma_mps: float = 0.3          # relative lateral speed sigma (m/s)
    ego_speed_sigma_mps: float = 0.5   # ego speed sigma (m/s)

    def apply(self, contract: KinematicsObservation, obs: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """A perturbed copy of ``obs`` float32[vehicles_count, 5] (same layout)."""
        ego, others = contract.decode(obs)
        ego = VehicleState(ego.x_m, ego.y_m, ego.vx_mps + rng.normal(0, self.ego_speed_sigma_mps), ego.vy_mps)
        kept = []
        for v in others:
            if rng.random() < (self.miss_near if abs(v.x_m) <= self.far_m else self.miss_far):
                continue
            kept.append(VehicleState(
                v.x_m + rng.normal(0, self.x_sigma_fraction * abs(v.x_m) + self.x_sigma_m),
                v.y_m + rng.normal(0, self.y_sigma_m),
                v.vx_mps + rng.normal(0, self.vx_sigma_mps),
                v.vy_mps + rng.normal(0, self.vy_sigma_mps)))
        return contract.observe(ego, kept)
