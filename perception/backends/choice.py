"""Which backend ``--backend auto`` (the default) runs, and why: the reason goes into summary.json.

An exported file decides by its type (``.onnx`` -> onnxruntime, ``.engine``/``.plan`` -> tensorrt). A checkpoint
runs under onnxruntime when it is installed with a provider for the device (on two CPU cores it is several times
faster than eager torch), else under torch.
"""

from __future__ import annotations

from pathlib import Path

from perception.backends.runner import ARTIFACT_SUFFIXES

AUTO = "auto"


def choose_backend(requested: str, device: str, weights: str | None) -> tuple[str, str]:
    """(backend, reason) for ``--backend requested`` on ``device`` with ``--weights weights`` (None: published)."""
    if requested != AUTO:
        return requested, f"--backend {requested}"
    suffix = Path(weights).suffix.lower() if weights else ""
    for backend, suffixes in ARTIFACT_SUFFIXES.items():
        if suffix in suffixes:
            return backend, f"auto: --weights is a {suffix} file"
    try:
        import onnxruntime as ort
    except ImportError:
        return "torch", "auto: onnxruntime is not installed (pip install -e '.[onnx]' makes CPU runs faster)"
    provider = {"cpu": "CPUExecutionProvider", "cuda": "CUDAExecutionProvider"}.get(device)
    if provider is None:
        return "torch", f"auto: onnxruntime has no provider for --device {device}"
    if provider not in ort.get_available_providers():
        return "torch", f"auto: onnxruntime here has no {provider}"
    return "onnxruntime", f"auto: onnxruntime is installed with its {provider}"
