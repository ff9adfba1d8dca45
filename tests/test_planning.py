"""The planner: observation contract (same array as highway-env), safety veto, policy files, evaluation."""

from __future__ import annotations

import json

import numpy as np
import pytest

from conftest import REPO, run_cli
from perception.errors import WeightsError
from perception.planning.sim.noise import PerceptionNoise
from perception.planning.observation import LANE_WIDTH_M, KinematicsObservation, VehicleState
from perception.planning.policy import ACTIONS, build_q_network, load_policy, save_policy
from perception.planning.veto import FASTER, IDLE, LANE_LEFT, LANE_RIGHT, SLOWER, SafetyVeto, braking_gaps_m

CONTRACT = KinematicsObservation()


def _needs_highway_env():
    return pytest.importorskip("highway_env", reason="highway-env not installed (pip install -e '.[rl]')")


def test_contract_reproduces_the_simulator_observation_exactly():
    _needs_highway_env()
    from perception.planning.sim.envs import make_env, observation_space

    env = make_env("highway-fast-v0")
    rng = np.random.default_rng(0)
    steps = 0
    for seed in range(3):
        obs, _ = env.reset(seed=seed)
        done = False
        while not done:
            ego, others = CONTRACT.states_from_simulator(env)
            np.testing.assert_array_equal(CONTRACT.observe(ego, others), obs)
            assert env.observation_space == observation_space(CONTRACT)
            obs, _, terminated, truncated, _ = env.step(int(rng.integers(5)))
            done = terminated or truncated
            steps += 1
    assert steps > 10


@pytest.mark.parametrize("env_id,lanes", [("highway-fast-v0", 3), ("highway-v0", 4), ("merge-v0", 2)])
def test_each_roads_observation_is_read_on_its_own_scale(env_id, lanes):
    """highway-env scales the lateral range by the road's lanes; read with highway-fast's, merge-v0's ego sat
    between lanes and the veto never braked for the car ahead (100 % crashes)."""
    _needs_highway_env()
    from perception.planning.sim.envs import make_env, road_contract

    env = make_env(env_id)
    obs, _ = env.reset(seed=20000)
    contract = road_contract(env)
    assert contract.lanes_count == lanes
    for _ in range(3):
        ego, others = contract.states_from_simulator(env)
        np.testing.assert_allclose(contract.observe(ego, others), obs, atol=1e-6)
        obs, *_ = env.step(1)


@pytest.mark.parametrize("env_id", ["merge-v0", "highway-v0"])
def test_the_noise_model_perturbs_metres_on_each_roads_own_scale(env_id):
    """1 m of lateral noise is 1 m on every road (it was 0.67 m on merge-v0 and 1.33 m on highway-v0 when the
    noise wrapper read every road on highway-fast's scale)."""
    _needs_highway_env()
    from perception.planning.sim.envs import make_env, road_contract

    lateral_only = PerceptionNoise(miss_near=0.0, miss_far=0.0, x_sigma_fraction=0.0, x_sigma_m=0.0, y_sigma_m=1.0,
                                   vx_sigma_mps=0.0, vy_sigma_mps=0.0, ego_speed_sigma_mps=0.0)
    env = make_env(env_id, noise=lateral_only, seed=0)
    errors = []
    for seed in (20000, 20001):
        noisy, _ = env.reset(seed=seed)
        contract = road_contract(env)
        for _ in range(10):
            _, true_others = contract.states_from_simulator(env)
            _, seen = contract.decode(noisy)
            errors += [s.y_m - t.y_m for s, t in zip(seen, true_others) if abs(s.y_m) < 0.9 * LANE_WIDTH_M * contract.lanes_count]
            noisy, _, terminated, truncated, _ = env.step(1)
            if terminated or truncated:
                break
    assert len(errors) > 30
    assert 0.8 < float(np.std(errors)) < 1.25


def test_on_merge_v0_the_veto_brakes_for_the_car_ahead():
    """Always FASTER on merge-v0: behind the veto, read on the road's scale, the ego brakes and lives longer."""
    _needs_highway_env()
    from perception.planning.sim.envs import make_env
    from perception.planning.sim.evaluate import PolicyAgent

    agent = PolicyAgent(None, veto=True)
    env = make_env("merge-v0", target_speeds_mps=agent.target_speeds_mps)
    obs, _ = env.reset(seed=20000)
    agent.reset(env)
    assert agent.veto.lanes_count == 2 and agent.contract.lanes_count == 2
    vetoes = 0
    for _ in range(8):
        decision = agent.veto.check(obs, FASTER, agent.contract, previous_obs=agent.previous_obs)
        agent.previous_obs = obs
        vetoes += decision.vetoed
        obs, _, done, trunc, info = env.step(decision.action)
        assert not info["crashed"]
        if done or trunc:
            break
    assert vetoes > 0


def test_video_tracks_enter_in_simulator_axes():
    """Road frame y is LEFT, the simulator's y is RIGHT: a car 3.5 m to the left shows as y = -3.5 m."""
    obs = CONTRACT.from_road_tracks([(30.0, 3.5, -2.0, 0.0), (80.0, 0.0, 0.0, 0.0)], ego_speed_mps=25.0,
                                    ego_lane_index=1)
    ego, others = CONTRACT.decode(obs)
    assert ego.y_m == pytest.approx(4.0) and ego.vx_mps == pytest.approx(25.0)
    assert others[0].x_m == pytest.approx(30.0) and others[0].y_m == pytest.approx(-3.5)
    assert others[0].vx_mps == pytest.approx(-2.0)
    assert others[1].x_m == pytest.approx(80.0)


