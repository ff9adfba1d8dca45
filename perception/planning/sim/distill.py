"""Teach the Q-network what a planner that sees the future would do (DAgger on the look-ahead teacher).

    python -m perception.planning.sim.distill [--iterations 3] [--episodes 60] [--seed 0] [--horizon 4] [--depth 1]
                                              [--workers 2] [--epochs 100] [--init-policy NAME|FILE]
                                              [--output runs/planner_distill]

The teacher (:mod:`perception.planning.sim.teacher`) scores all five actions at every decision by playing them on a
copy of the simulator (each followed by IDLE; with ``--depth 2`` by the best next action, then IDLE); the student is the same MLP as the DQN policy (Kinematics observation float32[5, 5] ->
five Q-values) and learns to predict those scores (Huber loss) from the observation alone. It always drives
behind the safety veto, so its target for an action is the teacher's score of what the veto executes when that
action is proposed (regressing the raw scores made it timid: an action the veto would have made safe looked
like a crash, and the student slowed to IDM speeds). Iteration 0 is driven
by the teacher (or by ``--init-policy`` + veto when given); every later iteration is driven by the latest student
with the safety veto, as on the road, and the teacher labels the states the student reached (DAgger: the student
learns to recover from its own mistakes). Each iteration trains a new student on all labels so far.
Episodes use training seeds (``seed``, ``seed + 1``, ...; development and held-out seeds start at 10000 and
100000). The result is an ordinary policy file: evaluate it with ``perception.planning.sim.evaluate --policy``.

Writes into the output folder: ``labels_<i>.npz`` (obs, scores, raw_scores, driver actions), ``student_<i>.pt`` and
``policy.pt`` (the last student), ``distill_summary.json`` (per iteration: driver's crash rate, speed and
return, labels, validation loss, agreement with and regret against the teacher; wall time).
Exit codes: 0 done, 2 bad input, 130 interrupted (the students written so far stay).
"""

from __future__ import annotations

import argparse
import json
import shutil
import signal
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from perception.cli import OneLineArgumentParser, run_main
from perception.errors import UserInputError
from perception.planning.observation import FEATURES, KinematicsObservation
from perception.planning.policy import Policy, build_q_network, save_policy
from perception.planning.sim.config import DQNConfig
from perception.planning.sim.envs import make_env
from perception.planning.sim.policies import load_sim_policy
from perception.planning.sim.teacher import action_scores, best_action, episode_summary
from perception.planning.veto import SafetyVeto

NET_ARCH = DQNConfig().net_arch  # the DQN policy's layout, so a student loads wherever a policy does
OBS_SHAPE = (KinematicsObservation().vehicles_count, len(FEATURES))  # (5, 5)


def drive_and_label(job: dict[str, Any]) -> dict[str, Any]:
    """Drive the episodes of ``job["seeds"]`` and label every decision with the teacher's action scores.

    The driver is the teacher (``job["student"]`` None) or the student Q-network (state dict of numpy arrays)
    behind the safety veto. Returns obs float32[N, 5, 5]; raw_scores float32[N, 5], the teacher's score of each
    action; scores float32[N, 5], the teacher's score of the action the veto executes when that action is
    proposed (the student's targets: it always drives behind the veto); actions int[N], executed; and
    per-episode metrics of the driver.
    """
    import torch

    torch.set_num_threads(1)
    student = None
    if job["student"] is not None:
        student = Policy(job["student"], tuple(job["net_arch"]), OBS_SHAPE)
    veto = SafetyVeto()
    env = make_env(job["env_id"])
    obs_list, score_list, raw_list, act_list, episodes = [], [], [], [], []
    for seed in job["seeds"]:
        obs, _ = env.reset(seed=seed)
        previous, done, total, speeds, info = None, False, 0.0, [], {}
        while not done:
            raw = action_scores(env.unwrapped, job["horizon"], depth=job["depth"])
            executed = [veto.check(obs, a, previous_obs=previous).action for a in range(5)]
            scores = raw[executed]  # what proposing each action to the veto earns
            action = best_action(raw) if student is None else executed[student.act(obs)]
            obs_list.append(np.asarray(obs, dtype=np.float32))
            score_list.append(scores)
            raw_list.append(raw)
            act_list.append(action)
            previous = obs
            obs, reward, terminated, truncated, info = env.step(action)
            total += float(reward)
            speeds.append(float(info["speed"]))
            done = terminated or truncated
        episodes.append({"seed": seed, "return": total, "steps": len(speeds),
                         "mean_speed_mps": float(np.mean(speeds)), "crashed": bool(info.get("crashed"))})
    env.close()
    return {"obs": np.stack(obs_list), "scores": np.stack(score_list), "raw_scores": np.stack(raw_list),
            "actions": np.asarray(act_list), "episodes": episodes}


