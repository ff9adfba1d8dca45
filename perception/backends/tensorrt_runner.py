"""TensorRT 10 runner: run a serialised engine (``.engine`` + ``.engine.json`` sidecar) on a CUDA GPU.

Everything from ``tensorrt`` is imported inside the functions, so this module imports on machines
without TensorRT; calling into it there raises ``UserInputError("TensorRT is not installed: ...")``.
GPU buffers are torch CUDA tensors (no pycuda). Inference uses named tensors:
``context.set_tensor_address(name, ptr)`` and ``context.execute_async_v3(stream)``. Engines are built
by ``deploy.tensorrt``.

NOTE: this file was written against the TensorRT 10 Python API documentation; it has not been run
against a real TensorRT install in this repository's CI (see docs/jetson.md, "What was verified").
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import numpy as np
import torch

from perception.backends.metadata import config_from_metadata, read_engine_bytes, read_sidecar
from perception.errors import UserInputError
from perception.integrity import check_sha256
from perception.model.outputs import output_names

MIN_TENSORRT_MAJOR = 10


def require_tensorrt() -> Any:
    """Import and return the ``tensorrt`` module; UserInputError with one line when it cannot be used."""
    try:
        import tensorrt as trt
    except ImportError:
        raise UserInputError("TensorRT is not installed: pip install 'tensorrt>=10' on x86 Linux with CUDA, or use "
                             "the TensorRT 10 that JetPack 6.1+ ships on Jetson (see docs/jetson.md)") from None
    major = int(str(trt.__version__).split(".")[0])
    if major < MIN_TENSORRT_MAJOR:
        raise UserInputError(f"TensorRT {trt.__version__} is too old: this code uses the TensorRT "
                             f"{MIN_TENSORRT_MAJOR} API (named tensors, execute_async_v3)")
    return trt


def tensorrt_version() -> str | None:
    """Installed TensorRT version, or None (never raises)."""
    try:
        import tensorrt as trt
    except ImportError:
        return None
    return str(trt.__version__)


def require_cuda() -> None:
    if not torch.cuda.is_available():
        raise UserInputError("TensorRT needs a CUDA GPU, and torch sees none (torch.cuda.is_available() is False)")


class TensorRTRunner:
    """Run a serialised engine (``.engine`` + ``.engine.json`` sidecar) on a CUDA GPU.

    Input: uint8 (B, 3, H, W) numpy; output: dict of float32 numpy arrays keyed by ``output_names(model_config)``.
    ``device``: "cuda" or "cuda:N" ("cpu" is taken as the default GPU, since TensorRT only runs on GPUs).
    The engine's bytes are read once and must match the SHA-256 its sidecar records (an engine is native code),
    unless ``trust_engine``; and ``expected_sha256`` (e.g. what ``read_artifact`` hashed) when given.
    """

    name = "tensorrt"

    def __init__(self, engine_path: str | Path, device: str = "cuda", *, trust_engine: bool = False,
                 expected_sha256: str | None = None):
        trt = require_tensorrt()
        require_cuda()
        engine_path = Path(engine_path)
        if not engine_path.is_file():
            raise UserInputError(f"engine file not found: {engine_path}")
        self.metadata = read_sidecar(engine_path)
        engine_bytes = read_engine_bytes(engine_path, self.metadata, trust=trust_engine)
        check_sha256(engine_path, hashlib.sha256(engine_bytes).hexdigest(), expected_sha256, what="engine")
        self.model_config = config_from_metadata(self.metadata, where=str(engine_path))
        self.precision = str(self.metadata.get("precision", "fp32"))
        self.device = "cuda" if device == "cpu" else device
        self._torch_device = torch.device(self.device)
        self._logger = trt.Logger(trt.Logger.WARNING)
        with torch.cuda.device(self._torch_device):
            runtime = trt.Runtime(self._logger)
            self.engine = runtime.deserialize_cuda_engine(engine_bytes)
            if self.engine is None:
                raise UserInputError(f"TensorRT {trt.__version__} cannot load {engine_path} (built with TensorRT "
                                     f"{self.metadata.get('tensorrt_version')} on {self.metadata.get('gpu')}; "
                                     f"engines are tied to the TensorRT version and GPU: rebuild it here)")
            self.context = self.engine.create_execution_context()
            self.stream = torch.cuda.Stream(self._torch_device)
        self._runtime = runtime
        names = [self.engine.get_tensor_name(i) for i in range(self.engine.num_io_tensors)]
        inputs = [n for n in names if self.engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT]
        self.output_names = output_names(self.model_config)
        missing = set(self.output_names) - set(names)
        if len(inputs) != 1 or missing:
            raise UserInputError(f"{engine_path} is not one of our engines (inputs {inputs}, "
                                 f"missing outputs {sorted(missing)})")
        self.input_name = inputs[0]
        self._dtypes = {n: _torch_dtype(trt, self.engine.get_tensor_dtype(n)) for n in names}
        self._static_batch = int(self.engine.get_tensor_shape(self.input_name)[0])  # -1 when dynamic

    def __call__(self, images: np.ndarray) -> dict[str, np.ndarray]:
        if self._static_batch > 0 and images.shape[0] != self._static_batch:
            raise ValueError(f"this engine was built for batch {self._static_batch}, got {images.shape[0]}")
        with torch.cuda.device(self._torch_device), torch.cuda.stream(self.stream):
            x = torch.from_numpy(np.ascontiguousarray(images)).to(self._torch_device, self._dtypes[self.input_name],
                                                                   non_blocking=True)
            self.context.set_input_shape(self.input_name, tuple(x.shape))
            self.context.set_tensor_address(self.input_name, x.data_ptr())
            outputs: dict[str, torch.Tensor] = {}
            for name in self.output_names:
                shape = tuple(self.context.get_tensor_shape(name))
                outputs[name] = torch.empty(shape, dtype=self._dtypes[name], device=self._torch_device)
                self.context.set_tensor_address(name, outputs[name].data_ptr())
            if not self.context.execute_async_v3(self.stream.cuda_stream):
                raise RuntimeError("TensorRT execute_async_v3 failed")
            result = {k: v.float().cpu().numpy() for k, v in outputs.items()}  # .cpu() waits for the stream
        return result


def _torch_dtype(trt: Any, dtype: Any) -> torch.dtype:
    table = {trt.float32: torch.float32, trt.float16: torch.float16, trt.int8: torch.int8,
             trt.int32: torch.int32, trt.uint8: torch.uint8, trt.bool: torch.bool}
    if hasattr(trt, "int64"):
        table[trt.int64] = torch.int64
    if dtype not in table:
        raise UserInputError(f"engine tensor type {dtype} is not supported by TensorRTRunner")
    return table[dtype]
