"""The checkpoint an export or benchmark starts from: ``--weights``, the shipped default, or (only
when asked for) the seeded untrained model."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from perception.backends.metadata import UNTRAINED_SHA256, is_artifact_path
from perception.errors import UserInputError
from perception.model import MultiTaskNet, build_multitask_lite, default_weights, load_checkpoint

UNTRAINED_BANNER = ("WARNING: UNTRAINED MODEL. No --weights was given and no trained default weights are shipped, "
                    "so the seeded untrained network is used (--allow-untrained): its outputs are meaningless. "
                    "Exported files say untrained=true in their metadata.")


@dataclass(frozen=True)
class SourceModel:
    """A network in eval mode plus where it came from (recorded in exported metadata)."""

    model: MultiTaskNet
    weights_sha256: str      # SHA-256 of the checkpoint file, or UNTRAINED_SHA256
    weights_name: str        # checkpoint file name, or "untrained (seed 0)"
    path: Path | None        # checkpoint path (None for the untrained model)

    @property
    def untrained(self) -> bool:
        return self.weights_sha256 == UNTRAINED_SHA256

    @property
    def stem(self) -> str:
        """Short name for default output files."""
        return "untrained" if self.path is None else self.path.stem


def load_source_model(weights: str | None, *, allow_untrained: bool, weights_sha256: str | None = None) -> SourceModel:
    """Load ``weights`` (a .pt checkpoint), else the default weights, else the untrained model if allowed.

    Raises UserInputError (one line) for an unusable file, an exported file passed as ``weights``,
    or no weights at all without ``allow_untrained``.
    """
    if weights:
        if is_artifact_path(weights):
            raise UserInputError(f"--weights {weights} is already an exported model; pass the .pt checkpoint it "
                                 f"came from")
        loaded = load_checkpoint(weights, expected_sha256=weights_sha256)
        return SourceModel(loaded.model, loaded.sha256, Path(weights).name, Path(weights))
    record = default_weights()
    if record is not None:
        loaded = load_checkpoint(record.path, expected_sha256=record.sha256)
        return SourceModel(loaded.model, loaded.sha256, record.file_name, record.path)
    if not allow_untrained:
        raise UserInputError("no --weights given and no trained default weights are shipped yet: pass --weights "
                             "FILE.pt, or --allow-untrained to use the seeded untrained model")
    return SourceModel(build_multitask_lite(seed=0), UNTRAINED_SHA256, "untrained (seed 0)", None)