def fit_student(obs: np.ndarray, scores: np.ndarray, *, epochs: int, seed: int, net_arch: tuple[int, ...] = NET_ARCH,
                val_share: float = 0.1) -> tuple[dict[str, Any], dict[str, float]]:
    """Train an MLP (obs float32[N, 5, 5] -> scores float32[N, 5]) with a Huber loss; returns its state dict and
    validation numbers on a random ``val_share`` of the labels: the loss, ``val_agreement`` (share where the
    student's best action is one of the teacher's best: ties are common, e.g. LANE_LEFT = IDLE in the left lane)
    and ``val_regret`` (mean teacher score lost by the student's choice)."""
    import torch

    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    x = torch.as_tensor(obs.reshape(len(obs), -1), dtype=torch.float32)
    y = torch.as_tensor(scores, dtype=torch.float32)
    order = torch.randperm(len(x), generator=gen)
    n_val = max(1, int(val_share * len(x)))
    val, train = order[:n_val], order[n_val:]
    net = build_q_network(net_arch, x.shape[1], 5)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, epochs)
    loss_fn = torch.nn.SmoothL1Loss()
    for _ in range(epochs):
        net.train()
        for idx in train[torch.randperm(len(train), generator=gen)].split(256):
            opt.zero_grad()
            loss = loss_fn(net(x[idx]), y[idx])
            loss.backward()
            opt.step()
        sched.step()
    net.eval()
    with torch.no_grad():
        pred = net(x[val])
        val_loss = float(loss_fn(pred, y[val]))
    val_scores = scores[val.numpy()]
    chosen = val_scores[np.arange(len(val_scores)), pred.argmax(1).numpy()]
    regret = val_scores.max(1) - chosen  # teacher's score lost by the student's choice (ties cost nothing)
    return dict(net.state_dict()), {"val_loss": val_loss, "val_agreement": float(np.mean(regret < 1e-3)),
                                    "val_regret": float(np.mean(regret)), "train_labels": len(train)}


def get_args_parser() -> argparse.ArgumentParser:
    p = OneLineArgumentParser(prog="python -m perception.planning.sim.distill", description=__doc__.split("\n\n")[0])
    p.add_argument("--iterations", type=int, default=3, help="DAgger iterations (the first driven by the teacher)")
    p.add_argument("--episodes", type=int, default=60, help="episodes per iteration")
    p.add_argument("--seed", type=int, default=0, help="first training seed")
    p.add_argument("--horizon", type=int, default=4, help="teacher roll-out length in decisions (1 s each)")
    p.add_argument("--depth", type=int, default=1, help="decisions the teacher searches per roll-out (2 costs ~5x)")
    p.add_argument("--epochs", type=int, default=100, help="passes over the labels per student")
    p.add_argument("--init-policy", default=None, help="drive iteration 0 with this policy + veto, not the teacher")
    p.add_argument("--workers", type=int, default=2, help="simulator processes")
    p.add_argument("--env", default="highway-fast-v0")
    p.add_argument("--output", default="runs/planner_distill")
    return p


