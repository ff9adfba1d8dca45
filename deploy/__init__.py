"""Export and run the network on other backends (ONNX/onnxruntime, TensorRT).

Heavy packages (onnx, onnxruntime, tensorrt) are imported inside the functions that need them.
"""
