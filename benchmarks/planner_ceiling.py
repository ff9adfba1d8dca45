"""How fast can the ego go in highway-fast-v0 without crashing? A look-ahead planner that sees the future.

    python benchmarks/planner_ceiling.py [--episodes 30] [--seed 20000] [--horizon 4] [--depth 1]
                                         [--score reward|speed] [--crash-cost C] [--veto] [--workers 2]
                                         [--output benchmarks/out/planner_ceiling.json]

Not a planner for the car: the teacher of :mod:`perception.planning.sim.teacher` drives. At every decision it
deep-copies the simulator (other drivers included, so it knows exactly what they will do), tries each of the
five meta-actions followed by ``horizon - 1`` IDLE steps (with ``--depth 2``: followed by the best of the five
actions, each followed by IDLE), and takes the action whose roll-out scores best
(discount 0.9 per step; a collision costs 10 returns, or 1000 m/s with ``--score speed``, and ends that
roll-out; ``--crash-cost`` changes that). Ties go FASTER, IDLE, LANE_LEFT, LANE_RIGHT, SLOWER. With ``--veto`` it
drives behind the safety veto, as our policy does: it chooses the proposal whose executed action scores best. It
answers whether the planner targets of issue #6 (<= 2 % crashes, >= 25 m/s, return >= 24) can be reached at all
in this traffic with these actions: a policy that only sees the Kinematics observation now has less to go on.
Episodes use the development seeds (20000+ by default; the held-out seeds 100000+ stay for the policy).
Prints a table and writes JSON: crash rate, mean speed over all steps, mean return (the simulator's reward).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from perception.cli import OneLineArgumentParser  # noqa: E402
from perception.planning.sim.teacher import action_scores, best_action, episode_summary  # noqa: E402


def run_episodes(job: tuple[list[int], int, str, int, float | None, bool]) -> list[dict]:
    seeds, horizon, score, depth, crash_cost, with_veto = job
    import gymnasium as gym
    import highway_env  # noqa: F401  (registers the environments)

    from perception.planning.veto import SafetyVeto

    env = gym.make("highway-fast-v0")
    veto = SafetyVeto()
    out = []
    for seed in seeds:
        obs, _ = env.reset(seed=seed)
        previous, done, total, speeds, vetoed, info = None, False, 0.0, [], 0, {}
        while not done:
            scores = action_scores(env.unwrapped, horizon, score, depth, crash_cost)
            if with_veto:  # choose among what the veto lets through: the score of what it executes per proposal
                decisions = [veto.check(obs, a, previous_obs=previous) for a in range(5)]
                decision = decisions[best_action(scores[[d.action for d in decisions]])]
                action, previous = decision.action, obs
                vetoed += decision.vetoed
            else:
                action = best_action(scores)
            obs, reward, terminated, truncated, info = env.step(action)
            total += float(reward)
            speeds.append(float(info["speed"]))
            done = terminated or truncated
        out.append({"seed": seed, "return": total, "steps": len(speeds), "mean_speed_mps": float(np.mean(speeds)),
                    "crashed": bool(info.get("crashed")), "veto_rate": vetoed / len(speeds)})
    env.close()
    return out


def get_args_parser() -> argparse.ArgumentParser:
    p = OneLineArgumentParser(prog="python benchmarks/planner_ceiling.py", description=__doc__.split("\n\n")[0])
    p.add_argument("--episodes", type=int, default=30)
    p.add_argument("--seed", type=int, default=20_000, help="first episode seed (development seeds)")
    p.add_argument("--horizon", type=int, default=4, help="roll-out length in decisions (1 s each)")
    p.add_argument("--depth", type=int, default=1, help="decisions searched per roll-out (then IDLE); 2 costs ~5x")
    p.add_argument("--score", choices=("reward", "speed"), default="reward",
                   help="what a roll-out maximises: the simulator's reward, or the ego's speed")
    p.add_argument("--crash-cost", type=float, default=None,
                   help="score lost by a collision in a roll-out (default 10 returns, or 1000 with --score speed)")
    p.add_argument("--veto", action="store_true",
                   help="drive behind the safety veto (choosing among the actions it executes)")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--output", default=str(REPO / "benchmarks" / "out" / "planner_ceiling.json"))
    return p


def main(args: argparse.Namespace) -> int:
    if args.crash_cost is not None and args.crash_cost <= 0:
        print("error: --crash-cost must be positive", file=sys.stderr)
        return 2
    if args.episodes <= 0 or args.horizon <= 0 or args.workers <= 0 or not 1 <= args.depth <= args.horizon:
        print("error: --episodes, --horizon and --workers must be positive, --depth within [1, --horizon]",
              file=sys.stderr)
        return 2
    try:
        import highway_env  # noqa: F401
    except ImportError:
        print("error: needs the rl extra: pip install -e '.[rl]'", file=sys.stderr)
        return 2
    out = Path(args.output)
    try:  # before minutes of simulation, not after
        out.parent.mkdir(parents=True, exist_ok=True)
        out.touch()
    except OSError as e:
        print(f"error: cannot write --output {out}: {e.strerror}", file=sys.stderr)
        return 2
    seeds = list(range(args.seed, args.seed + args.episodes))
    jobs = [(seeds[i::args.workers], args.horizon, args.score, args.depth, args.crash_cost, args.veto)
            for i in range(min(args.workers, len(seeds)))]
    t0 = time.perf_counter()
    if len(jobs) > 1:
        import multiprocessing

        with ProcessPoolExecutor(len(jobs), mp_context=multiprocessing.get_context("spawn")) as pool:
            episodes = [e for part in pool.map(run_episodes, jobs) for e in part]
    else:
        episodes = run_episodes(jobs[0])
    episodes.sort(key=lambda e: e["seed"])
    summary = {**episode_summary(episodes),
               "episodes_at_or_above_25_mps": int(sum(e["mean_speed_mps"] >= 25.0 for e in episodes))}
    wall_s = time.perf_counter() - t0
    report = {"date": dt.datetime.now().isoformat(timespec="seconds"), "machine": platform.machine(),
              "cpus": os.cpu_count(), "env": "highway-fast-v0", "first_seed": args.seed, "horizon": args.horizon,
              "depth": args.depth, "score": args.score, "crash_cost": args.crash_cost,
              "veto": args.veto, "wall_s": round(wall_s, 1), "summary": summary,
              "per_episode": episodes}
    print(f"{'planner':<44}{'episodes':>9}{'crash rate':>11}{'speed m/s':>11}{'return':>9}{'>=25 m/s':>9}")
    cost = (f", crash {args.crash_cost:g}" if args.crash_cost is not None else "") + (", veto" if args.veto else "")
    name = f"look-ahead oracle H={args.horizon} D={args.depth} ({args.score}{cost})"
    print(f"{name:<44}{summary['episodes']:>9}{summary['crash_rate']:>11.1%}{summary['mean_speed_mps']:>11.2f}"
          f"{summary['mean_return']:>9.2f}{summary['episodes_at_or_above_25_mps']:>9}")
    out.write_text(json.dumps(report, indent=1) + "\n")
    print(f"wrote {out} ({wall_s:.0f} s)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(get_args_parser().parse_args()))
