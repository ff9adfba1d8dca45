"""The look-ahead teacher (simulator copies) and the DAgger distillation of it into a policy file."""

from __future__ import annotations

import json

import numpy as np
import pytest

from conftest import run_cli
from perception.planning.policy import load_policy
from perception.planning.veto import FASTER, IDLE, LANE_LEFT, SLOWER


def _env(seed: int):
    pytest.importorskip("highway_env", reason="highway-env not installed (pip install -e '.[rl]')")
    from perception.planning.sim.envs import make_env

    env = make_env("highway-fast-v0")
    env.reset(seed=seed)
    return env


def test_teacher_scores_are_what_the_simulator_then_pays_and_leave_it_untouched():
    """A one-step roll-out on the copy scores exactly the reward the real step then pays; the real simulator does
    not move while the teacher plays its five futures."""
    from perception.planning.sim.teacher import action_scores

    for action in (FASTER, IDLE, LANE_LEFT, SLOWER):
        env = _env(3)
        before = env.unwrapped.vehicle.position.copy(), env.unwrapped.time
        scores = action_scores(env.unwrapped, horizon=1)
        assert np.array_equal(env.unwrapped.vehicle.position, before[0]) and env.unwrapped.time == before[1]
        _, reward, _, _, info = env.step(action)
        assert not info["crashed"]
        assert scores[action] == pytest.approx(float(reward), abs=1e-6)


def test_teacher_sees_a_collision_coming_and_avoids_it():
    """Drive FASTER blindly until a 4 s roll-out of FASTER ends in a crash: the teacher then prefers something
    else, and that choice does not crash in the next second."""
    from perception.planning.sim.teacher import CRASH_COST, action_scores, best_action

    for seed in range(5):
        env = _env(seed)
        for _ in range(25):
            scores = action_scores(env.unwrapped, horizon=4)
            if scores[FASTER] < -CRASH_COST / 2:
                choice = best_action(scores)
                assert choice != FASTER and scores[choice] > scores[FASTER]
                _, _, _, _, info = env.step(choice)
                assert not info["crashed"]
                return
            _, _, terminated, truncated, _ = env.step(FASTER)
            if terminated or truncated:
                break
    pytest.fail("no seed brought FASTER into a foreseeable crash")


def test_searching_the_next_decision_never_scores_below_idling_after_it():
    """Depth 2 tries IDLE as the next decision among the five, so for every first action it scores at least what
    depth 1 (the action, then IDLE) scores; somewhere along a drive it finds strictly more."""
    from perception.planning.sim.teacher import action_scores, best_action

    env = _env(20000)
    gained = False
    for _ in range(6):
        one = action_scores(env.unwrapped, horizon=3, depth=1)
        two = action_scores(env.unwrapped, horizon=3, depth=2)
        assert np.all(two >= one - 1e-5)
        gained |= bool(np.any(two > one + 1e-3))
        _, _, terminated, truncated, _ = env.step(best_action(two))
        if terminated or truncated:
            break
    assert gained


def test_student_learns_the_best_action_from_the_observation():
    """Labels where the best action depends on the observation (the first vehicle's x): the fitted student's
    argmax agrees with the teacher's on held-back labels."""
    from perception.planning.sim.distill import fit_student

    rng = np.random.default_rng(0)
    obs = rng.uniform(-1, 1, size=(1500, 5, 5)).astype(np.float32)
    scores = np.zeros((1500, 5), dtype=np.float32)
    near = obs[:, 1, 1] < 0.0  # a vehicle "close ahead": slowing down scores best, else speeding up
    scores[near, SLOWER], scores[~near, FASTER] = 1.0, 1.0
    _, fit = fit_student(obs, scores, epochs=30, seed=0)
    assert fit["val_agreement"] > 0.9


def test_distill_cli_writes_a_policy_the_evaluator_loads(tmp_path):
    pytest.importorskip("highway_env", reason="highway-env not installed (pip install -e '.[rl]')")
    out = tmp_path / "d"
    r = run_cli("perception.planning.sim.distill", "--iterations", "2", "--episodes", "1", "--epochs", "2",
                "--workers", "1", "--horizon", "2", "--output", str(out))
    assert r.returncode == 0, r.stderr
    summary = json.loads((out / "distill_summary.json").read_text())
    first, second = summary["iterations"]
    assert first["driver"] == "teacher" and second["driver"] == "student+veto"
    assert second["labels"] == first["labels_new"] + second["labels_new"]
    labels = np.load(out / "labels_1.npz")
    assert labels["obs"].shape[1:] == (5, 5) and labels["scores"].shape == (second["labels_new"], 5)
    for scores, raw in zip(labels["scores"], labels["raw_scores"]):  # targets: the score of what the veto executes
        assert all(np.isclose(raw, v).any() for v in scores)
    policy = load_policy(str(out / "policy.pt"))
    assert policy.metadata["trainer"] == "perception.planning.sim.distill"
    assert 0 <= policy.act(labels["obs"][0]) < 5


@pytest.mark.parametrize("args", [["--seed", "20000"], ["--episodes", "0"]])
def test_distill_cli_rejects_bad_input(tmp_path, args):
    r = run_cli("perception.planning.sim.distill", *args, "--output", str(tmp_path / "d"))
    assert r.returncode == 2
    assert r.stderr.strip().count("\n") == 0 and "error" in r.stderr
