"""Moved to ``perception.backends`` (runtime runners live in perception; deploy imports them).

Kept only so that processes started before the move (the ``runs/gen1`` fine-tuning, whose validation
imports ``deploy.runner`` lazily) keep working; delete once that run has finished. New code imports
``perception.backends``.
"""

from perception.backends.onnxruntime_runner import OnnxRuntimeRunner
from perception.backends.runner import BACKENDS, Runner, make_runner
from perception.backends.torch_runner import TorchRunner

__all__ = ["BACKENDS", "OnnxRuntimeRunner", "Runner", "TorchRunner", "make_runner"]
