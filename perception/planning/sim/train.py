"""Train the behaviour planner with stable-baselines3 (DQN; QR-DQN or PPO by ``algorithm``) in highway-env.

    python -m perception.planning.sim.train [--config planner.yaml] [--output runs/planner] [--timesteps N]
                                            [--n-envs N] [--seed N] [--noise]

Writes into the output folder: ``config.yaml``; ``monitor/*.monitor.csv`` (one row per episode per env);
``progress.csv`` (SB3 training log); ``checkpoints/step_<N>_steps.zip`` (SB3 checkpoints) and ``model.zip`` (the
final SB3 model: what ``init_model`` continues); ``policy.pt`` (the network as a plain tensor file, what
``perception.run`` and ``perception.planning.sim.evaluate`` load);
``learning_curve.png``; ``train_summary.json`` (steps, wall time, quick evaluation).
Exit codes: 0 done, 2 bad input, 130 interrupted (policy.pt then holds the weights reached so far).
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import json
import shutil
import sys
import time
from pathlib import Path
from typing import Any

from perception.cli import OneLineArgumentParser, run_main
from perception.config import config_to_dict
from perception.errors import UserInputError, WeightsError
from perception.planning.actions import DEFAULT_TARGET_SPEEDS_MPS
from perception.planning.observation import KinematicsObservation
from perception.planning.policy import Policy, save_policy
from perception.planning.sim.config import load_planner_config
from perception.planning.sim.envs import TrainingReward, make_env
from perception.planning.sim.evaluate import evaluate_agent, make_agent
from perception.planning.sim.noise import NOISE_MODELS
from perception.planning.sim.policies import load_sim_policy


def get_args_parser() -> argparse.ArgumentParser:
    p = OneLineArgumentParser(prog="python -m perception.planning.sim.train", description=__doc__.split("\n\n")[0])
    p.add_argument("--config", default=None, help="YAML file with PlannerTrainConfig fields")
    p.add_argument("--output", default="runs/planner", help="output folder")
    p.add_argument("--timesteps", type=int, default=None, help="total environment transitions")
    p.add_argument("--n-envs", type=int, default=None, help="parallel simulator processes")
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--noise", action="store_true", default=None,
                   help="train on observations perturbed by the perception noise model")
    p.add_argument("--shield", action="store_true", default=None,
                   help="train with the safety veto applied to every action (evaluate with policy+veto)")
    p.add_argument("--eval-episodes", type=int, default=None, help="quick evaluation after training")
    return p


def _make_monitored(env_id: str, noise: bool, seed: int, monitor_path: str, shield: bool = False,
                    veto_penalty: float = 0.0, speed_bonus: float = 0.0,
                    target_speeds_mps: tuple[float, ...] = DEFAULT_TARGET_SPEEDS_MPS,
                    speed_bonus_from_mps: float | None = None, shield_veto: str = "headway",
                    shield_advisory: bool = False, noise_model: str = "assumed", crash_penalty: float = 0.0) -> Any:
    from stable_baselines3.common.monitor import Monitor

    env = make_env(env_id, noise=NOISE_MODELS[noise_model] if noise else None, seed=seed, shield=shield,
                   target_speeds_mps=target_speeds_mps, shield_veto=shield_veto, shield_advisory=shield_advisory)
    env = Monitor(env, monitor_path, info_keywords=("crashed", "speed"))  # logs the simulator's own reward
    return TrainingReward(env, veto_penalty, speed_bonus, speed_bonus_from_mps, crash_penalty) \
        if veto_penalty or speed_bonus or crash_penalty else env


def plot_learning_curve(monitor_dir: Path, path: Path, window: int = 50) -> dict[str, Any]:
    """Plot episode return / crash share (rolling means) against transitions; returns the last window's means."""
    import csv

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    episodes = []
    for f in sorted(monitor_dir.glob("*.monitor.csv")):
        with f.open() as fh:
            fh.readline()  # JSON header line
            for row in csv.DictReader(fh):
                episodes.append((float(row["t"]), float(row["r"]), int(row["l"]), row["crashed"] == "True"))
    if not episodes:
        return {}
    episodes.sort()
    steps = np.cumsum([e[2] for e in episodes])
    ret = np.array([e[1] for e in episodes])
    crash = np.array([e[3] for e in episodes], dtype=float)
    kernel = np.ones(min(window, len(ret))) / min(window, len(ret))
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    axes[0].plot(steps, ret, ".", alpha=0.2, label="episode")
    axes[0].plot(steps[len(kernel) - 1:], np.convolve(ret, kernel, "valid"), label=f"mean of {len(kernel)}")
    axes[0].set(xlabel="transitions", ylabel="episode return", title="return")
    axes[0].legend()
    axes[1].plot(steps[len(kernel) - 1:], np.convolve(crash, kernel, "valid"))
    axes[1].set(xlabel="transitions", ylabel="share of episodes", title="crashes (rolling)", ylim=(0, 1))
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return {"episodes": len(episodes), "last_window_mean_return": float(ret[-len(kernel):].mean()),
            "last_window_crash_rate": float(crash[-len(kernel):].mean())}