def test_contract_keeps_the_nearest_four_and_drops_far_or_behind():
    others = [VehicleState(x, 0.0, 0.0, 0.0) for x in (150.0, 20.0, -30.0, 60.0, 250.0, 40.0, 100.0)]
    _, seen = CONTRACT.decode(CONTRACT.observe(VehicleState(0, 0, 25, 0), others))
    assert [round(v.x_m) for v in seen] == [20, 40, 60, 100]


def _obs(*others, ego_speed=25.0, lane=1):
    return CONTRACT.observe(VehicleState(200.0, 4.0 * lane, ego_speed, 0.0), list(others))


def test_veto_slows_down_when_closing_fast_on_the_car_ahead():
    veto = SafetyVeto()
    obs = _obs(VehicleState(20.0, 0.0, -8.0, 0.0), ego_speed=30.0)  # 15 m bumper gap, closing at 8 m/s: TTC 1.9 s
    d = veto.check(obs, FASTER)
    assert d.vetoed and d.action == SLOWER and "time-to-collision" in d.reason
    assert veto.check(obs, SLOWER).vetoed is False


def test_veto_blocks_a_lane_change_into_an_occupied_gap():
    veto = SafetyVeto()
    obs = _obs(VehicleState(2.0, -4.0, 0.0, 0.0))  # alongside, one lane to the left
    d = veto.check(obs, LANE_LEFT)
    assert d.vetoed and d.action == IDLE and "left" in d.reason
    assert veto.check(obs, LANE_RIGHT).vetoed is False


def test_veto_steers_into_a_free_lane_when_it_cannot_brake_further():
    """At the simulator's lowest target speed SLOWER cannot help: a free neighbour lane is the way out."""
    veto = SafetyVeto()
    slow_car = VehicleState(15.0, 0.0, -4.0, 0.0)  # 10 m gap, closing at 4 m/s
    d = veto.check(_obs(slow_car, VehicleState(5.0, -4.0, 0.0, 0.0), ego_speed=20.0), FASTER)  # left lane taken
    assert d.vetoed and d.action == LANE_RIGHT and "lane change right" in d.reason
    d = veto.check(_obs(slow_car, ego_speed=20.0, lane=2), IDLE)  # rightmost lane: only left is a lane
    assert d.action == LANE_LEFT


def test_veto_escapes_a_slow_lead_into_an_opening_gap():
    # the case behind most development-seed crashes: rightmost lane at the lowest speed (20 m/s), a car 3 m ahead
    # at 19 m/s (SLOWER cannot match it), and in the left lane a car 12 m ahead that drives faster than the ego
    veto = SafetyVeto()
    trapped = _obs(VehicleState(8.0, 0.0, -1.0, 0.0), VehicleState(17.0, -4.0, 1.2, 0.0), ego_speed=20.0, lane=2)
    d = veto.check(trapped, SLOWER)
    assert d.vetoed and d.action == LANE_LEFT and "lane change left" in d.reason
    # the same gap closing instead of opening is no escape: stay and slow down
    closing = _obs(VehicleState(8.0, 0.0, -1.0, 0.0), VehicleState(17.0, -4.0, -1.2, 0.0), ego_speed=20.0, lane=2)
    assert veto.check(closing, SLOWER).action == SLOWER


def test_veto_does_not_escape_into_the_lane_a_swerving_car_crosses():
    # from a development-seed crash: the ego in the rightmost lane, a car 1 m ahead two lanes to the left swerving
    # right at 6 m/s (predicted 1 s later in the ego's own lane). The middle lane lies on its path: escaping
    # left drove into it. The old check looked only at now and the prediction, and saw the middle lane free.
    veto = SafetyVeto()
    swerving = VehicleState(5.8, -7.0, -7.6, 6.2)
    obs = _obs(swerving, VehicleState(34.4, 0.0, -3.3, 0.0), VehicleState(56.7, -4.0, -4.0, 0.0),
               ego_speed=25.6, lane=2)
    assert veto.check(obs, SLOWER).action != LANE_LEFT
    assert veto.check(obs, LANE_LEFT).action != LANE_LEFT
    assert veto.check(obs, LANE_LEFT).vetoed


def test_veto_holds_a_car_the_detector_missed_for_one_step():
    # a car 30 m ahead in the ego's lane at 20 m/s (ego 25 m/s) vanishes from the next observation (a missed
    # detection): predicted 1 s on it is 25 m ahead, too close to speed up to 30 m/s
    veto = SafetyVeto()
    before = _obs(VehicleState(30.0, 0.0, -5.0, 0.0))
    now = _obs()  # empty road: the car was missed
    assert veto.check(now, FASTER).vetoed is False
    d = veto.check(now, FASTER, previous_obs=before)
    assert d.vetoed and d.action == SLOWER and "ahead" in d.reason


