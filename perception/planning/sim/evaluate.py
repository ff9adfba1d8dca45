"""Evaluate the planner policy against highway-env's IDM/MOBIL driver and a random driver.

    python -m perception.planning.sim.evaluate [--episodes 50] [--policy FILE] [--env highway-fast-v0]
                                               [--output runs/planner_eval] [--workers 2] [--no-noise]
                                               [--veto auto|headway|braking]

Every agent drives the same episode seeds (100000, 100001, ...; development and the veto's tuning used
seeds from 10000 and 20000, training from 0). Agents: ``policy`` (the Q-network, greedy),
``policy+veto`` (with the rule-based safety veto: its braking check on the simulator's exact observations, the
fixed-headway veto on noisy ones, see ``perception.planning.veto``; ``--veto`` forces one), ``idm`` (the
simulator's IDM/MOBIL models drive the ego), ``random`` (uniform actions). Unless ``--no-noise``, ``policy``
and ``policy+veto`` run again on observations perturbed by the perception noise model
(``perception.planning.sim.noise``; ``--noise-model kitti``: the values measured on KITTI); ``idm`` reads the
simulator's true state and is not affected by it. Prints a table and JSON and writes ``<output>/planner_eval.json``.
Per agent: ``crash_rate`` (share of episodes ending in a collision), ``mean_speed_mps`` (over all steps),
``mean_return`` (highway-env's normalised reward, summed per episode), ``lane_changes_per_episode``, ``veto_rate``
(share of steps the veto overrode the policy), ``veto`` (which: ``braking`` or ``headway``, null without),
``veto_would_change`` (``policy`` alone: the share of its actions that veto, judging without acting, would have
replaced; how much the policy alone leans on it). Every
agent drives the action set the policy was trained with (its ``target_speeds_mps``, in the JSON as
``ego_target_speeds_mps``; highway-env's default 20, 25, 30 m/s for policies trained before that setting); the
traffic and the reward are highway-env's.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import replace
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from perception.cli import OneLineArgumentParser, run_main
from perception.errors import UserInputError
from perception.planning.actions import DEFAULT_TARGET_SPEEDS_MPS
from perception.planning.sim.envs import idm_ego, make_env, road_contract
from perception.planning.sim.noise import NOISE_MODELS
from perception.planning.sim.policies import load_sim_policy
from perception.planning.observation import KinematicsObservation
from perception.planning.veto import SafetyVeto

AGENTS = ("policy", "policy+veto", "idm", "random")
POLICY_CONTRACT = KinematicsObservation()  # the observation layout and scale the policies were trained on


class Agent:
    """Chooses an action per step. ``reset(env)`` is called after every env reset."""

    name = "agent"
    veto: Any = None  # a SafetyVeto when one may override the agent
    target_speeds_mps: tuple[float, ...] = DEFAULT_TARGET_SPEEDS_MPS  # the action set it drives by default

    def reset(self, env: Any) -> None:
        pass

    def act(self, obs: np.ndarray) -> tuple[int, bool]:
        """(action index, whether a veto overrode the policy)."""
        raise NotImplementedError


class PolicyAgent(Agent):
    """The policy, greedy; with ``veto``, behind the safety veto for its speeds: the braking check when it gets
    the simulator's ``exact_observations``, else the fixed-headway veto.

    On a road whose observation is scaled for another number of lanes than highway-fast-v0's three (highway-v0,
    merge-v0), the observation is read on the road's own scale (:func:`road_contract`), the veto knows the
    road's lanes, and the policy gets the same vehicles on the scale it was trained with.

    Without ``veto`` the same veto still judges every action without changing it: ``objections`` counts the
    actions it would have replaced (how much the policy alone would lean on it)."""

    def __init__(self, policy_path: str | None, veto: bool, exact_observations: bool = True) -> None:
        self.policy = load_sim_policy(policy_path)
        self.target_speeds_mps = self.policy.target_speeds_mps
        judge = SafetyVeto.for_target_speeds(self.target_speeds_mps, exact_observations=exact_observations)
        self.veto, self.judge = (judge, None) if veto else (None, judge)
        self.objections = 0
        self.name = "policy+veto" if veto else "policy"
        self.previous_obs: np.ndarray | None = None  # the veto holds vehicles missing since the last step
        self.contract = POLICY_CONTRACT  # the simulator's scale of the current road

    def reset(self, env: Any) -> None:
        self.previous_obs = None
        self.contract = road_contract(env)
        if self.veto is not None and self.veto.lanes_count != self.contract.lanes_count:
            self.veto = replace(self.veto, lanes_count=self.contract.lanes_count)
        if self.judge is not None and self.judge.lanes_count != self.contract.lanes_count:
            self.judge = replace(self.judge, lanes_count=self.contract.lanes_count)

    def act(self, obs: np.ndarray) -> tuple[int, bool]:
        seen = obs if self.contract == POLICY_CONTRACT else POLICY_CONTRACT.observe(*self.contract.decode(obs))
        action = self.policy.act(seen)
        if self.veto is None:
            self.objections += self.judge.check(obs, action, self.contract, previous_obs=self.previous_obs).vetoed
            self.previous_obs = obs
            return action, False
        decision = self.veto.check(obs, action, self.contract, previous_obs=self.previous_obs)
        self.previous_obs = obs
        return decision.action, decision.vetoed


class IdmAgent(Agent):
    name = "idm"

    def reset(self, env: Any) -> None:
        idm_ego(env)

    def act(self, obs: np.ndarray) -> tuple[int, bool]:
        return 1, False  # ignored: the IDM/MOBIL ego decides for itself


class RandomAgent(Agent):
    name = "random"

    def __init__(self, seed: int = 0) -> None:
        self.rng = np.random.default_rng(seed)

    def act(self, obs: np.ndarray) -> tuple[int, bool]:
        return int(self.rng.integers(5)), False


VETOES = ("auto", "headway", "braking")


def make_agent(name: str, policy_path: str | None = None, *, noisy_observations: bool = False,
               veto: str = "auto") -> Agent:
    """The agent ``name``; ``noisy_observations``: it will see the perception noise model's observations.
    ``veto`` (for ``policy+veto``): ``auto`` = the braking check on exact observations, the fixed headway on
    noisy ones; ``headway`` or ``braking`` = that one always."""
    if veto not in VETOES:
        raise UserInputError(f"--veto {veto!r}: choose from {', '.join(VETOES)}")
    exact = not noisy_observations if veto == "auto" else veto == "braking"
    if name in ("policy", "policy+veto"):
        return PolicyAgent(policy_path, veto=name == "policy+veto", exact_observations=exact)
    if name == "idm":
        return IdmAgent()
    if name == "random":
        return RandomAgent()
    raise UserInputError(f"unknown agent {name!r} (choose from {', '.join(AGENTS)})")


def evaluate_agent(agent: Agent, env_id: str, episodes: int, *, seed: int = 10_000, noise: bool = False,
                   target_speeds_mps: tuple[float, ...] | None = None, noise_model: str = "assumed") -> dict:
    """Drive ``episodes`` episodes with seeds seed, seed+1, ...; returns the metrics dict. The ego's action set
    uses ``target_speeds_mps`` (default: the agent's own, a policy's from its file). ``noise``: observations pass
    through the perception noise model ``noise_model`` (a key of ``NOISE_MODELS``)."""
    env = make_env(env_id, noise=NOISE_MODELS[noise_model] if noise else None, seed=seed,
                   target_speeds_mps=target_speeds_mps or agent.target_speeds_mps)
    crashes, returns, lane_changes, speeds, steps, vetoes = 0, [], [], [], 0, 0
    for ep in range(episodes):
        obs, _ = env.reset(seed=seed + ep)
        agent.reset(env)
        lane = env.unwrapped.vehicle.lane_index[2]
        total, changes, done, info = 0.0, 0, False, {}
        while not done:
            action, vetoed = agent.act(obs)
            vetoes += vetoed
            obs, reward, terminated, truncated, info = env.step(action)
            total += float(reward)
            speeds.append(float(info["speed"]))
            steps += 1
            new_lane = env.unwrapped.vehicle.lane_index[2]
            changes += new_lane != lane
            lane = new_lane
            done = terminated or truncated
        crashes += bool(info.get("crashed"))
        returns.append(total)
        lane_changes.append(changes)
    env.close()
    return {"episodes": episodes, "crash_rate": crashes / episodes, "mean_speed_mps": float(np.mean(speeds)),
            "mean_return": float(np.mean(returns)), "std_return": float(np.std(returns)),
            "lane_changes_per_episode": float(np.mean(lane_changes)), "mean_episode_steps": steps / episodes,
            "veto_rate": vetoes / steps if steps else 0.0,
            "veto": agent.veto.kind if agent.veto is not None else None,
            "veto_would_change": getattr(agent, "objections", 0) / steps if getattr(agent, "judge", None) else None}


def _job(job: tuple[str, str | None, str, int, int, bool, tuple[float, ...], str, str]) -> tuple[str, bool, dict]:
    name, policy_path, env_id, episodes, seed, noise, speeds, veto, noise_model = job
    agent = make_agent(name, policy_path, noisy_observations=noise, veto=veto)
    return name, noise, evaluate_agent(agent, env_id, episodes, seed=seed, noise=noise, target_speeds_mps=speeds,
                                       noise_model=noise_model)


def get_args_parser() -> argparse.ArgumentParser:
    p = OneLineArgumentParser(prog="python -m perception.planning.sim.evaluate", description=__doc__.split("\n\n")[0])
    p.add_argument("--episodes", type=int, default=50)
    p.add_argument("--policy", default=None, help="policy.pt file (default: the shipped policy)")
    p.add_argument("--env", default="highway-fast-v0")
    p.add_argument("--agents", default=",".join(AGENTS), help=f"comma-separated subset of {','.join(AGENTS)}")
    p.add_argument("--seed", type=int, default=100_000, help="first episode seed")
    p.add_argument("--no-noise", action="store_true", help="skip the runs with perception noise")
    p.add_argument("--noise-model", default="assumed", choices=tuple(NOISE_MODELS),
                   help="the noisy runs' noise: assumed (the model's first values) or kitti (the shipped detector's "
                        "misses and ranging errors measured on KITTI, benchmarks/perception_noise.py)")
    p.add_argument("--veto", default="auto", choices=VETOES,
                   help="policy+veto's veto: auto (braking check on exact observations, fixed headway on noisy "
                        "ones), headway or braking")
    p.add_argument("--workers", type=int, default=2, help="processes (one agent per process)")
    p.add_argument("--output", default="runs/planner_eval")
    return p


def main(args: argparse.Namespace) -> int:
    if args.episodes <= 0:
        raise UserInputError("--episodes must be positive")
    agents = [a.strip() for a in args.agents.split(",") if a.strip()]
    for a in agents:
        if a not in AGENTS:
            raise UserInputError(f"--agents: unknown agent {a!r} (choose from {', '.join(AGENTS)})")
    try:
        import highway_env  # noqa: F401
    except ImportError:
        raise UserInputError("planner evaluation needs the rl extra: pip install -e '.[rl]'") from None
    speeds = DEFAULT_TARGET_SPEEDS_MPS
    if any(a.startswith("policy") for a in agents):
        policy = load_sim_policy(args.policy)  # fail early, with the one-line reason
        speeds = policy.target_speeds_mps  # every agent drives the action set the policy was trained with
    jobs = [(a, args.policy, args.env, args.episodes, args.seed, False, speeds, args.veto, args.noise_model)
            for a in agents]
    if not args.no_noise:
        jobs += [(a, args.policy, args.env, args.episodes, args.seed, True, speeds, args.veto, args.noise_model)
                 for a in agents if a.startswith("policy")]
    results: dict[str, dict] = {}
    if args.workers > 1 and len(jobs) > 1:
        import multiprocessing

        # spawn, not fork: the parent has torch's thread pool running (policy loaded), which a fork can deadlock.
        with ProcessPoolExecutor(max_workers=args.workers, mp_context=multiprocessing.get_context("spawn")) as pool:
            done = list(pool.map(_job, jobs))
    else:
        done = [_job(j) for j in jobs]
    for name, noise, metrics in done:
        results[name + (" (noisy obs)" if noise else "")] = metrics
    report = {"env": args.env, "episodes": args.episodes, "first_seed": args.seed,
              "ego_target_speeds_mps": list(speeds), "veto_choice": args.veto,
              "noise_model": None if args.no_noise else args.noise_model,
              "policy": None if not any(a.startswith("policy") for a in agents) else
              {"path": policy.path, "sha256": policy.sha256}, "agents": results}
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    (out / "planner_eval.json").write_text(json.dumps(report, indent=2) + "\n")
    header = (f"{'agent':<26}{'crash rate':>11}{'speed m/s':>11}{'return':>9}{'lane chg/ep':>13}{'veto rate':>11}"
              f"{'veto':>9}{'veto would':>12}")
    print(header)
    for name, m in results.items():
        would = "-" if m.get("veto_would_change") is None else f"{m['veto_would_change']:.2%}"
        print(f"{name:<26}{m['crash_rate']:>11.2%}{m['mean_speed_mps']:>11.2f}{m['mean_return']:>9.2f}"
              f"{m['lane_changes_per_episode']:>13.2f}{m['veto_rate']:>11.2%}{m['veto'] or '-':>9}{would:>12}")
    print("veto rate: the share of the policy's own actions the veto changed (behind it); veto would: the share it "
          "would have changed, judging the policy alone")
    print(json.dumps(report, indent=2))
    return 0


def cli(argv: list[str] | None = None) -> int:
    return run_main(main, get_args_parser().parse_args(argv))


if __name__ == "__main__":
    sys.exit(cli())
