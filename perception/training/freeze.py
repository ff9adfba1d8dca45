"""Training part of the network: which parameters learn, which modules stay frozen, and partial start points.

``TrainConfig.train_only`` names parts of ``MultiTaskNet`` (``TRAINABLE_PARTS``, its attribute names); everything
else is frozen: no gradients, not in the optimiser, and kept in eval mode while training, so BatchNorm running
statistics stay what the checkpoint had and the frozen parts compute exactly what they computed before. When only
heads are trained, only those heads run in the training forward pass (``heads_to_run``).
"""

from __future__ import annotations

import torch
from torch import nn

from perception.errors import ConfigError
from perception.model.network import HEAD_NAMES, MultiTaskNet

TRAINABLE_PARTS = ("backbone", "neck") + HEAD_NAMES  # names train_only accepts (MultiTaskNet attributes)
# Parts a checkpoint may lack when it starts a network that has them (added heads start from their random init).
NEW_PART_PREFIXES = {"lane_row_head": "lane_row_head."}


def check_parts(parts: tuple[str, ...], has_lane_row_head: bool) -> None:
    """ConfigError for a name outside ``TRAINABLE_PARTS``, or the row head on a network without one."""
    unknown = [p for p in parts if p not in TRAINABLE_PARTS]
    if unknown:
        raise ConfigError(f"train_only names {unknown}, which are not parts of the network "
                          f"(expected some of: {', '.join(TRAINABLE_PARTS)})")
    if "lane_row_head" in parts and not has_lane_row_head:
        raise ConfigError("train_only names lane_row_head but model.lane_rows is 0 (no row-anchor lane head)")


def freeze_all_but(model: MultiTaskNet, parts: tuple[str, ...]) -> list[nn.Parameter]:
    """Switch off gradients outside ``parts`` (empty = train everything); returns the trainable parameters."""
    if not parts:
        return [p for p in model.parameters() if p.requires_grad]
    for p in model.parameters():
        p.requires_grad_(False)
    trainable = []
    for name in parts:
        for p in getattr(model, name).parameters():
            p.requires_grad_(True)
            trainable.append(p)
    return trainable


def set_train_mode(model: nn.Module, parts: tuple[str, ...]) -> None:
    """``model.train()``, but with only ``parts`` in training mode when given (the rest in eval mode)."""
    net = getattr(model, "_orig_mod", model)  # a torch.compile wrapper shares the original's modules
    if not parts:
        net.train()
        return
    net.eval()
    for name in parts:
        getattr(net, name).train()


def heads_to_run(parts: tuple[str, ...]) -> tuple[str, ...] | None:
    """The heads the training forward pass needs: ``parts`` when they are all heads, else every head (None)."""
    return tuple(parts) if parts and all(p in HEAD_NAMES for p in parts) else None


def load_init_state(model: MultiTaskNet, state_dict: dict[str, torch.Tensor]) -> list[str]:
    """Load a start point into ``model``: every tensor must fit, and the only ones allowed to be missing are those
    of a part the checkpoint predates (``NEW_PART_PREFIXES``: the row-anchor lane head), when all of that part's
    tensors are missing. Returns the names of those parts (empty when the load was complete); RuntimeError
    (one line) for anything else missing, unexpected or of another shape.
    """
    new_parts = []
    expected = set(model.state_dict())
    for part, prefix in NEW_PART_PREFIXES.items():
        own = {k for k in expected if k.startswith(prefix)}
        if own and not any(k.startswith(prefix) for k in state_dict):
            new_parts.append(part)
            expected -= own
    missing = sorted(expected - set(state_dict))
    unexpected = sorted(set(state_dict) - set(model.state_dict()))
    if missing or unexpected:
        raise RuntimeError(f"missing {missing[:5]}{' ...' if len(missing) > 5 else ''}, unexpected "
                           f"{unexpected[:5]}{' ...' if len(unexpected) > 5 else ''}")
    model.load_state_dict(state_dict, strict=not new_parts)  # shape mismatches raise either way
    return new_parts
