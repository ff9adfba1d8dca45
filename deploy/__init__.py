"""Export the network for other backends (ONNX, TensorRT FP16/INT8), check parity, and benchmark them.

The runners that execute exported files live in ``perception.backends`` (the runtime uses them);
deploy imports perception, never the reverse.

- ``export``: ``python -m deploy.export`` (ONNX or TensorRT engine), through ``export_wrapper``
  (time, non-empty file, precision); the ONNX graph itself is written by
  ``perception.backends.onnx_export`` (``perception.run --backend onnxruntime`` exports on the fly)
- ``tensorrt``: TensorRT 10 engine build (FP16/INT8) and its sidecar; imports without TensorRT
- ``int8_calibration``: INT8 calibration batches from real images, calibration cache
- ``sidecar``: ``python -m deploy.sidecar`` for engines built with trtexec
- ``model_source``: the checkpoint an export or benchmark starts from
- ``benchmark`` / ``benchmark_e2e``: ``python -m deploy.benchmark`` (one table + JSON)
- ``parity``, ``accuracy``: comparisons with torch fp32 on real frames, accuracy hook

Heavy packages (onnx, onnxruntime, tensorrt) are imported inside the functions that need them.
"""
