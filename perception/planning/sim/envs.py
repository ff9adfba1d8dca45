"""highway-env environments for training and evaluation (imports gymnasium/highway-env when called)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from perception.errors import UserInputError
from perception.planning.actions import DEFAULT_TARGET_SPEEDS_MPS, check_target_speeds
from perception.planning.observation import FEATURES, LANE_WIDTH_M, KinematicsObservation
from perception.planning.sim.noise import PerceptionNoise
from perception.planning.veto import SafetyVeto

ENV_IDS = ("highway-fast-v0", "highway-v0", "merge-v0", "roundabout-v0")
SHIELD_VETOES = ("headway", "braking")  # the training shield: the fixed-headway veto or its braking check


def observation_space(contract: KinematicsObservation) -> Any:
    """The gymnasium Box the simulator declares for ``contract``: float32[vehicles_count, 5], unbounded."""
    from gymnasium import spaces

    return spaces.Box(low=-np.inf, high=np.inf, shape=(contract.vehicles_count, len(FEATURES)), dtype=np.float32)


def make_env(env_id: str = "highway-fast-v0", *, noise: PerceptionNoise | None = None, seed: int | None = None,
             shield: bool = False, target_speeds_mps: Sequence[float] = DEFAULT_TARGET_SPEEDS_MPS,
             shield_veto: str = "headway", shield_advisory: bool = False) -> Any:
    """A gymnasium env with highway-env's defaults for ``env_id``; observations perturbed by ``noise`` if given;
    with ``shield`` every action first passes the safety veto (the agent learns inside the veto's limits); with
    ``shield_advisory`` as well, the veto only judges: the agent's own action runs and ``info["vetoed"]`` says
    whether the veto would have replaced it (a cost to learn from, see :func:`TrainingReward`).
    ``target_speeds_mps``: the ego's speeds for FASTER / SLOWER (highway-env's action ``target_speeds``); only
    the action set changes with it, not the traffic or the reward. ``shield_veto``: ``headway`` (the fixed
    headway veto) or ``braking`` (its braking check, for exact observations; see ``perception.planning.veto``).

    The observation is checked against :class:`KinematicsObservation` (ours is the contract the video
    pipeline fills); a mismatch in the simulator's config raises instead of training on another layout.
    """
    import gymnasium as gym
    import highway_env  # noqa: F401  (registers the environments)

    if env_id not in ENV_IDS:
        raise UserInputError(f"--env {env_id!r} is not supported (choose from {', '.join(ENV_IDS)})")
    speeds = check_target_speeds(target_speeds_mps)
    if shield_veto not in SHIELD_VETOES:
        raise UserInputError(f"shield veto {shield_veto!r} is not one of {', '.join(SHIELD_VETOES)}")
    env = gym.make(env_id)
    if speeds != DEFAULT_TARGET_SPEEDS_MPS:
        env.unwrapped.configure({"action": {**env.unwrapped.config["action"], "target_speeds": list(speeds)}})
    obs_config = env.unwrapped.config["observation"]
    if obs_config.get("type") != "Kinematics" or set(obs_config) - {"type"}:
        raise UserInputError(f"{env_id}: observation config {obs_config} is not the default Kinematics layout")
    if noise is not None:
        env = NoisyObservation(env, noise, KinematicsObservation(), seed=seed)
    if shield:
        env = _shield_wrapper()(env, speeds, shield_veto == "braking", enforce=not shield_advisory)
    return env


def _shield_wrapper() -> type:
    import gymnasium as gym

    class _Shield(gym.Wrapper):
        """Replaces a vetoed action by the veto's choice (only judges it when not ``enforce``);
        ``info["vetoed"]`` says when the veto did (or would have) replaced the action."""

        def __init__(self, env: Any, target_speeds_mps: tuple[float, ...], braking: bool,
                     enforce: bool = True) -> None:
            super().__init__(env)
            self.enforce = enforce
            self.veto = SafetyVeto.for_target_speeds(target_speeds_mps, exact_observations=braking)
            self.contract = KinematicsObservation()
            self.last_obs = self.previous_obs = None

        def reset(self, **kwargs: Any) -> Any:
            obs, info = self.env.reset(**kwargs)
            self.last_obs, self.previous_obs = obs, None
            return obs, info

        def step(self, action: Any) -> Any:
            decision = self.veto.check(self.last_obs, int(action), self.contract, previous_obs=self.previous_obs)
            obs, reward, terminated, truncated, info = self.env.step(decision.action if self.enforce else action)
            self.last_obs, self.previous_obs = obs, self.last_obs
            return obs, reward, terminated, truncated, {**info, "vetoed": decision.vetoed}

    return _Shield


def TrainingReward(env: Any, veto_penalty: float = 0.0, speed_bonus: float = 0.0,  # noqa: N802
                   speed_bonus_from_mps: float | None = None, crash_penalty: float = 0.0) -> Any:
    """``env`` with the reward changed for learning only; wrap it outside the Monitor so logged returns stay
    the simulator's.

    * ``veto_penalty`` is subtracted from the reward of every step whose action the shield vetoed (shielding
      with punishment: the agent learns to pick actions the veto accepts, so it needs the veto less), or, with an
      advisory shield, would have vetoed (the action runs, so the agent also meets its consequences);
    * ``speed_bonus`` x the simulator's speed share (``info["rewards"]["high_speed_reward"]``: 0 at or below
      20 m/s, 1 at or above 30 m/s, forward speed) is added to every step: the default reward's speed term is
      small next to the cost of a crash, and a shielded agent can afford to weigh speed more. With
      ``speed_bonus_from_mps`` the share runs linearly from 0 at that forward speed instead of the bottom of the
      simulator's ``reward_speed_range`` (20 m/s), to 1 at its top, so an ego that can drive slower than 20 m/s
      is not paid the same for 15 as for 20 m/s;
    * ``crash_penalty`` is subtracted from the reward of the step that ends in a collision.
    """
    import gymnasium as gym

    class _TrainingReward(gym.Wrapper):
        def step(self, action: Any) -> Any:
            obs, reward, terminated, truncated, info = self.env.step(action)
            reward = float(reward)
            if info.get("vetoed"):
                reward -= veto_penalty
            if info.get("crashed"):
                reward -= crash_penalty
            if speed_bonus:  # the simulator's own share, lmap(forward speed, reward_speed_range) clipped to [0, 1]
                ego, (low, top) = self.env.unwrapped.vehicle, self.env.unwrapped.config["reward_speed_range"]
                low = low if speed_bonus_from_mps is None else speed_bonus_from_mps
                forward = float(ego.speed * np.cos(ego.heading))
                reward += speed_bonus * float(np.clip((forward - low) / (top - low), 0.0, 1.0))
            return obs, reward, terminated, truncated, info

    return _TrainingReward(env)


def road_contract(env: Any) -> KinematicsObservation:
    """The Kinematics contract of ``env``'s observation as the simulator scales it (after a ``reset``).

    highway-env sets the lateral range from the lanes beside the ego's first lane (±4 m x lanes: 3 on
    highway-fast-v0, 4 on highway-v0, 2 on merge-v0) and keeps it for the env's life; read on another road's
    scale, every lateral position and lane would be off."""
    ranges = getattr(env.unwrapped.observation_type, "features_range", None) or {}
    y_max = (ranges.get("y") or (None, None))[1]
    if y_max is None:
        return KinematicsObservation()
    return KinematicsObservation(lanes_count=max(1, int(round(float(y_max) / LANE_WIDTH_M))))


def idm_ego(env: Any) -> None:
    """Make the ego vehicle drive itself with highway-env's IDM (speed) and MOBIL (lane change) models.

    Call after every ``reset``; actions passed to ``step`` are then ignored by the ego.
    """
    from highway_env.vehicle.behavior import IDMVehicle

    base = env.unwrapped
    old = base.vehicle
    new = IDMVehicle.create_from(old)
    base.road.vehicles[base.road.vehicles.index(old)] = new
    base.controlled_vehicles[base.controlled_vehicles.index(old)] = new


def _observation_wrapper() -> type:
    import gymnasium as gym

    class _Noisy(gym.ObservationWrapper):
        def __init__(self, env: Any, noise: PerceptionNoise, contract: KinematicsObservation,
                     seed: int | None = None) -> None:
            super().__init__(env)
            self.noise, self.contract = noise, contract
            self.rng = np.random.default_rng(seed)

        def reset(self, **kwargs: Any) -> Any:
            obs, info = self.env.reset(**kwargs)
            self.contract = road_contract(self.env)  # perturb metres on this road's own scale
            return self.observation(obs), info

        def observation(self, observation: np.ndarray) -> np.ndarray:
            return self.noise.apply(self.contract, observation, self.rng)

    return _Noisy


def NoisyObservation(env: Any, noise: PerceptionNoise, contract: KinematicsObservation,  # noqa: N802
                     seed: int | None = None) -> Any:
    """``env`` wrapped so each observation passes through ``noise`` (a gymnasium ObservationWrapper), decoded and
    re-encoded on the road's own scale (:func:`road_contract`, read at every reset; ``contract`` until then)."""
    return _observation_wrapper()(env, noise, contract, seed)