def test_veto_holds_only_vehicles_that_should_still_be_seen():
    veto = SafetyVeto()
    ego = VehicleState(200.0, 4.0, 25.0, 0.0)
    seen_now = [VehicleState(x, 4.0, 0.0, 0.0) for x in (10.0, 20.0, 30.0)] + [VehicleState(40.0, -4.0, 0.0, 0.0)]
    prev_tracked = VehicleState(27.0, 4.0, -5.0, 0.0)   # predicted at 22 m, 2 m from the car seen at 20 m
    prev_far = VehicleState(80.0, 4.0, 0.0, 0.0)        # predicted at 80 m: beyond the 4 seen, crowded out
    prev_behind = VehicleState(-8.0, 4.0, -5.0, 0.0)    # predicted 13 m behind: out of view
    held = veto.held_vehicles(ego, seen_now, ego, [prev_tracked, prev_far, prev_behind], 1.0, full=True)
    assert held == []
    prev_missed = VehicleState(15.0, -4.0, 0.0, 0.0)    # in the left lane, nothing seen near 15 m there now
    held = veto.held_vehicles(ego, seen_now, ego, [prev_missed], 1.0, full=True)
    assert len(held) == 1 and held[0].x_m == pytest.approx(15.0) and held[0].y_m == pytest.approx(-4.0)
    # the ego's own motion is taken out: ego 20 -> 30 m/s travels 25 m in 1 s, a 20 m/s car 20 m
    held = veto.held_vehicles(VehicleState(200.0, 4.0, 30.0, 0.0), [], VehicleState(200.0, 4.0, 20.0, 0.0),
                              [VehicleState(40.0, 0.0, 0.0, 0.0)], 1.0, full=False)
    assert held[0].x_m == pytest.approx(35.0) and held[0].vx_mps == pytest.approx(-10.0)


def test_veto_lets_the_policy_drive_on_a_free_road():
    veto = SafetyVeto()
    obs = _obs(VehicleState(120.0, 0.0, 0.0, 0.0))
    for action in range(5):
        assert veto.check(obs, action).vetoed is False


def test_noise_model_drops_and_perturbs_vehicles():
    obs = _obs(VehicleState(20.0, 0.0, -1.0, 0.0), VehicleState(70.0, 4.0, 2.0, 0.0))
    rng = np.random.default_rng(0)
    quiet = PerceptionNoise(miss_near=0, miss_far=0, x_sigma_fraction=0, x_sigma_m=0, y_sigma_m=0, vx_sigma_mps=0,
                            vy_sigma_mps=0, ego_speed_sigma_mps=0)
    np.testing.assert_allclose(quiet.apply(CONTRACT, obs, rng), obs, atol=1e-6)
    blind = PerceptionNoise(miss_near=1.0, miss_far=1.0)
    assert blind.apply(CONTRACT, obs, rng)[1:].sum() == 0
    noisy = PerceptionNoise(miss_near=0.0, miss_far=0.0)
    xs = [CONTRACT.decode(noisy.apply(CONTRACT, obs, rng))[1][0].x_m for _ in range(400)]
    assert np.std(xs) == pytest.approx(0.05 * 20 + 0.5, rel=0.15)  # range-proportional sigma at 20 m
    kept = [len(CONTRACT.decode(PerceptionNoise().apply(CONTRACT, obs, rng))[1]) for _ in range(400)]
    assert 1.5 < np.mean(kept) < 2.0  # 5 % of the near car and 25 % of the far one go missing


def test_measured_noise_sees_vehicles_nearer_and_spreads_with_range():
    """The kitti model: a box bottom is a vehicle's nearest face, so ranges come out 1.5 m short, ahead and behind."""
    from perception.planning.sim.noise import NOISE_MODELS

    kitti = NOISE_MODELS["kitti"]
    keep_all = PerceptionNoise(**{**kitti.__dict__, "miss_near": 0.0, "miss_far": 0.0})
    obs = _obs(VehicleState(40.0, 0.0, 0.0, 0.0), VehicleState(-8.0, 4.0, 0.0, 0.0))
    rng = np.random.default_rng(1)
    draws = [CONTRACT.decode(keep_all.apply(CONTRACT, obs, rng))[1] for _ in range(600)]
    ahead = np.array([min(d, key=lambda v: abs(v.x_m - 40)).x_m for d in draws])
    behind = np.array([min(d, key=lambda v: abs(v.x_m + 8)).x_m for d in draws])
    assert np.mean(ahead) == pytest.approx(40 - 1.51, abs=0.6) and np.std(ahead) == pytest.approx(0.166 * 40, rel=0.15)
    assert np.mean(behind) == pytest.approx(-8 + 1.51, abs=0.3)
    kept = [len(CONTRACT.decode(kitti.apply(CONTRACT, obs, rng))[1]) for _ in range(600)]
    assert np.mean(kept) == pytest.approx(2 * (1 - kitti.miss_near), abs=0.08)  # both within 50 m


def test_policy_file_round_trip_and_hash_errors(tmp_path):
    import torch

    torch.manual_seed(0)
    net = build_q_network((16,), 25, 5)
    path = tmp_path / "p.pt"
    save_policy(path, net.state_dict(), (16,), (5, 5), {"note": "test"})
    policy = load_policy(str(path))
    obs = _obs(VehicleState(20.0, 0.0, -1.0, 0.0))
    expected = net(torch.as_tensor(obs.reshape(1, -1)))[0].detach().numpy()
    np.testing.assert_allclose(policy.q_values(obs), expected, rtol=1e-6)
    assert policy.act(obs) == int(np.argmax(expected))
    (tmp_path / "bad.pt").write_bytes(b"not a torch file")
    with pytest.raises(WeightsError, match="bad.pt"):
        load_policy(str(tmp_path / "bad.pt"))
    with pytest.raises(WeightsError, match="cannot read"):
        load_policy(str(tmp_path / "missing.pt"))


