"""onnxruntime runner for an exported ``.onnx`` (CPU, CUDA or TensorRT execution provider).

``onnxruntime`` is imported inside the functions, so this module imports without it.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from perception.backends.metadata import config_from_metadata, read_onnx_metadata
from perception.errors import UserInputError, first_line
from perception.integrity import check_sha256
from perception.model.config import ModelConfig
from perception.model.outputs import OUTPUT_NAMES, output_names

# onnxruntime execution provider for each ``device`` value, tried in this order (CPU always last).
ORT_PROVIDERS = {"cpu": ("CPUExecutionProvider",),
                 "cuda": ("CUDAExecutionProvider", "CPUExecutionProvider"),
                 "tensorrt": ("TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider")}


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
    ``precision`` and ``model_config`` come from the file's metadata (``perception.backends.metadata``).
    ``expected_sha256``: the file is read once, checked against it, and the session built from those bytes.
    """

    name = "onnxruntime"

    def __init__(self, onnx_path: str | Path, threads: int | None = None, device: str = "cpu",
                 model_config: ModelConfig | None = None, *, expected_sha256: str | None = None):
        try:
            import onnxruntime as ort
        except ImportError:
            raise UserInputError("the onnxruntime backend needs the 'onnx' extra: pip install -e '.[onnx]'") from None

        onnx_path = Path(onnx_path)
        if not onnx_path.is_file():
            raise UserInputError(f"ONNX file not found: {onnx_path}")
        model: str | bytes = str(onnx_path)
        if expected_sha256 is not None:
            model = onnx_path.read_bytes()
            check_sha256(onnx_path, hashlib.sha256(model).hexdigest(), expected_sha256, what="model")
        meta = read_onnx_metadata(onnx_path)
        providers = ort_providers(device)
        so = ort.SessionOptions()
        so.log_severity_level = 3  # errors only: fp16 graphs log harmless "cannot constant fold" warnings
        if threads:
            so.intra_op_num_threads = threads
        # Idle intra-op threads sleep instead of spinning: the pipeline's other threads (decoding, lanes, drawing)
        # need those cores between two inferences (2 cores, solidWhiteRight.mp4: 20.3 FPS vs 17.5 spinning).
        so.add_session_config_entry("session.intra_op.allow_spinning", "0")
        try:
            self.session = ort.InferenceSession(model, so, providers=providers)
        except Exception as e:  # onnxruntime raises its own exception types for every load failure
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
        self.output_names = output_names(self.model_config) if self.model_config is not None else OUTPUT_NAMES
        missing = set(self.output_names) - set(names)
        if missing:
            raise UserInputError(f"{onnx_path} lacks outputs {sorted(missing)}: not exported by deploy.export")

    def __call__(self, images: np.ndarray) -> dict[str, np.ndarray]:
        outs = self.session.run(list(self.output_names), {self.input_name: np.ascontiguousarray(images)})
        return {k: np.asarray(v, dtype=np.float32) for k, v in zip(self.output_names, outs)}
