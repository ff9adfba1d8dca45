"""INT8 for onnxruntime on the CPU: static quantization (QDQ) of our fp32 ONNX graph, calibrated on real frames.

``quantize_int8(fp32_onnx, out, batches)`` runs onnxruntime's ``quantize_static``: weights int8 per output channel,
activations uint8 with ranges from the calibration frames (``CalibrationBatches``: the letterboxed uint8 batches
the network eats), in QuantizeLinear/DequantizeLinear pairs that onnxruntime fuses into integer kernels. The
uint8 image input stays as it is. The fp32 graph's metadata is carried over with ``precision: int8`` and what the
calibration used, so ``perception.run --weights model_int8.onnx`` and the benchmark read it like any export.
Measured on our 2-core AVX2 CPU (no VNNI): no faster than fp32, and 1.6 points of CamVid mIoU lower
(benchmarks/RESULTS.md), so it is not the default anywhere; CPUs with VNNI integer instructions are where it may pay.
"""

from __future__ import annotations

import hashlib
import logging
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from perception.backends.metadata import from_onnx_props, to_onnx_props
from perception.errors import UserInputError

CALIBRATION_METHOD = "percentile"  # minmax lets one bright outlier pixel set a whole layer's range


def quantize_int8(fp32_onnx: str | Path, out: str | Path, batches: Any, *, images_used: int | None = None) -> Path:
    """Write the INT8 (QDQ) version of ``fp32_onnx`` to ``out``; ``batches`` yields uint8 (B, 3, H, W) arrays."""
    try:
        import onnx
        from onnxruntime.quantization import (CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType,
                                              quantize_static)
    except ImportError:
        raise UserInputError("INT8 for onnxruntime needs the 'onnx' extra: pip install -e '.[onnx]'") from None
    fp32_onnx, out = Path(fp32_onnx), Path(out)
    source = onnx.load(str(fp32_onnx), load_external_data=False)
    input_name = source.graph.input[0].name

    class Frames(CalibrationDataReader):
        def __init__(self) -> None:
            self._batches = iter(batches)

        def get_next(self) -> dict[str, np.ndarray] | None:
            batch = next(self._batches, None)
            return None if batch is None else {input_name: np.ascontiguousarray(batch)}

    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)  # the quantizer logs a warning per conv whose bias is computed, not stored
    with tempfile.TemporaryDirectory(prefix="perception-int8-") as tmp:
        raw = Path(tmp) / "int8.onnx"
        try:
            quantize_static(str(fp32_onnx), str(raw), Frames(), quant_format=QuantFormat.QDQ,
                            activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8, per_channel=True,
                            calibrate_method=CalibrationMethod.Percentile,
                            extra_options={"CalibPercentile": 99.99})
        finally:
            root.setLevel(level)
        model = onnx.load(str(raw))
    meta = from_onnx_props({p.key: p.value for p in source.metadata_props})
    meta.update(precision="int8", int8={"method": "onnxruntime quantize_static QDQ, per-channel int8 weights, "
                                                  f"uint8 activations, {CALIBRATION_METHOD} 99.99",
                                        "calibration_images": images_used,
                                        "fp32_sha256": hashlib.sha256(fp32_onnx.read_bytes()).hexdigest()})
    del model.metadata_props[:]
    for key, value in to_onnx_props(meta).items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    out.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(out))
    return out