def test_policy_files_load_from_their_numpy_copy_after_the_first_time(tmp_path, monkeypatch):
    """The first load reads the file with torch and leaves a numpy copy in the user cache; later loads use it (no
    torch at start-up); a damaged copy is ignored and rewritten; the copy gives the same Q-values."""
    import torch

    from perception.planning import policy as policy_module

    monkeypatch.setenv("PERCEPTION_CACHE_DIR", str(tmp_path / "cache"))
    torch.manual_seed(1)
    net = build_q_network((8, 8), 25, 5)
    path = tmp_path / "p.pt"
    save_policy(path, net.state_dict(), (8, 8), (5, 5), {"config": {"target_speeds_mps": [15, 20]}})
    first = load_policy(str(path))
    copy = tmp_path / "cache" / "policies" / f"{first.sha256[:16]}.npz"
    assert copy.is_file() and copy.with_name(copy.name + ".sha256").is_file()
    calls = []
    real = policy_module._from_torch_file
    monkeypatch.setattr(policy_module, "_from_torch_file", lambda *a: calls.append(1) or real(*a))
    again = load_policy(str(path))
    assert calls == [] and again.target_speeds_mps == (15.0, 20.0) and again.sha256 == first.sha256
    obs = _obs(VehicleState(20.0, 0.0, -1.0, 0.0))
    expected = net(torch.as_tensor(obs.reshape(1, -1)))[0].detach().numpy()
    np.testing.assert_allclose(again.q_values(obs), expected, rtol=1e-6)
    copy.write_bytes(copy.read_bytes()[:-7])  # damaged: read from the file again, the copy rewritten
    assert load_policy(str(path)).act(obs) == first.act(obs) and calls == [1]
    assert load_policy(str(path)).sha256 == first.sha256 and calls == [1]


def test_sb3_q_network_exports_to_the_same_q_values(tmp_path):
    pytest.importorskip("stable_baselines3", reason="stable-baselines3 not installed (pip install -e '.[rl]')")
    _needs_highway_env()
    from stable_baselines3 import DQN

    from perception.planning.sim.envs import make_env
    from perception.planning.sim.train import policy_from_sb3

    model = DQN("MlpPolicy", make_env("highway-fast-v0"), policy_kwargs={"net_arch": [32, 32]}, seed=0)
    state, arch = policy_from_sb3(model)
    save_policy(tmp_path / "p.pt", state, arch, (5, 5), {})
    policy = load_policy(str(tmp_path / "p.pt"))
    obs = _obs(VehicleState(20.0, 0.0, -1.0, 0.0), VehicleState(40.0, -4.0, 1.0, 0.0))
    import torch

    with torch.no_grad():
        sb3_q = model.policy.q_net(torch.as_tensor(obs[None]))[0].numpy()
    np.testing.assert_allclose(policy.q_values(obs), sb3_q, rtol=1e-5, atol=1e-6)
    assert ACTIONS[policy.act(obs)] == ACTIONS[int(model.predict(obs, deterministic=True)[0])]


@pytest.mark.parametrize("algorithm", ["qrdqn", "ppo"])
def test_qrdqn_and_ppo_export_to_a_policy_that_acts_as_they_do(tmp_path, algorithm):
    """QR-DQN's mean quantiles and PPO's actor logits become the same policy file as DQN's Q-network: the
    exported policy picks the action the SB3 model picks deterministically, on many observations."""
    pytest.importorskip("stable_baselines3", reason="stable-baselines3 not installed (pip install -e '.[rl]')")
    if algorithm == "qrdqn":
        pytest.importorskip("sb3_contrib", reason="sb3-contrib not installed (pip install -e '.[rl]')")
    _needs_highway_env()
    import torch

    from perception.planning.sim.config import DQNConfig, PlannerTrainConfig
    from perception.planning.sim.envs import make_env
    from perception.planning.sim.train import build_sb3_model, policy_from_sb3

    config = PlannerTrainConfig(algorithm=algorithm, dqn=DQNConfig(net_arch=(32, 32)), n_quantiles=7)
    model = build_sb3_model(config, make_env("highway-fast-v0"))
    for p in model.policy.parameters():  # fresh heads start near zero: spread them so the argmax is decisive
        torch.nn.init.normal_(p, std=0.3)
    state, arch = policy_from_sb3(model)
    assert arch == (32, 32)
    save_policy(tmp_path / "p.pt", state, arch, (5, 5), {"algorithm": algorithm})
    policy = load_policy(str(tmp_path / "p.pt"))
    rng = np.random.default_rng(0)
    observations = rng.uniform(-1, 1, (200, 5, 5)).astype(np.float32)
    ours = [policy.act(o) for o in observations]
    theirs = [int(model.predict(o, deterministic=True)[0]) for o in observations]
    assert ours == theirs and len(set(ours)) >= 3
    if algorithm == "qrdqn":
        with torch.no_grad():
            mean_q = model.policy.quantile_net(torch.as_tensor(observations[:5])).mean(1).numpy()
        np.testing.assert_allclose([policy.q_values(o) for o in observations[:5]], mean_q, rtol=1e-4, atol=1e-5)