def main(args: argparse.Namespace) -> int:
    if min(args.iterations, args.episodes, args.horizon, args.epochs, args.workers) <= 0:
        raise UserInputError("--iterations, --episodes, --horizon, --epochs and --workers must be positive")
    if not 1 <= args.depth <= args.horizon:
        raise UserInputError("--depth must be within [1, --horizon]")
    if args.seed >= 10_000:
        raise UserInputError("--seed: use training seeds (below 10000; development and held-out seeds start there)")
    try:
        import highway_env  # noqa: F401
    except ImportError:
        raise UserInputError("distillation needs the rl extra: pip install -e '.[rl]'") from None
    import multiprocessing

    student_state = None
    if args.init_policy is not None:
        student_state = {k: v.numpy() for k, v in load_sim_policy(args.init_policy).q_net.state_dict().items()}
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    data: dict[str, list[np.ndarray]] = {"obs": [], "scores": []}
    report: dict[str, Any] = {"config": vars(args), "iterations": []}
    # Workers ignore Ctrl-C: the parent stops them and keeps what the finished iterations wrote.
    pool = multiprocessing.get_context("spawn").Pool(args.workers, initializer=signal.signal,
                                                     initargs=(signal.SIGINT, signal.SIG_IGN))
    try:
        for it in range(args.iterations):
            seeds = list(range(args.seed + it * args.episodes, args.seed + (it + 1) * args.episodes))
            jobs = [{"seeds": seeds[w::args.workers], "horizon": args.horizon, "depth": args.depth,
                     "student": student_state,
                     "net_arch": NET_ARCH, "env_id": args.env} for w in range(min(args.workers, len(seeds)))]
            parts = list(pool.map(drive_and_label, jobs))
            obs = np.concatenate([p["obs"] for p in parts])
            scores = np.concatenate([p["scores"] for p in parts])
            actions = np.concatenate([p["actions"] for p in parts])
            raw = np.concatenate([p["raw_scores"] for p in parts])
            episodes = sorted((e for p in parts for e in p["episodes"]), key=lambda e: e["seed"])
            np.savez_compressed(out / f"labels_{it}.npz", obs=obs, scores=scores, raw_scores=raw, actions=actions)
            data["obs"].append(obs)
            data["scores"].append(scores)
            state, fit = fit_student(np.concatenate(data["obs"]), np.concatenate(data["scores"]),
                                     epochs=args.epochs, seed=args.seed + it)
            student_state = {k: v.numpy() for k, v in state.items()}
            meta = {"trainer": "perception.planning.sim.distill", "iteration": it, "teacher_horizon": args.horizon,
                    "teacher_depth": args.depth,
                    "labels": int(sum(len(o) for o in data["obs"])), "fit": fit, "seeds": [seeds[0], seeds[-1]]}
            sha = save_policy(out / f"student_{it}.pt", state, NET_ARCH, OBS_SHAPE, meta)
            shutil.copyfile(out / f"student_{it}.pt", out / "policy.pt")
            row = {"iteration": it, "driver": "teacher" if it == 0 and args.init_policy is None else "student+veto",
                   "driver_metrics": episode_summary(episodes), "labels_new": len(obs), **meta, "sha256": sha,
                   "wall_s": round(time.perf_counter() - t0, 1)}
            report["iterations"].append(row)
            (out / "distill_summary.json").write_text(json.dumps(report, indent=1) + "\n")
            d = row["driver_metrics"]
            print(f"iteration {it}: driver {row['driver']:<13} crashes {d['crash_rate']:6.1%} speed "
                  f"{d['mean_speed_mps']:5.2f} m/s return {d['mean_return']:6.2f} | labels {meta['labels']:>6} "
                  f"val loss {fit['val_loss']:.3f} agreement {fit['val_agreement']:.1%} "
                  f"regret {fit['val_regret']:.2f} | {row['wall_s']:.0f} s", flush=True)
    except KeyboardInterrupt:
        pool.terminate()
        done = len(report["iterations"])
        print(f"interrupted: {done} iteration(s) finished; their labels and students stay in {out}", file=sys.stderr)
        return 130
    pool.close()
    pool.join()
    print(f"wrote {out / 'policy.pt'} and {out / 'distill_summary.json'}")
    return 0


def cli(argv: list[str] | None = None) -> int:
    return run_main(main, get_args_parser().parse_args(argv))


if __name__ == "__main__":
    sys.exit(cli())
