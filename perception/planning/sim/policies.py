"""Superseded and candidate planner policies, kept for the simulator side only (not package data, not used by the
runtime).

The staged training configs in ``configs/`` start from them (``init_policy: dqn_highway_fast_speeds15``, ...)
and ``perception.planning.sim.evaluate --policy NAME`` reproduces their published numbers. Names resolve here
and to the shipped default (``perception.planning.policy.PUBLISHED_POLICIES``); files are hash-checked.
"""

from __future__ import annotations

from pathlib import Path

from perception.planning.policy import PUBLISHED_POLICIES, Policy, PolicyRecord, load_policy

SIM_WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"

SUPERSEDED_POLICIES: dict[str, PolicyRecord] = {
    "dqn_highway_fast_shield": PolicyRecord(
        name="dqn_highway_fast_shield",
        file_name="dqn_highway_fast_shield-75f723c3.pt",
        sha256="75f723c3c60bcbb2115375861ae6f3504ac91a738c69970ef1d18cb0b7ab1e36",
        folder=SIM_WEIGHTS_DIR,
    ),
    "dqn_highway_fast_penalty": PolicyRecord(
        name="dqn_highway_fast_penalty",
        file_name="dqn_highway_fast_penalty-5f400503.pt",
        sha256="5f40050336f505bb5cbe98a912283591d545c74dfafab890f838dceed0dc6cc9",
        folder=SIM_WEIGHTS_DIR,
    ),
    "dqn_highway_fast_speed": PolicyRecord(
        name="dqn_highway_fast_speed",
        file_name="dqn_highway_fast_speed-bb370dcc.pt",
        sha256="bb370dcc50ba21f1ceda893812c1e2dfa851fd9d6e239f5a8d780db6a74d204f",
        folder=SIM_WEIGHTS_DIR,
    ),
    "dqn_highway_fast_speeds15": PolicyRecord(  # target speeds 15-30 m/s (its file's training config)
        name="dqn_highway_fast_speeds15",
        file_name="dqn_highway_fast_speeds15-ea3e877d.pt",
        sha256="ea3e877df048ffedc8cdae2c281fd59415e1a90cd13ee85f881a5bed1792edd9",
        folder=SIM_WEIGHTS_DIR,
    ),
}
# Measured and not shipped (docs/history.md, "DQN, QR-DQN and PPO at one budget"): safer alone than the default,
# slower; kept so that ``evaluate --policy NAME`` reproduces their numbers.
CANDIDATE_POLICIES: dict[str, PolicyRecord] = {
    "qrdqn_highway_fast": PolicyRecord(  # compare_qrdqn.yaml: 30,000 transitions from scratch
        name="qrdqn_highway_fast",
        file_name="qrdqn_highway_fast-b2e577a1.pt",
        sha256="b2e577a17dbae8aaadaf74fdc49ab7ed4816112a59c4bcc3b6a2745297148bbe",
        folder=SIM_WEIGHTS_DIR,
    ),
    "ppo_highway_fast_speed": PolicyRecord(  # compare_ppo.yaml, then ppo_speed.yaml: 70,000 transitions
        name="ppo_highway_fast_speed",
        file_name="ppo_highway_fast_speed-afa87ee8.pt",
        sha256="afa87ee89e50fa2c944cdcb1bd4bc1252fa2ffa1fd52ac7afd093c08aabfe73b",
        folder=SIM_WEIGHTS_DIR,
    ),
}
SIM_POLICIES: dict[str, PolicyRecord] = {**PUBLISHED_POLICIES, **SUPERSEDED_POLICIES, **CANDIDATE_POLICIES}


def load_sim_policy(path_or_name: str | None = None) -> Policy:
    """``load_policy`` that also knows the superseded policies by name (None: the shipped default)."""
    return load_policy(path_or_name, known=SIM_POLICIES)