def test_init_model_continues_a_run_of_its_algorithm_and_refuses_another(tmp_path):
    """A QR-DQN run's model.zip continues with its exact weights (its quantiles survive, which policy.pt's mean
    does not); a PPO file or a missing one is refused in one line."""
    pytest.importorskip("sb3_contrib", reason="sb3-contrib not installed (pip install -e '.[rl]')")
    _needs_highway_env()
    import torch

    from perception.errors import UserInputError
    from perception.planning.sim.config import DQNConfig, PlannerTrainConfig
    from perception.planning.sim.envs import make_env
    from perception.planning.sim.train import build_sb3_model, continue_from

    env = make_env("highway-fast-v0")
    small = DQNConfig(net_arch=(16, 16))
    first = build_sb3_model(PlannerTrainConfig(algorithm="qrdqn", dqn=small, n_quantiles=5, seed=1), env)
    first.save(str(tmp_path / "model.zip"))
    second = build_sb3_model(PlannerTrainConfig(algorithm="qrdqn", dqn=small, n_quantiles=5, seed=2), env)
    before = [p.clone() for p in second.policy.parameters()]
    sha = continue_from(second, str(tmp_path / "model.zip"))
    assert len(sha) == 64
    assert any(not torch.equal(a, b) for a, b in zip(before, second.policy.parameters()))
    for a, b in zip(first.policy.parameters(), second.policy.parameters()):
        assert torch.equal(a, b)
    ppo = build_sb3_model(PlannerTrainConfig(algorithm="ppo", dqn=small), env)
    ppo.save(str(tmp_path / "ppo.zip"))
    with pytest.raises(UserInputError, match="does not fit"):
        continue_from(second, str(tmp_path / "ppo.zip"))
    with pytest.raises(UserInputError, match="no such file"):
        continue_from(second, str(tmp_path / "missing.zip"))


def test_evaluate_cli_reports_the_three_agents(tmp_path):
    _needs_highway_env()
    from perception.planning.policy import DEFAULT_POLICY

    if DEFAULT_POLICY is None:
        pytest.skip("no policy shipped")
    proc = run_cli("perception.planning.sim.evaluate", "--episodes", "2", "--agents", "policy,idm,random", "--no-noise",
                   "--workers", "1", "--output", str(tmp_path), timeout=600)
    assert proc.returncode == 0, proc.stderr
    report = json.loads((tmp_path / "planner_eval.json").read_text())
    assert set(report["agents"]) == {"policy", "idm", "random"}
    for metrics in report["agents"].values():
        assert 0.0 <= metrics["crash_rate"] <= 1.0
        assert 0.0 < metrics["mean_speed_mps"] < 45.0
        assert metrics["episodes"] == 2
    assert report["policy"]["sha256"] == load_policy().sha256
    assert 0.0 <= report["agents"]["policy"]["veto_would_change"] <= 1.0
    assert report["agents"]["idm"]["veto_would_change"] is None
    assert "veto would" in proc.stdout


def test_the_policy_alone_is_judged_by_the_veto_without_being_changed():
    """The shipped policy presses FASTER into merge-v0's traffic: alone, the veto would change some of its actions
    (reported), but none is changed (its crash stays its own)."""
    _needs_highway_env()
    from perception.planning.sim.evaluate import evaluate_agent, make_agent

    alone = evaluate_agent(make_agent("policy"), "merge-v0", 1, seed=20000)
    assert alone["veto_rate"] == 0.0 and alone["veto"] is None
    assert alone["veto_would_change"] > 0.0 and alone["crash_rate"] == 1.0


def test_evaluate_cli_rejects_bad_input(tmp_path):
    proc = run_cli("perception.planning.sim.evaluate", "--episodes", "0", "--output", str(tmp_path))
    assert proc.returncode == 2 and "episodes" in proc.stderr and "Traceback" not in proc.stderr
    proc = run_cli("perception.planning.sim.evaluate", "--policy", str(tmp_path / "none.pt"), "--output", str(tmp_path))
    assert proc.returncode == 2 and "none.pt" in proc.stderr and "Traceback" not in proc.stderr


def test_shipped_policy_loads_with_its_hash():
    from perception.planning.policy import DEFAULT_POLICY, PUBLISHED_POLICIES

    if DEFAULT_POLICY is None:
        pytest.skip("no policy shipped")
    policy = load_policy()
    assert policy.sha256 == PUBLISHED_POLICIES[DEFAULT_POLICY].sha256
    assert policy.metadata["timesteps"] > 0


