"""Planner training configuration: one dataclass (YAML + CLI overrides), unknown keys rejected."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from perception.config import load_config_file
from perception.errors import ConfigError
from perception.planning.actions import DEFAULT_TARGET_SPEEDS_MPS, check_target_speeds
from perception.planning.sim.envs import SHIELD_VETOES
from perception.planning.sim.noise import NOISE_MODELS


@dataclass(frozen=True)
class DQNConfig:
    """stable-baselines3 DQN hyper-parameters (names as in SB3)."""

    net_arch: tuple[int, ...] = (256, 256)   # hidden widths of the Q-network MLP
    learning_rate: float = 5e-4              # Adam step size
    buffer_size: int = 15_000                # replay buffer capacity (transitions)
    learning_starts: int = 200               # transitions collected before the first update
    batch_size: int = 32                     # transitions per gradient step
    gamma: float = 0.8                       # discount per policy step (1 step = 1 s in highway-fast-v0)
    train_freq: int = 1                      # environment steps (per env) between updates
    gradient_steps: int = 1                  # gradient steps per update
    target_update_interval: int = 50         # environment steps between target-network copies
    exploration_initial_eps: float = 1.0     # epsilon at the start (lower it when starting from init_policy)
    exploration_fraction: float = 0.7        # share of training over which epsilon decays
    exploration_final_eps: float = 0.05      # epsilon after the decay


@dataclass(frozen=True)
class PPOConfig:
    """stable-baselines3 PPO hyper-parameters (names as in SB3); the actor's layers are ``dqn.net_arch`` wide."""

    learning_rate: float = 3e-4              # Adam step size
    n_steps: int = 256                       # transitions per env between updates
    batch_size: int = 64                     # transitions per minibatch
    n_epochs: int = 10                       # passes over each rollout
    gae_lambda: float = 0.95                 # generalised advantage estimation
    clip_range: float = 0.2                  # policy ratio clip
    ent_coef: float = 0.01                   # entropy bonus (exploration)


ALGORITHMS = ("dqn", "qrdqn", "ppo")  # qrdqn and ppo need sb3-contrib / SB3 (the rl extra)


@dataclass(frozen=True)
class PlannerTrainConfig:
    """Every field can be set in the YAML file given with ``--config``."""

    env_id: str = "highway-fast-v0"          # gymnasium id registered by highway-env
    algorithm: str = "dqn"                   # "dqn", "qrdqn" (quantile regression DQN, sb3-contrib) or "ppo";
    #   every one is saved as the same policy file: an MLP whose argmax is the action (Q-values, mean quantiles
    #   or the actor's logits), so evaluation and the pipeline run them alike
    total_timesteps: int = 60_000            # environment transitions over all envs
    n_envs: int = 2                          # parallel simulator processes (one per core)
    seed: int = 0                            # seeds envs, network init and exploration
    observation_noise: bool = False          # train on observations perturbed by the perception noise model
    noise_model: str = "assumed"             # which: a key of perception.planning.sim.noise.NOISE_MODELS
    shield: bool = False                     # pass every action through the safety veto while training
    shield_veto: str = "headway"             # the shield's veto: "headway" (fixed headway and time-to-collision)
    #   or "braking" (its braking check, for exact observations; not with observation_noise)
    shield_advisory: bool = False            # with shield: the veto judges each action but does not replace it;
    #   the policy's own action runs (crashes included), and veto_penalty is the cost of an action it would have
    #   replaced: the policy learns to drive without the veto instead of leaning on it
    veto_penalty: float = 0.0                # with shield: subtracted from the reward of a step the veto overrode
    #   (training signal only; monitor CSVs and evaluation keep the simulator's reward)
    speed_bonus: float = 0.0                 # added to each step's reward x the speed share (0 at 20, 1 at 30 m/s);
    #   training signal only, like veto_penalty
    crash_penalty: float = 0.0               # subtracted from the reward of the step that ends in a collision
    #   (training signal only, like veto_penalty): the simulator's own collision term only zeroes that step's
    #   reward, so with a speed bonus a crash can cost less than the speed it bought
    speed_bonus_from_lowest: bool = False    # the speed share is 0 at the lowest target speed instead of 20 m/s
    target_speeds_mps: tuple[float, ...] = DEFAULT_TARGET_SPEEDS_MPS  # the ego's speeds for FASTER / SLOWER
    #   (highway-env's action "target_speeds", evenly spaced); recorded in the policy file, which evaluation and
    #   the pipeline then use with the same speeds
    init_policy: str = ""                    # start the Q-network from this policy file or published name
    init_model: str = ""                     # or continue an earlier run of the same algorithm (any of the three)
    #   from its stable-baselines3 file (model.zip or checkpoints/step_<N>_steps.zip): its network and optimizer
    #   weights (read as tensors only, no pickled objects), with this config's schedule
    checkpoint_every: int = 10_000           # transitions between checkpoints (0 = only the final one)
    eval_episodes: int = 20                  # quick evaluation episodes after training (0 = none)
    device: str = "cpu"                      # torch device for the Q-network
    dqn: DQNConfig = field(default_factory=DQNConfig)  # also qrdqn's (and net_arch, gamma for ppo)
    n_quantiles: int = 25                    # qrdqn: quantiles per action
    ppo: PPOConfig = field(default_factory=PPOConfig)

    def __post_init__(self) -> None:
        if self.algorithm not in ALGORITHMS:
            raise ConfigError(f"algorithm must be one of {', '.join(ALGORITHMS)}, not {self.algorithm!r}")
        if self.init_policy and self.init_model:
            raise ConfigError("give init_policy or init_model, not both")
        if self.init_model and not str(self.init_model).endswith(".zip"):
            raise ConfigError(f"init_model must be a stable-baselines3 .zip file, not {self.init_model!r}")
        if self.init_policy and self.algorithm != "dqn":
            raise ConfigError("init_policy continues a DQN's Q-network; it needs algorithm: dqn")
        if self.n_quantiles < 2:
            raise ConfigError("n_quantiles must be >= 2")
        if self.total_timesteps <= 0 or self.n_envs <= 0:
            raise ConfigError("total_timesteps and n_envs must be positive")
        if self.veto_penalty < 0 or (self.veto_penalty and not self.shield):
            raise ConfigError("veto_penalty must be >= 0 and needs shield: true")
        if self.noise_model not in NOISE_MODELS:
            raise ConfigError(f"noise_model must be one of {', '.join(NOISE_MODELS)}, not {self.noise_model!r}")
        if self.shield_advisory and not self.shield:
            raise ConfigError("shield_advisory needs shield: true (the veto that judges the actions)")
        if self.shield_veto not in SHIELD_VETOES:
            raise ConfigError(f"shield_veto must be one of {', '.join(SHIELD_VETOES)}, not {self.shield_veto!r}")
        if self.shield_veto == "braking" and self.observation_noise:
            raise ConfigError("shield_veto: braking is for exact observations; use headway with observation_noise")
        if self.speed_bonus < 0 or self.crash_penalty < 0:
            raise ConfigError("speed_bonus and crash_penalty must be >= 0")
        try:
            check_target_speeds(self.target_speeds_mps)
        except ValueError as e:
            raise ConfigError(f"target_speeds_mps: {e}") from None


def load_planner_config(path: str | Path | None, overrides: dict | None = None) -> PlannerTrainConfig:
    """Read a YAML config (or the defaults) and apply ``overrides``; unknown keys raise ConfigError."""
    return load_config_file(PlannerTrainConfig, path, overrides)
