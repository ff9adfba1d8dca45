"""One interface for running the network on any backend.

A runner takes uint8 RGB images (B, 3, H, W) as a numpy array and returns a dict of float32 numpy
arrays keyed by ``perception.model.output_names(model_config)`` (``OUTPUT_NAMES``, plus ``lane_row_logits`` when
the network has the row-anchor lane head; shapes as documented on ``MultiTaskNet``). Every
runner also says what it is (``name``, ``precision``, ``device``) and which ``model_config``
(classes, input size) its outputs belong to. ``make_runner`` builds one from a backend name.

    torch        eager PyTorch, cpu or cuda, fp32 or fp16 (fp16 on cuda only)   (torch_runner.py)
    onnxruntime  an exported .onnx on the CPU, CUDA or TensorRT execution provider (onnxruntime_runner.py)
    tensorrt     a serialised TensorRT engine                                    (tensorrt_runner.py)
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np

from perception.backends.onnxruntime_runner import OnnxRuntimeRunner, ort_providers
from perception.errors import UserInputError
from perception.model.config import ModelConfig

if TYPE_CHECKING:  # torch loads only for the backends that use it: an onnxruntime run starts without it
    from perception.model.network import MultiTaskNet

BACKENDS = ("torch", "onnxruntime", "tensorrt")
ARTIFACT_SUFFIXES = {"onnxruntime": (".onnx",), "tensorrt": (".engine", ".plan")}
_CUDA_DEVICE = re.compile(r"cuda(?::(\d+))?")  # "cuda" or "cuda:N"


class Runner(Protocol):
    name: str                        # backend name, e.g. "torch"
    precision: str                   # "fp32", "fp16", "int8"
    device: str                      # "cpu", "cuda", ...
    model_config: ModelConfig | None  # classes and input size of the outputs (None: unknown graph)

    def __call__(self, images: np.ndarray) -> dict[str, np.ndarray]: ...


def check_device(backend: str, device: str) -> None:
    """Refuse a ``device`` that ``backend`` cannot use on this machine (UserInputError, one line naming --device).

    torch: ``cpu``, ``cuda`` or ``cuda:N`` with that GPU present; onnxruntime: ``cpu``, ``cuda`` or ``tensorrt``
    with that execution provider installed; tensorrt: ``cuda`` or ``cuda:N`` (``cpu``, the flag's default, means
    the default GPU; the runner checks for TensorRT and CUDA). Cheap: nothing is loaded, no GPU memory is taken.
    """
    if backend == "onnxruntime":
        try:
            ort_providers(device)
        except ImportError:
            raise UserInputError("the onnxruntime backend needs the 'onnx' extra: pip install -e '.[onnx]'") from None
        except UserInputError as e:
            raise UserInputError(f"--device {device}: {e}") from None
        return
    cuda = _CUDA_DEVICE.fullmatch(device)
    if device != "cpu" and cuda is None:
        where = "cpu, cuda or cuda:N" if backend == "torch" else "cuda or cuda:N"
        raise UserInputError(f"--device {device!r}: the {backend} backend runs on {where}")
    if backend == "torch" and cuda is not None:
        import torch

        if not torch.cuda.is_available():
            raise UserInputError(f"--device {device}: no CUDA GPU is available here (torch.cuda.is_available() is "
                                 f"False); use --device cpu")
        index, count = int(cuda.group(1) or 0), torch.cuda.device_count()
        if index >= count:
            raise UserInputError(f"--device {device}: this machine has {count} CUDA GPU(s), cuda:0 to "
                                 f"cuda:{count - 1}")


def make_runner(backend: str, *, model: MultiTaskNet | None = None, model_path: str | Path | None = None,
                device: str = "cpu", precision: str | None = None, threads: int | None = None,
                expected_sha256: str | None = None, trust_engine: bool = False) -> Runner:
    """Build the runner for ``backend``.

    - ``torch``: needs ``model``; ``precision`` fp32 (default) or fp16 (fp16 needs ``device`` cuda).
    - ``onnxruntime``: needs ``model_path`` to an ``.onnx``; ``device`` cpu, cuda or tensorrt picks
      the execution provider.
    - ``tensorrt``: needs ``model_path`` to an ``.engine`` with its JSON sidecar; runs on CUDA.
    For exported files the precision is the one they were built with; a different ``precision``
    is an error, never ignored. Wrong combinations raise UserInputError naming what to pass instead.
    ``expected_sha256``: the exported file's bytes must have this SHA-256 (checked on the bytes loaded). An engine
    must also match the SHA-256 its sidecar records, unless ``trust_engine``.
    """
    if backend not in BACKENDS:
        raise UserInputError(f"unknown backend {backend!r} (choose from {', '.join(BACKENDS)})")
    if backend == "torch":
        if model is None:
            raise UserInputError("the torch backend runs a .pt checkpoint, not an exported file; "
                                 "pass --weights FILE.pt")
        if precision not in (None, "fp32", "fp16"):
            raise UserInputError(f"the torch backend runs fp32 or fp16, not {precision}")
        from perception.backends.torch_runner import TorchRunner

        return TorchRunner(model, device=device, fp16=precision == "fp16")
    suffixes = ARTIFACT_SUFFIXES[backend]
    if model_path is None or Path(model_path).suffix.lower() not in suffixes:
        fmt = "onnx" if backend == "onnxruntime" else "engine"
        raise UserInputError(f"the {backend} backend needs a {suffixes[0]} file (build one with "
                             f"python -m deploy.export --format {fmt}), got {model_path}")
    runner: Runner
    if backend == "onnxruntime":
        runner = OnnxRuntimeRunner(model_path, threads=threads, device=device, expected_sha256=expected_sha256)
    else:
        from perception.backends.tensorrt_runner import TensorRTRunner

        runner = TensorRTRunner(model_path, device=device, trust_engine=trust_engine, expected_sha256=expected_sha256)
    if precision is not None and precision != runner.precision:
        raise UserInputError(f"{model_path} was built for {runner.precision}, not {precision}; "
                             f"export it again with the precision you want")
    return runner