def policy_from_sb3(model: Any) -> tuple[dict[str, Any], tuple[int, ...]]:
    """(state_dict for :func:`build_q_network`, net_arch) from a stable-baselines3 DQN, QR-DQN or PPO model.

    DQN: its Q-network. QR-DQN: its quantile network with the last layer averaged over the quantiles (the mean
    quantile is its Q-value; a mean of linear maps is one linear map). PPO: its actor (ReLU layers) and action
    head, whose logits rank the actions as the Q-values do (the pipeline acts on the argmax only).
    """
    import torch
    import torch.nn as nn

    policy = model.policy
    if hasattr(policy, "q_net"):
        layers = list(policy.q_net.q_net)
    elif hasattr(policy, "quantile_net"):
        layers = list(policy.quantile_net.quantile_net)
        last = layers[-1]
        n_actions, n_quantiles = int(model.action_space.n), int(policy.quantile_net.n_quantiles)
        folded = nn.Linear(last.in_features, n_actions)
        with torch.no_grad():  # output index = quantile * n_actions + action
            folded.weight.copy_(last.weight.reshape(n_quantiles, n_actions, -1).mean(0))
            folded.bias.copy_(last.bias.reshape(n_quantiles, n_actions).mean(0))
        layers[-1] = folded
    elif hasattr(policy, "action_net"):
        layers = list(policy.mlp_extractor.policy_net) + [policy.action_net]
    else:
        raise TypeError(f"cannot export a {type(model).__name__} policy")
    if not all(isinstance(m, (nn.Linear, nn.ReLU)) for m in layers):
        raise TypeError("the exported policy must be Linear/ReLU layers (set activation_fn=nn.ReLU)")
    seq = nn.Sequential(*layers)
    linears = [m for m in layers if isinstance(m, nn.Linear)]
    net_arch = tuple(int(m.out_features) for m in linears[:-1])
    return {k: v.detach().clone() for k, v in seq.state_dict().items()}, net_arch


def build_sb3_model(config: Any, venv: Any) -> Any:
    """The stable-baselines3 model of ``config.algorithm`` on ``venv`` (hyper-parameters from the config)."""
    import torch.nn as nn

    d = config.dqn
    off_policy = dict(learning_rate=d.learning_rate, buffer_size=d.buffer_size, learning_starts=d.learning_starts,
                      batch_size=d.batch_size, gamma=d.gamma, train_freq=d.train_freq,
                      gradient_steps=d.gradient_steps, target_update_interval=d.target_update_interval,
                      exploration_fraction=d.exploration_fraction,
                      exploration_initial_eps=d.exploration_initial_eps,
                      exploration_final_eps=d.exploration_final_eps, seed=config.seed, device=config.device,
                      verbose=0)
    if config.algorithm == "dqn":
        from stable_baselines3 import DQN

        return DQN("MlpPolicy", venv, policy_kwargs={"net_arch": list(d.net_arch)}, **off_policy)
    if config.algorithm == "qrdqn":
        try:
            from sb3_contrib import QRDQN
        except ImportError:
            raise UserInputError("algorithm qrdqn needs sb3-contrib: pip install -e '.[rl]'") from None
        return QRDQN("MlpPolicy", venv, policy_kwargs={"net_arch": list(d.net_arch),
                                                       "n_quantiles": config.n_quantiles}, **off_policy)
    from stable_baselines3 import PPO

    p = config.ppo
    return PPO("MlpPolicy", venv, learning_rate=p.learning_rate, n_steps=p.n_steps, batch_size=p.batch_size,
               n_epochs=p.n_epochs, gamma=d.gamma, gae_lambda=p.gae_lambda, clip_range=p.clip_range,
               ent_coef=p.ent_coef, seed=config.seed, device=config.device, verbose=0,
               policy_kwargs={"net_arch": {"pi": list(d.net_arch), "vf": list(d.net_arch)},
                              "activation_fn": nn.ReLU})


