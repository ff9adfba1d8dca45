"""TensorRT 10: build an engine from our ONNX (FP16, or INT8 with entropy calibration), plus its sidecar.

Everything from ``tensorrt`` is imported inside the functions, so this module imports on machines
without TensorRT; calling into it there raises ``UserInputError("TensorRT is not installed: ...")``.
The calibrator's GPU buffers are torch CUDA tensors (no pycuda). Engines are run by
``perception.backends.tensorrt_runner``.

NOTE: this file was written against the TensorRT 10 Python API documentation; it has not been run
against a real TensorRT install in this repository's CI (see docs/jetson.md, "What was verified").
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from deploy.int8_calibration import CalibrationBatches, CalibrationCache
from perception.backends.metadata import (ENGINE_SHA256_KEY, config_from_metadata, read_onnx_metadata,
                                          write_sidecar)
from perception.backends.tensorrt_runner import require_cuda, require_tensorrt
from perception.errors import UserInputError
from perception.model.weights import sha256_of

ENGINE_PRECISIONS = ("fp32", "fp16", "int8")


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
    require_cuda()
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
                    "gpu": torch.cuda.get_device_name(0), ENGINE_SHA256_KEY: sha256_of(engine_path)})
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
