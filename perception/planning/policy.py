"""The planner's policy: an MLP over the Kinematics observation whose largest output is the action (a DQN's
Q-values, a QR-DQN's mean quantiles or a PPO actor's logits; "Q-values" below), saved as a plain tensor dict.

File format (``torch.save`` of a plain dict, loadable with ``weights_only=True``)::

    {"format": "perception.planner", "format_version": 1, "net_arch": [256, 256],
     "observation_shape": [5, 5], "actions": ["LANE_LEFT", "IDLE", "LANE_RIGHT", "FASTER", "SLOWER"],
     "state_dict": {...}, "metadata": {...training config, steps, wall time...}}

The running pipeline needs only numpy once a file has been read (torch reads the file the first time; a numpy copy
in the user cache serves later runs, and the default policy's copy ships with the package): stable-baselines3 is
used for training, not for inference.
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
    numpy_sha256: str = ""  # SHA-256 of its numpy copy shipped in perception/weights/cache/policies/ ("" if
    #   none): a first run reads that instead of importing torch (python -m perception.tools.ship_cache writes it)

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
        numpy_sha256="e77bcb27ed3457067e327b3d43dcf896f02983aada67c37d41aba90b4f10fb11",
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
    """Greedy action from a Q-network: ``act(obs)`` with obs float32[5, 5] -> action index into ACTIONS.

    The network runs in numpy (a few small matrix products; no torch at runtime). ``state``: the
    ``build_q_network`` state dict as float32 arrays ("0.weight" (H, 25), "0.bias" (H,), "2.weight", ...).
    """

    def __init__(self, state: dict[str, np.ndarray], net_arch: tuple[int, ...], observation_shape: tuple[int, int],
                 metadata: dict[str, Any] | None = None, path: str | None = None, sha256: str | None = None) -> None:
        self.state = {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in state.items()}
        self.net_arch = tuple(int(n) for n in net_arch)
        self.observation_shape = tuple(observation_shape)
        self.metadata = metadata or {}
        self.path, self.sha256 = path, sha256
        check_layout(self.state, self.net_arch, self.observation_shape, path or "state")
        # Linear layers sit at even indices of the Sequential (Linear, ReLU, Linear, ..., Linear).
        self._layers = [(self.state[f"{2 * i}.weight"], self.state[f"{2 * i}.bias"])
                        for i in range(len(self.net_arch) + 1)]

    def q_values(self, obs: np.ndarray) -> np.ndarray:
        """float32[5] Q-values (one per action) for one observation float32[5, 5]."""
        x = np.asarray(obs, dtype=np.float32).reshape(-1)  # (25,)
        for k, (weight, bias) in enumerate(self._layers):
            x = weight @ x + bias
            if k < len(self._layers) - 1:
                x = np.maximum(x, 0.0)
        return x

    def act(self, obs: np.ndarray) -> int:
        return int(np.argmax(self.q_values(obs)))

    @property
    def q_net(self) -> Any:
        """The same network as a torch ``nn.Sequential`` (for the simulator's training code; imports torch)."""
        import torch

        net = build_q_network(self.net_arch, int(np.prod(self.observation_shape)), len(ACTIONS))
        net.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in self.state.items()})
        return net.eval()

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
    A numpy copy of each file loaded is kept in the user cache (checked by its own hash), so that later runs
    load the policy without importing torch; the default policy's copy also ships with the package.
    """
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
    policy = _from_cache(digest, str(path))
    if policy is None and path_or_name in known and known[path_or_name].numpy_sha256:
        policy = _from_cache(digest, str(path), shipped_sha256=known[path_or_name].numpy_sha256)
    if policy is not None:
        return policy
    policy = _from_torch_file(data_bytes, str(path), digest)
    _to_cache(policy)
    return policy


def check_layout(state: dict[str, np.ndarray], net_arch: tuple[int, ...], observation_shape: tuple[int, ...],
                 where: str) -> None:
    """WeightsError (one line) unless ``state`` holds exactly the arrays of ``build_q_network(net_arch, ...)``."""
    sizes = [int(np.prod(observation_shape)), *net_arch, len(ACTIONS)]
    expected = {}
    for i in range(len(sizes) - 1):
        expected[f"{2 * i}.weight"], expected[f"{2 * i}.bias"] = (sizes[i + 1], sizes[i]), (sizes[i + 1],)
    if {k: tuple(np.shape(v)) for k, v in state.items()} != expected:
        raise WeightsError(f"planner policy {where}: weights do not fit its net_arch {list(net_arch)}")


def _from_torch_file(data_bytes: bytes, where: str, digest: str) -> Policy:
    """Unpickle a checked policy file with torch (``weights_only=True``)."""
    import io

    import torch

    try:
        data = torch.load(io.BytesIO(data_bytes), map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001  (any unpickling failure is a bad file)
        raise WeightsError(f"planner policy {where}: not a loadable policy file ({type(e).__name__})") from None
    if not isinstance(data, dict) or data.get("format") != PLANNER_FORMAT:
        raise WeightsError(f"planner policy {where}: not a {PLANNER_FORMAT} file")
    if tuple(data["actions"]) != ACTIONS:
        raise WeightsError(f"planner policy {where}: action set {data['actions']} differs from {list(ACTIONS)}")
    try:
        state = {k: v.detach().cpu().float().numpy() for k, v in data["state_dict"].items()}
        net_arch, shape = tuple(int(n) for n in data["net_arch"]), tuple(int(n) for n in data["observation_shape"])
    except (AttributeError, TypeError, KeyError, ValueError):
        raise WeightsError(f"planner policy {where}: its state_dict holds something other than tensors") from None
    return Policy(state, net_arch, shape, data.get("metadata", {}), where, digest)


# A numpy copy of each policy file loaded, in the user cache, so that later runs need no torch:
#   CACHE/policies/<sha256[:16]>.npz  (+ .npz.sha256, the copy's own hash, written after it)
def _cache_path(digest: str, root: Path | None = None) -> Path:
    from perception.cache import cache_dir

    return (root or cache_dir()) / "policies" / f"{digest[:16]}.npz"


def _from_cache(digest: str, where: str, shipped_sha256: str = "") -> Policy | None:
    """The cached numpy copy of the policy file with this SHA-256, or None (missing, damaged, or another file).
    With ``shipped_sha256``: the copy shipped with the package instead, used only when its bytes have that hash."""
    import io
    import json

    from perception.cache import SHIPPED_CACHE_DIR, read_checked

    blob = read_checked(_cache_path(digest, SHIPPED_CACHE_DIR if shipped_sha256 else None))
    if blob is None or (shipped_sha256 and hashlib.sha256(blob).hexdigest() != shipped_sha256):
        return None
    try:
        with np.load(io.BytesIO(blob), allow_pickle=False) as z:
            if str(z["policy_sha256"]) != digest:
                return None
            state = {k[len("state/"):]: z[k] for k in z.files if k.startswith("state/")}
            facts = json.loads(str(z["facts_json"]))
        return Policy(state, tuple(facts["net_arch"]), tuple(facts["observation_shape"]), facts["metadata"], where,
                      digest)
    except (OSError, ValueError, KeyError, TypeError, WeightsError):
        return None


def _to_cache(policy: Policy, root: Path | None = None) -> None:
    """Write the numpy copy (best effort: a read-only cache only costs the next run its torch import) into the
    user cache, or under ``root`` (``perception.tools.ship_cache``)."""
    import io
    import json

    from perception.cache import write_file_atomic, write_hash_record

    path = _cache_path(str(policy.sha256), root)
    buf = io.BytesIO()
    facts = {"net_arch": list(policy.net_arch), "observation_shape": list(policy.observation_shape),
             "metadata": policy.metadata}
    try:
        np.savez(buf, policy_sha256=np.array(policy.sha256), facts_json=np.array(json.dumps(facts, default=str)),
                 **{f"state/{k}": v for k, v in policy.state.items()})
        blob = buf.getvalue()
        path.parent.mkdir(parents=True, exist_ok=True)
        write_file_atomic(path, lambda tmp: tmp.write_bytes(blob))
        write_hash_record(path, hashlib.sha256(blob).hexdigest())
    except (OSError, TypeError, ValueError):
        pass