def load_sb3_q_network(model: Any, policy: Policy) -> None:
    """Copy ``policy``'s Q-network into a stable-baselines3 DQN ``model`` (online and target networks).

    Raises WeightsError when the layouts differ (another net_arch or observation shape).
    """
    try:
        model.policy.q_net.q_net.load_state_dict(policy.q_net.state_dict())
    except RuntimeError as e:
        raise WeightsError(f"init policy {policy.path} does not fit the configured net_arch "
                           f"({str(e).splitlines()[0][:120]})") from None
    model.policy.q_net_target.load_state_dict(model.policy.q_net.state_dict())


def continue_from(model: Any, path: str) -> str:
    """Load the network and optimizer weights of a stable-baselines3 file of ``model``'s algorithm into
    ``model`` (SB3 reads its tensors with ``weights_only=True`` and skips the pickled data); its SHA-256.

    Raises UserInputError when the file is missing or does not fit (another algorithm or layout).
    """
    file = Path(path)
    if not file.is_file():
        raise UserInputError(f"init_model {path}: no such file")
    sha = hashlib.sha256(file.read_bytes()).hexdigest()
    try:
        model.set_parameters(str(file), exact_match=True, device=model.device)
    except Exception as e:  # zipfile, key or shape errors of a file from another algorithm or layout
        raise UserInputError(f"init_model {path} does not fit this {type(model).__name__} "
                             f"({str(e).splitlines()[0][:120]})") from None
    print(f"[planner] continuing from {file} (sha256 {sha[:12]})", file=sys.stderr)
    return sha