def test_only_published_policies_ship_and_the_simulator_side_keeps_the_superseded_ones():
    from perception.planning.policy import PUBLISHED_POLICIES, WEIGHTS_DIR
    from perception.planning.sim.config import load_planner_config
    from perception.planning.sim.policies import SUPERSEDED_POLICIES, load_sim_policy

    shipped = {p.name for p in WEIGHTS_DIR.glob("*.pt")}  # package data
    assert shipped == {r.file_name for r in PUBLISHED_POLICIES.values()}
    with pytest.raises(WeightsError):
        load_policy("dqn_highway_fast_speeds15")  # superseded: not a runtime name
    configs = sorted((REPO / "perception" / "planning" / "sim" / "configs").glob("*.yaml"))
    inits = {load_planner_config(c).init_policy for c in configs} - {""}
    assert inits and inits <= set(SUPERSEDED_POLICIES) | set(PUBLISHED_POLICIES)
    from perception.planning.sim.policies import CANDIDATE_POLICIES, SIM_WEIGHTS_DIR

    kept = {p.name for p in SIM_WEIGHTS_DIR.glob("*.pt")}  # every simulator-side file is registered by name
    assert kept == {r.file_name for r in (SUPERSEDED_POLICIES | CANDIDATE_POLICIES).values()}
    assert load_sim_policy("ppo_highway_fast_speed").metadata["config"]["algorithm"] == "ppo"
    for name in inits:  # every staged config still starts from a hash-checked file
        assert load_sim_policy(name).sha256 == {**PUBLISHED_POLICIES, **SUPERSEDED_POLICIES}[name].sha256


def test_init_policy_round_trips_through_sb3_and_mismatched_layouts_are_refused(tmp_path):
    pytest.importorskip("stable_baselines3", reason="stable-baselines3 not installed (pip install -e '.[rl]')")
    _needs_highway_env()
    import torch
    from stable_baselines3 import DQN

    from perception.planning.sim.envs import make_env
    from perception.planning.sim.train import load_sb3_q_network

    torch.manual_seed(1)
    net = build_q_network((32, 32), 25, 5)
    save_policy(tmp_path / "init.pt", net.state_dict(), (32, 32), (5, 5), {})
    init = load_policy(str(tmp_path / "init.pt"))
    model = DQN("MlpPolicy", make_env("highway-fast-v0"), policy_kwargs={"net_arch": [32, 32]}, seed=0)
    load_sb3_q_network(model, init)
    obs = _obs(VehicleState(20.0, 0.0, -1.0, 0.0), VehicleState(30.0, 4.0, -2.0, 0.0))
    with torch.no_grad():
        online = model.policy.q_net(torch.as_tensor(obs[None]))[0].numpy()
        target = model.policy.q_net_target(torch.as_tensor(obs[None]))[0].numpy()
    np.testing.assert_allclose(online, init.q_values(obs), rtol=1e-6)
    np.testing.assert_allclose(target, online, rtol=1e-6)
    wide = DQN("MlpPolicy", make_env("highway-fast-v0"), policy_kwargs={"net_arch": [64]}, seed=0)
    with pytest.raises(WeightsError, match="net_arch"):
        load_sb3_q_network(wide, init)


def test_veto_penalty_lowers_only_the_reward_of_vetoed_steps():
    _needs_highway_env()
    from perception.planning.sim.envs import TrainingReward, make_env

    plain = make_env("highway-fast-v0", shield=True)
    penalised = TrainingReward(make_env("highway-fast-v0", shield=True), veto_penalty=0.5)
    plain.reset(seed=3)
    penalised.reset(seed=3)
    vetoed_steps = 0
    for _ in range(12):   # always FASTER: the veto overrides it when closing on a car
        _, r0, done0, trunc0, info0 = plain.step(FASTER)
        _, r1, done1, trunc1, info1 = penalised.step(FASTER)
        assert info0["vetoed"] == info1["vetoed"]
        assert r1 == pytest.approx(r0 - (0.5 if info0["vetoed"] else 0.0))
        vetoed_steps += info0["vetoed"]
        if done0 or trunc0:
            break
    assert vetoed_steps > 0


def test_crash_penalty_lowers_only_the_reward_of_the_crashing_step():
    _needs_highway_env()
    from perception.planning.sim.envs import TrainingReward, make_env

    plain, penalised = make_env("highway-fast-v0"), TrainingReward(make_env("highway-fast-v0"), crash_penalty=5.0)
    plain.reset(seed=3)
    penalised.reset(seed=3)
    crashed = False
    for _ in range(30):   # always FASTER without a veto: it runs into a car
        _, r0, done0, trunc0, info0 = plain.step(FASTER)
        _, r1, _, _, info1 = penalised.step(FASTER)
        assert info0["crashed"] == info1["crashed"]
        assert r1 == pytest.approx(r0 - (5.0 if info0["crashed"] else 0.0))
        crashed |= info0["crashed"]
        if done0 or trunc0:
            break
    assert crashed


def test_an_advisory_shield_judges_but_lets_the_policys_action_run():
    """shield_advisory: the veto's objection is reported (and can be charged), the vetoed action still runs."""
    _needs_highway_env()
    from perception.planning.sim.envs import make_env

    speeds = (15.0, 20.0, 25.0, 30.0)
    enforced = make_env("highway-fast-v0", shield=True, shield_veto="braking", target_speeds_mps=speeds)
    advisory = make_env("highway-fast-v0", shield=True, shield_veto="braking", target_speeds_mps=speeds,
                        shield_advisory=True)
    plain = make_env("highway-fast-v0", target_speeds_mps=speeds)
    runs = {}
    for name, env in (("enforced", enforced), ("advisory", advisory), ("plain", plain)):
        env.reset(seed=3)
        vetoed, speeds_mps, crashed = 0, [], False
        for _ in range(40):   # always FASTER
            _, _, done, trunc, info = env.step(FASTER)
            vetoed += info.get("vetoed", False)
            speeds_mps.append(info["speed"])
            if done or trunc:
                crashed = info["crashed"]
                break
        runs[name] = (vetoed, speeds_mps, crashed)
    assert runs["advisory"][1] == runs["plain"][1] and runs["advisory"][2] == runs["plain"][2]  # same drive
    assert runs["advisory"][0] > 0 and runs["enforced"][0] > 0   # the veto objected in both
    assert runs["plain"][2] and not runs["enforced"][2]            # FASTER alone crashes; the enforced shield not


