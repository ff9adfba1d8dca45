"""Export and run the network on other backends (ONNX/onnxruntime, TensorRT), and benchmark them.

- ``onnx_export``: ``export_onnx`` (uint8 ``images`` in, named outputs, metadata; fp32 or real fp16)
- ``metadata``: what exported files record about themselves; ``read_artifact`` reads it back
- ``export_wrapper``: the one wrapper every export goes through (time, non-empty file, precision)
- ``export``: ``python -m deploy.export`` (ONNX or TensorRT engine)
- ``runner``: one Runner interface for torch / onnxruntime / tensorrt, ``make_runner``
- ``tensorrt``: TensorRT 10 engine build (FP16/INT8) and runner; imports without TensorRT
- ``calibration``: INT8 calibration batches from real images, calibration cache
- ``sidecar``: ``python -m deploy.sidecar`` for engines built with trtexec
- ``benchmark`` / ``benchmark_e2e``: ``python -m deploy.benchmark`` (one table + JSON)
- ``parity``, ``accuracy``: comparisons with torch fp32 on real frames, accuracy hook

Heavy packages (onnx, onnxruntime, tensorrt) are imported inside the functions that need them.
"""
