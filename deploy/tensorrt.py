"""TensorRT 10: build an engine from our ONNX (FP16, or INT8 with entropy calibration) and run it.

Everything from ``tensorrt`` is imported inside the functions, so this module imports on machines
without TensorRT; calling into it there raises ``UserInputError("TensorRT is not installed: ...")``.
GPU buffers are torch CUDA tensors (no pycuda). Inference uses named tensors:
``context.set_tensor_address(name, ptr)`` and ``context.execute_async_v3(stream)``.

NOTE: this file was written against the TensorRT 10 Python API documentation; it has not been run
against a real TensorRT install in this repository's CI (see docs/jetson.md, "What was verified").
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from deploy.calibration import CalibrationBatches, CalibrationCache
from deploy.metadata import config_from_metadata, read_onnx_metadata, read_sidecar, write_sidecar
from perception.errors import UserInputError
from perception.model.network import OUTPUT_NAMES
from perception.model.weights import sha256_of

MIN_TENSORRT_MAJOR = 10
ENGINE_PRECISIONS = ("fp32", "fp16", "int8")


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


def _require_cuda() -> None:
    if not torch.cuda.is_available():
        raise UserInputError("TensorRT needs a CUDA GPU, and torch sees none (torch.cuda.is_available() is False)")


def make_entropy_calibrator(trt: Any, batches: CalibrationBatches, cache: CalibrationCache | None,
                            to_device: Callable[[np.ndarray], torch.Tensor] | None = None) -> Any:
    """An ``IInt8EntropyCalibrator2`` that feeds ``batches`` (uint8 (B, 3, H, W)) and uses ``cache``.

    ``to_device`` copies one batch to GPU memory (default: a torch CUDA tensor); the tensor is kept
    alive until the next batch, as TensorRT reads it after ``get_batch`` returns. ``get_batch``
    returns None after the last batch, which ends calibration.
    """
    copy_to_device = to_device or (lambda a: torch.from_numpy(a).cuda())

    class EntropyCalibrator(trt.IInt8EntropyCalibrator2):
        def __init__(self) -> None:
            trt.IInt8EntropyCalibrator2.__init__(self)
            self._batches = iter(batches)
            self._on_device: torch.Tensor | None = None
            self.batches_fed = 0

        def get_batch_size(self) -> int:
            return batches.batch_size

        def get_batch(self, names: list[str]) -> list[int] | None:
            batch = next(self._batches, None)
            if batch is None:
                self._on_device = None
                return None
            self._on_device = copy_to_device(batch)
            self.batches_fed += 1
            return [int(self._on_device.data_ptr())]  # our engines have exactly one input, "images"

        def read_calibration_cache(self) -> bytes | None:
            return cache.read() if cache is not None else None

        def write_calibration_cache(self, data: Any) -> None:
            if cache is not None:
                cache.write(bytes(data))

    return EntropyCalibrator()


def build_engine(onnx_path: str | Path, engine_path: str | Path, *, precision: str,
                 calibration: CalibrationBatches | None = None, calibration_cache: CalibrationCache | None = None,
                 max_batch: int = 8, opt_batch: int = 1, workspace_gib: float = 2.0) -> Path:
    """Build and serialise a TensorRT engine from one of our ONNX files, plus its JSON sidecar.

    Args:
        precision: "fp32", "fp16" or "int8". INT8 needs ``calibration`` (real images); FP16 is also
            enabled for INT8 builds so layers without INT8 kernels fall back to FP16, and the sidecar
            lists the builder flags. A precision the GPU cannot run is an error, never dropped.
        max_batch, opt_batch: optimisation profile for a dynamic-batch ONNX (min 1).
    Returns the engine path; the sidecar is ``<engine>.json``.
    """
    trt = require_tensorrt()
    _require_cuda()
    if precision not in ENGINE_PRECISIONS:
        raise UserInputError(f"engine precision must be one of {ENGINE_PRECISIONS}, got {precision!r}")
    if precision == "int8" and calibration is None:
        raise UserInputError("an INT8 engine needs calibration images: --calib-images DIR")
    onnx_path, engine_path = Path(onnx_path), Path(engine_path)
    meta = read_onnx_metadata(onnx_path)
    config_from_metadata(meta, where=str(onnx_path))  # refuse graphs that are not ours
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    network = builder.create_network(0)  # TensorRT 10: explicit batch is the only mode
    parser = trt.OnnxParser(network, logger)
    if not parser.parse(onnx_path.read_bytes()):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise RuntimeError(f"TensorRT cannot parse {onnx_path}: {errors}")
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, int(workspace_gib * (1 << 30)))
    flags = _set_precision_flags(trt, builder, config, precision)
    inp = network.get_input(0)
    shape = tuple(inp.shape)  # (B, 3, H, W), B == -1 for a dynamic-batch graph
    batch_range = None
    if shape[0] == -1:
        profile = builder.create_optimization_profile()
        profile.set_shape(inp.name, (1, *shape[1:]), (opt_batch, *shape[1:]), (max_batch, *shape[1:]))
        config.add_optimization_profile(profile)
        batch_range = [1, opt_batch, max_batch]
    calibrator = cached = None
    if precision == "int8":
        assert calibration is not None
        if shape[0] == -1:
            calib_profile = builder.create_optimization_profile()
            cshape = calibration.batch_shape
            calib_profile.set_shape(inp.name, cshape, cshape, cshape)
            config.set_calibration_profile(calib_profile)
        elif shape[0] != calibration.batch_size:
            raise UserInputError(f"calibration batch {calibration.batch_size} must equal the engine batch {shape[0]}")
        # Read the cache once here: a cache made for another model fails now, not inside a TensorRT callback.
        cached = calibration_cache.read() if calibration_cache is not None else None
        calibrator = make_entropy_calibrator(trt, calibration, calibration_cache)
        config.int8_calibrator = calibrator
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise RuntimeError(f"TensorRT could not build a {precision} engine from {onnx_path} (see its log above)")
    engine_path.parent.mkdir(parents=True, exist_ok=True)
    engine_path.write_bytes(bytes(serialized))
    sidecar = dict(meta)
    sidecar.update({"precision": precision, "builder_flags": flags, "source_onnx": onnx_path.name,
                    "source_onnx_sha256": sha256_of(onnx_path), "tensorrt_version": str(trt.__version__),
                    "batch": sidecar.get("batch") if batch_range is None else "dynamic",
                    "batch_profile_min_opt_max": batch_range,
                    "gpu": torch.cuda.get_device_name(0)})
    if calibration is not None:
        sidecar["calibration"] = {"images": calibration.images_used, "batch_size": calibration.batch_size,
                                  "batches_fed": getattr(calibrator, "batches_fed", None),
                                  "cache": str(calibration_cache.path) if calibration_cache else None,
                                  "from_cache": cached is not None}
    write_sidecar(engine_path, sidecar)
    return engine_path


def _set_precision_flags(trt: Any, builder: Any, config: Any, precision: str) -> list[str]:
    """Set builder flags for ``precision``; refuse a precision the GPU has no fast path for."""
    flags: list[str] = []
    if precision in ("fp16", "int8"):
        if not getattr(builder, "platform_has_fast_fp16", True):
            raise UserInputError("this GPU has no fast FP16; build an fp32 engine instead")
        config.set_flag(trt.BuilderFlag.FP16)
        flags.append("FP16")
    if precision == "int8":
        if not getattr(builder, "platform_has_fast_int8", True):
            raise UserInputError("this GPU has no fast INT8; build an fp16 engine instead")
        config.set_flag(trt.BuilderFlag.INT8)
        flags.append("INT8")
    return flags


class TensorRTRunner:
    """Run a serialised engine (``.engine`` + ``.engine.json`` sidecar) on a CUDA GPU.

    Input: uint8 (B, 3, H, W) numpy; output: dict of float32 numpy arrays keyed by OUTPUT_NAMES.
    ``device``: "cuda" or "cuda:N" ("cpu" is taken as the default GPU, since TensorRT only runs on GPUs).
    """

    name = "tensorrt"

    def __init__(self, engine_path: str | Path, device: str = "cuda"):
        trt = require_tensorrt()
        _require_cuda()
        engine_path = Path(engine_path)
        if not engine_path.is_file():
            raise UserInputError(f"engine file not found: {engine_path}")
        self.metadata = read_sidecar(engine_path)
        self.model_config = config_from_metadata(self.metadata, where=str(engine_path))
        self.precision = str(self.metadata.get("precision", "fp32"))
        self.device = "cuda" if device == "cpu" else device
        self._torch_device = torch.device(self.device)
        self._logger = trt.Logger(trt.Logger.WARNING)
        with torch.cuda.device(self._torch_device):
            runtime = trt.Runtime(self._logger)
            self.engine = runtime.deserialize_cuda_engine(engine_path.read_bytes())
            if self.engine is None:
                raise UserInputError(f"TensorRT {trt.__version__} cannot load {engine_path} (built with TensorRT "
                                     f"{self.metadata.get('tensorrt_version')} on {self.metadata.get('gpu')}; "
                                     f"engines are tied to the TensorRT version and GPU: rebuild it here)")
            self.context = self.engine.create_execution_context()
            self.stream = torch.cuda.Stream(self._torch_device)
        self._runtime = runtime
        names = [self.engine.get_tensor_name(i) for i in range(self.engine.num_io_tensors)]
        inputs = [n for n in names if self.engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT]
        missing = set(OUTPUT_NAMES) - set(names)
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
            for name in OUTPUT_NAMES:
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
