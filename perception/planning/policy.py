"""The planner's policy: a Q-network over the Kinematics observation, saved as a plain tensor dict.

File format (``torch.save`` of a plain dict, loadable with ``weights_only=True``)::

    {"format": "perception.planner", "format_version": 1, "net_arch": [256, 256],
     "observation_shape": [5, 5], "actions": ["LANE_LEFT", "IDLE", "LANE_RIGHT", "FASTER", "SLOWER"],
     "state_dict": {...}, "metadata": {...training config, steps, wall time...}}

The running pipeline needs only torch: stable-baselines3 is used for training, not for inference.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from perception.errors import WeightsError
from perception.integrity import check_sha256
from perception.planning.actions import ACTIONS, DEFAULT_TARGET_SPEEDS_MPS

PLANNER_FORMAT = "perception.planner"
WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"


@dataclass(frozen=True)
class PolicyRecord:
    """A published policy: its file (in ``folder``) and SHA-256."""

    name: str
    file_name: str
    sha256: str
    folder: Path = WEIGHTS_DIR  # perception/planning/weights/ (package data) unless stated

    @property
    def path(self) -> Path:
        return self.folder / self.file_name


# Shipped policies: only the default (see the planner model card for its config, steps, wall time and evaluation).
# Superseded policies live on the simulator side (perception.planning.sim.policies), not in the package data.
PUBLISHED_POLICIES: dict[str, PolicyRecord] = {
    "dqn_highway_fast_braking": PolicyRecord(  # 15-30 m/s, trained behind the veto's braking check
        name="dqn_highway_fast_braking",
        file_name="dqn_highway_fast_braking-958ee2d9.pt",
        sha256="958ee2d911c92330565d211d0f83bb10c569a6b706fa3dd60eb7533c39f2c67e",
    ),
}
DEFAULT_POLICY: str | None = "dqn_highway_fast_braking"


def build_q_network(net_arch: tuple[int, ...], n_inputs: int, n_actions: int) -> Any:
    """MLP: (B, 5, 5) -> flatten (B, 25) -> hidden ReLU layers -> (B, n_actions) Q-values."""
    import torch.nn as nn

    layers: list[Any] = []
    width = n_inputs
    for hidden in net_arch:
        layers += [nn.Linear(width, hidden), nn.ReLU()]
        width = hidden
    layers.append(nn.Linear(width, n_actions))
    return nn.Sequential(*layers)


class Policy:
    """Greedy action from a Q-network: ``act(obs)`` with obs float32[5, 5] -> action index into ACTIONS."""

    def __init__(self, q_net: Any, observation_shape: tuple[int, int], metadata: dict[str, Any] | None = None,
                 path: str | None = None, sha256: str | None = None) -> None:
        self.q_net = q_net.eval()
        self.observation_shape = tuple(observation_shape)
        self.metadata = metadata or {}
        self.path, self.sha256 = path, sha256

    def q_values(self, obs: np.ndarray) -> np.ndarray:
        """float32[5] Q-values (one per action) for one observation float32[5, 5]."""
        import torch

        x = torch.as_tensor(np.asarray(obs, dtype=np.float32).reshape(1, -1))  # (1, 25)
        with torch.no_grad():
            return self.q_net(x)[0].numpy()

    def act(self, obs: np.ndarray) -> int:
        return int(np.argmax(self.q_values(obs)))

    @property
    def target_speeds_mps(self) -> tuple[float, ...]:
        """The ego speeds FASTER / SLOWER stepped through in training (from the file's training config; files
        from before that setting existed were trained with highway-env's default)."""
        speeds = self.metadata.get("config", {}).get("target_speeds_mps", DEFAULT_TARGET_SPEEDS_MPS)
        return tuple(float(v) for v in speeds)


def save_policy(path: str | Path, q_net_state: dict[str, Any], net_arch: tuple[int, ...],
                observation_shape: tuple[int, int], metadata: dict[str, Any]) -> str:
    """Write a policy file; returns its SHA-256."""
    import torch

    torch.save({"format": PLANNER_FORMAT, "format_version": 1, "net_arch": list(net_arch),
                "observation_shape": list(observation_shape), "actions": list(ACTIONS),
                "state_dict": {k: v.detach().cpu().clone() for k, v in q_net_state.items()},
                "metadata": metadata}, path)
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def load_policy(path_or_name: str | None = None, *, known: dict[str, PolicyRecord] | None = None,
                expected_sha256: str | None = None) -> Policy:
    """Load a policy file (weights_only) or a published name, checking its SHA-256 before unpickling.

    A published name is checked against its record's hash; any file against ``expected_sha256`` when given and
    against the hash prefix in a name like ``policy-1a2b3c4d.pt``. ``None`` loads the default published policy.
    ``known``: the names to resolve (default ``PUBLISHED_POLICIES``). Raises WeightsError with a one-line reason.
    """
    import torch

    expected = None
    if path_or_name is None:
        if DEFAULT_POLICY is None:
            raise WeightsError("no planner policy is shipped with this version; pass --planner-policy FILE")
        path_or_name = DEFAULT_POLICY
    known = PUBLISHED_POLICIES if known is None else known
    if path_or_name in known:
        record = known[path_or_name]
        path, expected = record.path, record.sha256
    else:
        path = Path(path_or_name)
    try:
        data_bytes = Path(path).read_bytes()
    except OSError as e:
        raise WeightsError(f"cannot read planner policy {path}: {e.strerror or e}") from None
    digest = hashlib.sha256(data_bytes).hexdigest()
    if expected is not None and digest != expected:
        raise WeightsError(f"planner policy {path}: SHA-256 {digest[:12]}... does not match the published "
                           f"{expected[:12]}... (file damaged or replaced)")
    check_sha256(path, digest, expected_sha256, what="planner policy")
    import io

    try:
        data = torch.load(io.BytesIO(data_bytes), map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001  (any unpickling failure is a bad file)
        raise WeightsError(f"planner policy {path}: not a loadable policy file ({type(e).__name__})") from None
    if not isinstance(data, dict) or data.get("format") != PLANNER_FORMAT:
        raise WeightsError(f"planner policy {path}: not a {PLANNER_FORMAT} file")
    if tuple(data["actions"]) != ACTIONS:
        raise WeightsError(f"planner policy {path}: action set {data['actions']} differs from {list(ACTIONS)}")
    shape = tuple(data["observation_shape"])
    q_net = build_q_network(tuple(data["net_arch"]), int(np.prod(shape)), len(ACTIONS))
    try:
        q_net.load_state_dict(data["state_dict"])
    except RuntimeError as e:
        raise WeightsError(f"planner policy {path}: weights do not fit its net_arch ({str(e).splitlines()[0]})") \
            from None
    return Policy(q_net, shape, data.get("metadata", {}), str(path), digest)