def test_speed_bonus_rewards_the_faster_drive_for_training_only():
    _needs_highway_env()
    from perception.planning.sim.envs import TrainingReward, make_env

    plain, shaped = make_env("highway-fast-v0"), TrainingReward(make_env("highway-fast-v0"), speed_bonus=0.4)
    plain.reset(seed=5)
    shaped.reset(seed=5)
    bonus = {}
    for action in (FASTER, SLOWER, SLOWER):   # 30 m/s target, then 25, then 20
        _, r0, *_, info = plain.step(action)
        _, r1, *_ = shaped.step(action)
        bonus[action] = r1 - r0
        assert 0.0 <= r1 - r0 <= 0.4 + 1e-9
        assert r1 - r0 == pytest.approx(0.4 * info["rewards"]["high_speed_reward"])
    assert bonus[FASTER] > 0.3   # near 30 m/s after one FASTER: most of the bonus


@pytest.mark.parametrize("text,needle", [("veto_penalty: 0.3\n", "veto_penalty"),
                                         ("shield_advisory: true\n", "shield_advisory"),
                                         ("algorithm: a2c\n", "algorithm"),
                                         ("algorithm: ppo\ninit_policy: dqn_highway_fast_braking\n", "init_policy"),
                                         ("init_model: runs/x/policy.pt\n", "init_model"),
                                         ("crash_penalty: -1\n", "crash_penalty")])
def test_planner_config_rejects_a_penalty_without_the_shield_or_an_unfit_learner(tmp_path, text, needle):
    cfg = tmp_path / "p.yaml"
    cfg.write_text(text)
    proc = run_cli("perception.planning.sim.train", "--config", str(cfg), "--output", str(tmp_path / "o"))
    assert proc.returncode == 2 and needle in proc.stderr and "Traceback" not in proc.stderr


def test_target_speeds_let_the_ego_brake_below_20_mps_and_the_veto_knows_it():
    _needs_highway_env()
    from perception.planning.sim.envs import make_env

    env = make_env("highway-fast-v0", target_speeds_mps=(15.0, 20.0, 25.0, 30.0))
    env.reset(seed=3)
    for _ in range(3):  # 25 -> 20 -> 15 m/s targets
        *_, info = env.step(SLOWER)
    assert info["speed"] < 16.5  # highway-env's default action set stops at 20 m/s
    default = make_env("highway-fast-v0")
    default.reset(seed=3)
    for _ in range(3):
        *_, info = default.step(SLOWER)
    assert info["speed"] == pytest.approx(20.0, abs=0.3)
    # a car ahead at 17 m/s is a trap when SLOWER stops at 20 m/s, not when it reaches 15 m/s
    lead = _obs(VehicleState(25.0, 0.0, -3.0, 0.0), ego_speed=20.0)
    assert "lowest speed" in SafetyVeto().check(lead, IDLE).reason
    assert "lowest speed" not in SafetyVeto.for_target_speeds((15.0, 20.0, 25.0, 30.0)).check(lead, IDLE).reason


def test_policy_files_carry_their_target_speeds(tmp_path):
    net = build_q_network((8,), 25, 5)
    save_policy(tmp_path / "old.pt", net.state_dict(), (8,), (5, 5), {"config": {}})
    save_policy(tmp_path / "new.pt", net.state_dict(), (8,), (5, 5),
                {"config": {"target_speeds_mps": [15.0, 20.0, 25.0, 30.0]}})
    assert load_policy(str(tmp_path / "old.pt")).target_speeds_mps == (20.0, 25.0, 30.0)
    assert load_policy(str(tmp_path / "new.pt")).target_speeds_mps == (15.0, 20.0, 25.0, 30.0)


@pytest.mark.parametrize("speeds", ["[20, 30, 25]", "[15, 20, 30]", "[25]"])
def test_planner_config_rejects_bad_target_speeds(tmp_path, speeds):
    cfg = tmp_path / "p.yaml"
    cfg.write_text(f"target_speeds_mps: {speeds}\n")
    proc = run_cli("perception.planning.sim.train", "--config", str(cfg), "--output", str(tmp_path / "o"))
    assert proc.returncode == 2 and "target_speeds_mps" in proc.stderr and "Traceback" not in proc.stderr


