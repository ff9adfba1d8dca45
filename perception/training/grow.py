"""Start a larger network size from a trained smaller one, computing the same function at the start.

``grow_state_dict(small, big, images)`` returns a state dict for ``big`` (a ``MultiTaskNet`` of the same parts,
wider and deeper, e.g. ``base`` from ``lite``) such that, in eval mode, ``big`` gives ``small``'s outputs:

- a tensor both have: ``small``'s values fill the leading slice of every axis. Channels only ``big`` has keep their
  random init, except that the weights from a new input channel into an old output channel are zero, so new
  channels cannot change old ones (the network has no concatenation across widened axes; additions are
  channel-aligned);
- a residual block only ``big`` has (stage depth): its last BatchNorm is zeroed, so the block is the identity;
- a detection-tower layer only ``big`` has: a depthwise delta kernel and an identity 1x1 on the old channels, with
  both BatchNorms set from the statistics of their input over ``images`` (uint8 RGB, (B, 3, H, W)) so that they
  undo their own normalisation.

The extra capacity then learns from that start (Net2Net, Chen et al. 2016, in spirit). Anything else raises
ValueError.
"""

from __future__ import annotations

import torch
from torch import nn

from perception.model.blocks import DepthwiseSeparable, ResidualDW
from perception.model.network import MultiTaskNet


def _grow_tensor(small: torch.Tensor, big: torch.Tensor, name: str) -> torch.Tensor:
    if small.shape == big.shape:
        return small.clone()
    if small.dim() != big.dim() or any(s > b for s, b in zip(small.shape, big.shape)):
        raise ValueError(f"cannot grow {name}: {tuple(small.shape)} does not fit into {tuple(big.shape)}")
    out = big.clone()
    if out.dim() == 4 and small.shape[1] < big.shape[1]:  # a full convolution with new input channels
        out[:small.shape[0], small.shape[1]:] = 0          # new inputs do not reach old outputs
    out[tuple(slice(0, s) for s in small.shape)] = small
    return out


def _outermost_new_modules(small: nn.Module, big: nn.Module) -> list[tuple[str, nn.Module]]:
    old = {name for name, _ in small.named_modules()}
    new = [(name, m) for name, m in big.named_modules() if name not in old]
    return [(name, m) for name, m in new if name.rpartition(".")[0] in old]


def _identity_bn(bn: nn.BatchNorm2d, mean: torch.Tensor, var: torch.Tensor) -> None:
    """BatchNorm that returns its input on the first len(mean) channels: (x - m) / s * s + m."""
    n = len(mean)
    with torch.no_grad():
        bn.running_mean[:n] = mean
        bn.running_var[:n] = var
        bn.weight[:n] = torch.sqrt(var + bn.eps)
        bn.bias[:n] = mean


def _input_statistics(model: MultiTaskNet, layer: nn.Module, images: torch.Tensor
                      ) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel mean and variance of ``layer``'s input over ``images`` (every call of a shared layer)."""
    seen: list[torch.Tensor] = []
    hook = layer.register_forward_pre_hook(lambda _m, args: seen.append(args[0].detach().transpose(0, 1).flatten(1)))
    try:
        with torch.no_grad():
            model.eval()(images)
    finally:
        hook.remove()
    x = torch.cat(seen, 1)  # (C, N)
    return x.mean(1), x.var(1, unbiased=False)


def grow_state_dict(small: MultiTaskNet, big: MultiTaskNet, images: torch.Tensor) -> dict[str, torch.Tensor]:
    """A state dict for ``big`` that reproduces ``small`` (see the module docstring). ``big`` is left changed."""
    small_state, big_state = small.state_dict(), big.state_dict()
    grown = {}
    for name, tensor in big_state.items():
        grown[name] = _grow_tensor(small_state[name], tensor, name) if name in small_state else tensor.clone()
    big.load_state_dict(grown)
    towers = []
    for name, module in _outermost_new_modules(small, big):
        if isinstance(module, ResidualDW):
            with torch.no_grad():
                module.pw[1].weight.zero_()
                module.pw[1].bias.zero_()
        elif isinstance(module, DepthwiseSeparable) and name.startswith("det_head.tower."):
            towers.append(module)
        else:
            raise ValueError(f"cannot grow into a new {type(module).__name__} at {name}")
    for layer in towers:  # in order: each new layer's input statistics come after the previous one is the identity
        c_old = small.det_head.tower[-1][-1][0].out_channels
        mean, var = _input_statistics(big, layer, images)
        mean, var = mean[:c_old], var[:c_old]
        dw, pw = layer[0], layer[1]
        with torch.no_grad():
            dw[0].weight[:c_old] = 0
            dw[0].weight[:c_old, 0, 1, 1] = 1
            pw[0].weight[:c_old] = 0
            pw[0].weight[:c_old, :c_old, 0, 0] = torch.eye(c_old)
        _identity_bn(dw[1], mean, var)
        _identity_bn(pw[1], mean, var)
    return big.state_dict()
