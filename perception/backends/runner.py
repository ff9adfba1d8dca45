"""One interface for running the network on any backend.

A runner takes uint8 RGB images (B, 3, H, W) as a numpy array and returns a dict of float32 numpy
arrays keyed by ``perception.model.OUTPUT_NAMES`` (shapes as documented on ``MultiTaskNet``). Every
runner also says what it is (``name``, ``precision``, ``device``) and which ``model_config``
(classes, input size) its outputs belong to. ``make_runner`` builds one from a backend name.

    torch        eager PyTorch, cpu or cuda, fp32 or fp16 (fp16 on cuda only)
    onnxruntime  an exported .onnx on the CPU, CUDA or TensorRT execution provider
    tensorrt     a serialised TensorRT engine (deploy/tensorrt.py)
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

import numpy as np
import torch

from perception.errors import UserInputError
from perception.model.config import ModelConfig
from perception.model.network import OUTPUT_NAMES, MultiTaskNet

BACKENDS = ("torch", "onnxruntime", "tensorrt")
# onnxruntime execution provider for each ``device`` value, tried in this order (CPU always last).
ORT_PROVIDERS = {"cpu": ("CPUExecutionProvider",),
                 "cuda": ("CUDAExecutionProvider", "CPUExecutionProvider"),
                 "tensorrt": ("TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider")}


class Runner(Protocol):
    name: str                        # backend name, e.g. "torch"
    precision: str                   # "fp32", "fp16", "int8"
    device: str                      # "cpu", "cuda", ...
    model_config: ModelConfig | None  # classes and input size of the outputs (None: unknown graph)

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
        self.model_config = model.config
        self.model = model.to(device).eval()
        if fp16:
            self.model = self.model.half()

    @torch.inference_mode()
    def __call__(self, images: np.ndarray) -> dict[str, np.ndarray]:
        x = torch.from_numpy(np.ascontiguousarray(images)).to(self.device, non_blocking=True)
        out = self.model(x)
        return {k: out[k].float().cpu().numpy() for k in OUTPUT_NAMES}


def ort_providers(device: str) -> list[str]:
    """Execution providers for ``device`` (cpu / cuda / tensorrt); UserInputError when not installed."""
    import onnxruntime as ort

    if device not in ORT_PROVIDERS:
        raise UserInputError(f"onnxruntime device must be one of {sorted(ORT_PROVIDERS)}, got {device!r}")
    wanted = ORT_PROVIDERS[device][0]
    available = ort.get_available_providers()
    if wanted not in available:
        raise UserInputError(f"onnxruntime here has no {wanted} (available: {', '.join(available)}); "
                             f"install onnxruntime-gpu for cuda/tensorrt, or use --device cpu")
    return [p for p in ORT_PROVIDERS[device] if p in available]


class OnnxRuntimeRunner:
    """onnxruntime on an exported graph. ``device``: cpu (default), cuda, or tensorrt (the TensorRT EP).

    The session must actually get the requested provider: no silent fallback to the CPU.
    ``precision`` and ``model_config`` come from the file's metadata (``deploy.metadata``).
    """

    name = "onnxruntime"

    def __init__(self, onnx_path: str | Path, threads: int | None = None, device: str = "cpu",
                 model_config: ModelConfig | None = None):
        try:
            import onnxruntime as ort
        except ImportError:
            raise UserInputError("the onnxruntime backend needs the 'onnx' extra: pip install -e '.[onnx]'") from None
        from deploy.metadata import config_from_metadata, read_onnx_metadata

        onnx_path = Path(onnx_path)
        if not onnx_path.is_file():
            raise UserInputError(f"ONNX file not found: {onnx_path}")
        meta = read_onnx_metadata(onnx_path)
        providers = ort_providers(device)
        so = ort.SessionOptions()
        so.log_severity_level = 3  # errors only: fp16 graphs log harmless "cannot constant fold" warnings
        if threads:
            so.intra_op_num_threads = threads
        try:
            self.session = ort.InferenceSession(str(onnx_path), so, providers=providers)
        except Exception as e:  # onnxruntime raises its own exception types for every load failure
            from deploy.messages import first_line

            raise UserInputError(f"onnxruntime cannot load {onnx_path}: {first_line(e)}") from None
        if self.session.get_providers()[0] != providers[0]:
            raise UserInputError(f"onnxruntime could not start {providers[0]} for {onnx_path} "
                                 f"(got {self.session.get_providers()})")
        self.device = device
        self.precision = str(meta.get("precision", "fp32"))
        self.metadata = meta
        self.model_config = model_config or (config_from_metadata(meta, where=str(onnx_path)) if meta else None)
        self.input_name = self.session.get_inputs()[0].name
        names = [o.name for o in self.session.get_outputs()]
        missing = set(OUTPUT_NAMES) - set(names)
        if missing:
            raise UserInputError(f"{onnx_path} lacks outputs {sorted(missing)}: not exported by deploy.export")

    def __call__(self, images: np.ndarray) -> dict[str, np.ndarray]:
        outs = self.session.run(list(OUTPUT_NAMES), {self.input_name: np.ascontiguousarray(images)})
        return {k: np.asarray(v, dtype=np.float32) for k, v in zip(OUTPUT_NAMES, outs)}


ARTIFACT_SUFFIXES = {"onnxruntime": (".onnx",), "tensorrt": (".engine", ".plan")}


def make_runner(backend: str, *, model: MultiTaskNet | None = None, model_path: str | Path | None = None,
                device: str = "cpu", precision: str | None = None, threads: int | None = None) -> Runner:
    """Build the runner for ``backend``.

    - ``torch``: needs ``model``; ``precision`` fp32 (default) or fp16 (fp16 needs ``device`` cuda).
    - ``onnxruntime``: needs ``model_path`` to an ``.onnx``; ``device`` cpu, cuda or tensorrt picks
      the execution provider.
    - ``tensorrt``: needs ``model_path`` to an ``.engine`` with its JSON sidecar; runs on CUDA.
    For exported files the precision is the one they were built with; a different ``precision``
    is an error, never ignored. Wrong combinations raise UserInputError naming what to pass instead.
    """
    if backend not in BACKENDS:
        raise UserInputError(f"unknown backend {backend!r} (choose from {', '.join(BACKENDS)})")
    if backend == "torch":
        if model is None:
            raise UserInputError("the torch backend runs a .pt checkpoint, not an exported file; "
                                 "pass --weights FILE.pt")
        if precision not in (None, "fp32", "fp16"):
            raise UserInputError(f"the torch backend runs fp32 or fp16, not {precision}")
        return TorchRunner(model, device=device, fp16=precision == "fp16")
    suffixes = ARTIFACT_SUFFIXES[backend]
    if model_path is None or Path(model_path).suffix.lower() not in suffixes:
        fmt = "onnx" if backend == "onnxruntime" else "engine"
        raise UserInputError(f"the {backend} backend needs a {suffixes[0]} file (build one with "
                             f"python -m deploy.export --format {fmt}), got {model_path}")
    runner: Runner
    if backend == "onnxruntime":
        runner = OnnxRuntimeRunner(model_path, threads=threads, device=device)
    else:
        from deploy.tensorrt import TensorRTRunner

        runner = TensorRTRunner(model_path, device=device)
    if precision is not None and precision != runner.precision:
        raise UserInputError(f"{model_path} was built for {runner.precision}, not {precision}; "
                             f"export it again with the precision you want")
    return runner