def main(args: argparse.Namespace) -> int:
    config = load_planner_config(args.config, {
        "total_timesteps": args.timesteps, "n_envs": args.n_envs, "seed": args.seed,
        "observation_noise": args.noise, "shield": args.shield, "eval_episodes": args.eval_episodes})
    try:
        import stable_baselines3  # noqa: F401
        import highway_env  # noqa: F401
    except ImportError as e:
        raise UserInputError(f"planner training needs the rl extra: pip install -e '.[rl]' ({e.name} missing)") \
            from None
    import torch
    import yaml
    from stable_baselines3.common.callbacks import CheckpointCallback
    from stable_baselines3.common.logger import configure
    from stable_baselines3.common.vec_env import DummyVecEnv, SubprocVecEnv

    init = load_sim_policy(config.init_policy) if config.init_policy else None  # hash-checked, weights_only
    if config.init_model and not Path(config.init_model).is_file():  # before anything is made
        raise UserInputError(f"init_model {config.init_model}: no such file")
    out = Path(args.output)
    created = not out.exists()  # removed again if the start fails on a user's file (below)
    (out / "monitor").mkdir(parents=True, exist_ok=True)
    (out / "config.yaml").write_text(yaml.safe_dump(config_to_dict(config), sort_keys=False))
    torch.set_num_threads(1)
    factories = [functools.partial(_make_monitored, config.env_id, config.observation_noise, config.seed + i,
                                   str(out / "monitor" / f"env{i}"), config.shield, config.veto_penalty,
                                   config.speed_bonus, config.target_speeds_mps,
                                   config.target_speeds_mps[0] if config.speed_bonus_from_lowest else None,
                                   config.shield_veto, config.shield_advisory, config.noise_model,
                                   config.crash_penalty)
                 for i in range(config.n_envs)]
    vec_cls = SubprocVecEnv if config.n_envs > 1 else DummyVecEnv
    venv = vec_cls(factories)
    venv.seed(config.seed)
    try:
        model = build_sb3_model(config, venv)
        if init is not None:
            load_sb3_q_network(model, init)
            print(f"[planner] Q-network initialised from {init.path} (sha256 {init.sha256[:12]})", file=sys.stderr)
        init_model_sha256 = continue_from(model, config.init_model) if config.init_model else None
    except (UserInputError, WeightsError):  # a start file that does not fit: nothing trained, nothing left
        venv.close()
        if created:
            shutil.rmtree(out, ignore_errors=True)
        raise
    model.set_logger(configure(str(out), ["csv"]))
    callbacks = [_Progress(config.total_timesteps)]
    if config.checkpoint_every > 0:
        callbacks.append(CheckpointCallback(max(1, config.checkpoint_every // config.n_envs),
                                            str(out / "checkpoints"), name_prefix="step"))
    t0 = time.perf_counter()
    interrupted = False
    try:
        model.learn(total_timesteps=config.total_timesteps, callback=callbacks)
    except KeyboardInterrupt:
        interrupted = True
    wall_s = time.perf_counter() - t0
    venv.close()
    model.save(str(out / "model.zip"))  # what init_model continues (the exported policy.pt loses QR-DQN's quantiles)
    state, net_arch = policy_from_sb3(model)
    metadata = {"trained_by": "python -m perception.planning.sim.train", "config": config_to_dict(config),
                "timesteps": int(model.num_timesteps), "wall_time_s": round(wall_s, 1),
                "threads": torch.get_num_threads(), "interrupted": interrupted,
                "init_model_sha256": init_model_sha256}
    sha = save_policy(out / "policy.pt", state, net_arch, (KinematicsObservation().vehicles_count, 5), metadata)
    curve = plot_learning_curve(out / "monitor", out / "learning_curve.png")
    summary = {**metadata, "policy": str(out / "policy.pt"), "policy_sha256": sha, "training_episodes": curve}
    if config.eval_episodes > 0 and not interrupted:
        agent = make_agent("policy+veto" if config.shield and not config.shield_advisory else "policy",
                           str(out / "policy.pt"))
        summary["quick_eval"] = evaluate_agent(agent, config.env_id,
                                               config.eval_episodes, seed=10_000)
    (out / "train_summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(json.dumps({k: summary[k] for k in ("timesteps", "wall_time_s", "policy_sha256")}
                     | {"quick_eval": summary.get("quick_eval")}, indent=2))
    return 130 if interrupted else 0


class _Progress:
    """Prints transitions/s and recent episode stats to stderr about every 2000 transitions."""

    def __new__(cls, total: int) -> Any:
        from stable_baselines3.common.callbacks import BaseCallback

        class Progress(BaseCallback):
            def __init__(self) -> None:
                super().__init__()
                self.t0 = time.perf_counter()
                self.next_report = 2000

            def _on_step(self) -> bool:
                if self.num_timesteps >= self.next_report:
                    self.next_report += 2000
                    rate = self.num_timesteps / (time.perf_counter() - self.t0)
                    buf = list(self.model.ep_info_buffer)
                    mean_r = sum(e["r"] for e in buf) / len(buf) if buf else float("nan")
                    crash = sum(bool(e.get("crashed")) for e in buf) / len(buf) if buf else float("nan")
                    print(f"[planner] {self.num_timesteps}/{total} transitions  {rate:.0f}/s  "
                          f"recent return {mean_r:.2f}  crash {crash:.2f}", file=sys.stderr, flush=True)
                return True

        return Progress()


def cli(argv: list[str] | None = None) -> int:
    return run_main(main, get_args_parser().parse_args(argv))


if __name__ == "__main__":
    sys.exit(cli())
