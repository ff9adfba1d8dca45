"""Run the network on any backend behind one interface (``Runner``): torch, onnxruntime, tensorrt.

- ``runner``: the ``Runner`` protocol, ``BACKENDS`` and ``make_runner(backend, ...)``
- ``torch_runner`` / ``onnxruntime_runner`` / ``tensorrt_runner``: one runner each
- ``metadata``: what exported files record about themselves; ``read_artifact`` reads an ``.onnx`` or
  ``.engine`` back into a ``ModelConfig``
- ``onnx_export`` (+ ``onnx_fp16``): write the ONNX graph the onnxruntime and TensorRT backends run
  (``deploy.export`` wraps it; ``perception.run --backend onnxruntime`` calls it for a ``.pt``)

Optional packages (onnx, onnxruntime, tensorrt) are imported inside the functions that need them.
"""
