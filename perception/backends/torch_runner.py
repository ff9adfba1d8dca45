"""Eager PyTorch runner: a ``MultiTaskNet`` in eval mode on CPU or CUDA, fp32 or fp16."""

from __future__ import annotations

import numpy as np
import torch

from perception.errors import UserInputError
from perception.model.network import MultiTaskNet, output_names


class TorchRunner:
    """Eager PyTorch on CPU or CUDA, fp32 or fp16 (fp16 only on CUDA)."""

    name = "torch"

    def __init__(self, model: MultiTaskNet, device: str = "cpu", fp16: bool = False):
        if device.startswith("cuda") and not torch.cuda.is_available():
            raise UserInputError("--device cuda was requested but no CUDA GPU is available")
        if fp16 and not device.startswith("cuda"):
            raise UserInputError("fp16 with the torch backend needs --device cuda")
        self.device = device
        self.precision = "fp16" if fp16 else "fp32"
        self.model_config = model.config
        self.output_names = output_names(model.config)
        self.model = model.to(device).eval()
        if fp16:
            self.model = self.model.half()

    @torch.inference_mode()
    def __call__(self, images: np.ndarray) -> dict[str, np.ndarray]:
        x = torch.from_numpy(np.ascontiguousarray(images)).to(self.device, non_blocking=True)
        out = self.model(x)
        return {k: out[k].float().cpu().numpy() for k in self.output_names}
