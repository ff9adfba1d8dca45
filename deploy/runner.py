"""One interface for running the network on any backend.

A runner takes uint8 RGB images (B, 3, H, W) as a numpy array and returns a dict of numpy arrays
keyed by ``perception.model.OUTPUT_NAMES``. ``perception.run --backend`` picks one with ``make_runner``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

import numpy as np
import torch

from perception.errors import UserInputError
from perception.model.network import OUTPUT_NAMES, MultiTaskNet

BACKENDS = ("torch", "onnxruntime", "tensorrt")


class Runner(Protocol):
    name: str          # backend name, e.g. "torch"
    precision: str     # "fp32", "fp16", "int8"
    device: str        # "cpu", "cuda", ...

    def __call__(self, images: np.ndarray) -> dict[str, np.ndarray]: ...


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
        self.model = model.to(device).eval()
        if fp16:
            self.model = self.model.half()

    @torch.inference_mode()
    def __call__(self, images: np.ndarray) -> dict[str, np.ndarray]:
        x = torch.from_numpy(np.ascontiguousarray(images)).to(self.device, non_blocking=True)
        out = self.model(x)
        return {k: out[k].float().cpu().numpy() for k in OUTPUT_NAMES}


class OnnxRuntimeRunner:
    """onnxruntime on an exported graph (CPU execution provider unless others are asked for)."""

    name = "onnxruntime"

    def __init__(self, onnx_path: str | Path, threads: int | None = None, providers: list[str] | None = None):
        try:
            import onnxruntime as ort
        except ImportError:
            raise UserInputError("the onnxruntime backend needs the 'onnx' extra: pip install -e '.[onnx]'") from None
        so = ort.SessionOptions()
        if threads:
            so.intra_op_num_threads = threads
        providers = providers or ["CPUExecutionProvider"]
        self.session = ort.InferenceSession(str(onnx_path), so, providers=providers)
        self.device = "cpu" if providers == ["CPUExecutionProvider"] else ",".join(providers)
        self.precision = "fp32"
        self.input_name = self.session.get_inputs()[0].name
        names = [o.name for o in self.session.get_outputs()]
        missing = set(OUTPUT_NAMES) - set(names)
        if missing:
            raise UserInputError(f"{onnx_path} lacks outputs {sorted(missing)}: not exported by deploy.export")

    def __call__(self, images: np.ndarray) -> dict[str, np.ndarray]:
        outs = self.session.run(list(OUTPUT_NAMES), {self.input_name: np.ascontiguousarray(images)})
        return dict(zip(OUTPUT_NAMES, outs))