def test_speed_bonus_from_the_lowest_speed_pays_less_for_15_than_for_20_mps():
    _needs_highway_env()
    from perception.planning.sim.envs import TrainingReward, make_env

    speeds = (15.0, 20.0, 25.0, 30.0)
    plain = make_env("highway-fast-v0", target_speeds_mps=speeds)
    shaped = TrainingReward(make_env("highway-fast-v0", target_speeds_mps=speeds), speed_bonus=0.3,
                            speed_bonus_from_mps=15.0)
    plain.reset(seed=4)
    shaped.reset(seed=4)
    bonus = []
    for _ in range(4):  # 20, 15, 15, 15 m/s targets
        _, r0, *_, info = plain.step(SLOWER)
        _, r1, *_ = shaped.step(SLOWER)
        bonus.append((info["speed"], r1 - r0))
    assert bonus[-1][0] < 15.5 and bonus[-1][1] < 0.02  # at 15 m/s: (almost) nothing
    assert all(b == pytest.approx(0.3 * np.clip((v - 15.0) / 15.0, 0, 1), abs=0.01) for v, b in bonus)
    assert info["rewards"]["high_speed_reward"] == 0.0  # the simulator's own term pays 0 at both 15 and 20


SPEEDS15 = (15.0, 20.0, 25.0, 30.0)


def test_braking_check_predicts_the_simulators_gaps():
    """FASTER, then SLOWER every second, behind a car holding 22 m/s: the braking check's gap prediction
    follows highway-env's own vehicle dynamics to within a metre."""
    _needs_highway_env()
    from highway_env.vehicle.kinematics import Vehicle

    from perception.planning.sim.envs import make_env

    env = make_env("highway-fast-v0", target_speeds_mps=SPEEDS15)
    env.reset(seed=1)
    sim = env.unwrapped
    ego = sim.vehicle
    s, _ = ego.lane.local_coordinates(ego.position)
    lead = Vehicle(sim.road, ego.lane.position(s + 35.0, 0.0), ego.lane.heading_at(s + 35.0), 22.0)
    sim.road.vehicles = [ego, lead]  # nobody else: the lead holds its speed (no driver model)
    gaps, ego_speed = [lead.position[0] - ego.position[0] - 5.0], ego.speed
    for action in (FASTER, SLOWER, SLOWER, SLOWER, SLOWER):
        env.step(action)
        gaps.append(lead.position[0] - ego.position[0] - 5.0)
    predicted = braking_gaps_m(gaps[0], ego_speed, 22.0, ego_speed + 5.0, (15.0, 5.0, 30.0))[::10]
    np.testing.assert_allclose(predicted, gaps, atol=1.0)
    assert min(gaps) < gaps[0] - 10.0  # the gap really closes and opens again: not a trivial prediction


def test_braking_check_accepts_a_short_steady_gap_the_headway_veto_refuses():
    headway = SafetyVeto.for_target_speeds(SPEEDS15)
    braking = SafetyVeto.for_target_speeds(SPEEDS15, exact_observations=True)
    assert (headway.kind, braking.kind) == ("headway", "braking")
    steady = _obs(VehicleState(25.0, 0.0, 0.0, 0.0), ego_speed=25.0)  # 20 m gap, same speed as the ego
    d = headway.check(steady, FASTER)
    assert d.vetoed and d.action == SLOWER and "gap" in d.reason  # needs 8 m + 0.6 s x 30 m/s = 26 m
    assert braking.check(steady, FASTER).vetoed is False  # FASTER for 1 s, then braking, keeps > 4 m
    closing = _obs(VehicleState(17.0, 0.0, -8.0, 0.0), ego_speed=30.0)  # 12 m gap, 8 m/s faster than the lead
    d = braking.check(closing, IDLE)
    assert d.vetoed and d.action == SLOWER and "braking check" in d.reason
    assert braking.check(closing, SLOWER).vetoed is False  # SLOWER is what it would do itself


def test_evaluation_uses_the_braking_check_only_on_exact_observations():
    from perception.planning.sim.evaluate import make_agent
    from perception.planning.policy import DEFAULT_POLICY

    if DEFAULT_POLICY is None:
        pytest.skip("no policy shipped")
    assert make_agent("policy+veto").veto.kind == "braking"
    assert make_agent("policy+veto", noisy_observations=True).veto.kind == "headway"
    assert make_agent("policy").veto is None
    assert make_agent("policy+veto", veto="headway").veto.kind == "headway"  # older results' veto
    assert make_agent("policy+veto", noisy_observations=True, veto="braking").veto.kind == "braking"


@pytest.mark.parametrize("text, needle", [("shield: true\nshield_veto: brake\n", "shield_veto"),
                                          ("shield: true\nshield_veto: braking\nobservation_noise: true\n",
                                           "exact observations")])
def test_planner_config_rejects_a_bad_shield_veto(tmp_path, text, needle):
    cfg = tmp_path / "p.yaml"
    cfg.write_text(text)
    proc = run_cli("perception.planning.sim.train", "--config", str(cfg), "--output", str(tmp_path / "o"))
    assert proc.returncode == 2 and needle in proc.stderr and "Traceback" not in proc.stderr


def test_shipped_policy_does_not_brake_on_an_empty_road():
    """No vehicle in view (never seen in training, common on video): the default policy must not slow down."""
    from perception.planning.policy import DEFAULT_POLICY

    if DEFAULT_POLICY is None:
        pytest.skip("no policy shipped")
    policy = load_policy()
    for lane in range(3):
        for speed in (15.0, 20.0, 25.0, 30.0):
            action = ACTIONS[policy.act(_obs(ego_speed=speed, lane=lane))]
            assert action != "SLOWER", (lane, speed)
