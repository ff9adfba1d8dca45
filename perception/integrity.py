"""SHA-256 checks of files loaded at run time (exported models, planner policies).

A file is checked against every hash the user or the project gives for it: an expected SHA-256 (a published
record's ``sha256``, or a ``--*-sha256`` flag) and the hex prefix in a name like ``model-1a2b3c4d.onnx``
(the convention ``perception.model.weights`` uses for checkpoints). Checkpoints are checked in
``perception.model.weights.load_checkpoint``; TensorRT engines also against their sidecar
(``perception.backends.metadata.verify_engine``).
"""

from __future__ import annotations

import re
from pathlib import Path

from perception.errors import WeightsError

_HASH_IN_NAME = re.compile(r"-([0-9a-f]{8,64})\.[A-Za-z0-9]+$")


def hash_prefix_in_name(path: str | Path) -> str | None:
    """The hex after the last ``-`` of a name like ``policy-958ee2d9.pt`` (8 to 64 lowercase hex), else None."""
    m = _HASH_IN_NAME.search(Path(path).name)
    return m.group(1) if m else None


def check_sha256(path: str | Path, digest: str, expected: str | None = None, *, what: str = "file") -> None:
    """Raise WeightsError (one line naming ``path``) when ``digest`` (hex SHA-256 of the file's bytes) differs from
    ``expected`` or from the hash prefix in the file's name."""
    if expected is not None and digest != expected.strip().lower():
        raise WeightsError(f"SHA-256 mismatch for {what} {path}: expected {expected}, got {digest}")
    prefix = hash_prefix_in_name(path)
    if prefix is not None and not digest.startswith(prefix):
        raise WeightsError(f"SHA-256 of {what} {path} ({digest[:12]}...) does not match the hash in its name "
                           f"({prefix})")
