"""Export the multi-task network to ONNX: uint8 ``images`` in, named float32 outputs, metadata inside.

The graph takes ``images`` uint8 (B, 3, H, W) RGB (normalisation is part of the network) and returns
``output_names(model.config)`` in that order (``OUTPUT_NAMES``, plus ``lane_row_logits`` with the row-anchor lane
head), always float32 (an fp16 graph computes in float16 and casts its
outputs). ``metadata_props`` carries the record from ``perception.backends.metadata.build_metadata``.
"""

from __future__ import annotations

import copy
import warnings
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any, Iterator

import torch

from perception.backends.metadata import DEFAULT_OPSET, ExportFacts, build_metadata, to_onnx_props
from perception.backends.onnx_fp16 import keep_fp32_only_ops_in_fp32
from perception.errors import UserInputError, first_line
from perception.model.network import MultiTaskNet, output_names

INPUT_NAME = "images"
MIN_OPSET = 17
FP16_TRACE_HW = (64, 64)  # (H, W) of the dummy input the fp16 graph is traced with


class _TupleOutputs(torch.nn.Module):
    """ONNX export wants a tuple; keep the order of ``output_names`` so outputs can be named.

    Outputs are cast to float32 so every backend hands postprocessing the same dtype.
    """

    def __init__(self, model: MultiTaskNet):
        super().__init__()
        self.model = model
        self.names = output_names(model.config)

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, ...]:
        out = self.model(images)
        return tuple(out[name].float() for name in self.names)


def export_onnx(model: MultiTaskNet, path: str | Path, *, batch: int = 1, dynamic_batch: bool = False,
                fp16: bool = False, input_size_wh: tuple[int, int] | None = None, opset: int = DEFAULT_OPSET,
                weights_sha256: str = "unknown", weights_name: str = "unknown", simplify: bool = False,
                metadata: dict[str, Any] | None = None) -> Path:
    """Write ``model`` as an ONNX graph taking uint8 ``images`` (B, 3, H, W) RGB. Returns the path.

    Args:
        batch: fixed batch size B of the graph (ignored with ``dynamic_batch``).
        dynamic_batch: make axis 0 of the input and every output symbolic (``batch``).
        fp16: real half-precision graph (weights and activations float16; float32 outputs).
        input_size_wh: (W, H) network input, multiples of 32; default ``model.config.input_size_wh``.
        weights_sha256, weights_name: recorded in the metadata (``perception.backends.metadata.UNTRAINED_SHA256``
            marks the seeded untrained model).
        simplify: run onnxsim (must be installed; UserInputError otherwise).
        metadata: extra ``metadata_props`` entries (strings), added after the standard record.
    The file passes ``onnx.checker.check_model(full_check=True)``. ``model`` is not modified.
    """
    import onnx

    if opset < MIN_OPSET:
        raise UserInputError(f"--opset must be >= {MIN_OPSET}, got {opset}")
    if batch < 1:
        raise UserInputError(f"--batch must be >= 1, got {batch}")
    w, h = input_size_wh or model.config.input_size_wh
    if w % 32 or h % 32 or w <= 0 or h <= 0:
        raise UserInputError(f"input size must be positive multiples of 32, got {h}x{w} (HxW)")
    simplifier = _onnxsim() if simplify else None
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    facts = ExportFacts(config=replace(model.config, input_size_wh=(int(w), int(h))), weights_sha256=weights_sha256,
                        weights_name=weights_name, precision="fp16" if fp16 else "fp32",
                        batch=None if dynamic_batch else batch)
    net = copy.deepcopy(model).eval()
    # Half-precision convolutions are very slow on CPU, so the fp16 graph is traced on a small input
    # with symbolic H and W, and the real input size is written into the graph afterwards.
    trace_h, trace_w = (FP16_TRACE_HW if fp16 else (h, w))
    if fp16:
        net = net.half()
    dummy = torch.zeros(batch, 3, trace_h, trace_w, dtype=torch.uint8)
    names = output_names(model.config)
    dynamic_axes: dict[str, dict[int, str]] = {INPUT_NAME: {}, **{n: {} for n in names}}
    for axes in dynamic_axes.values():
        if dynamic_batch:
            axes[0] = "batch"
        if fp16:
            axes.update({2: "height", 3: "width"})
    with torch.inference_mode(), warnings.catch_warnings(), _threads(1 if fp16 else None):
        # The TorchScript exporter warns about its own deprecation and shape inference; not actionable here.
        warnings.simplefilter("ignore")
        torch.onnx.export(_TupleOutputs(net).eval(), (dummy,), str(path), input_names=[INPUT_NAME],
                          output_names=list(names), opset_version=opset, dynamic_axes=dynamic_axes,
                          dynamo=False, do_constant_folding=True)
    proto = onnx.load(str(path))
    if fp16:
        keep_fp32_only_ops_in_fp32(proto)
        batch_dim = None if dynamic_batch else batch
        out_shapes = _output_shapes(model, h, w)
        _pin_shape(proto.graph.input[0], (batch_dim, 3, h, w))
        for out in proto.graph.output:
            _pin_shape(out, (batch_dim, *out_shapes[out.name][1:]))
    if simplifier is not None:
        proto = simplifier(proto)
    props = to_onnx_props(build_metadata(facts, input_name=INPUT_NAME, output_names=names, opset=opset))
    props.update({str(k): str(v) for k, v in (metadata or {}).items()})
    del proto.metadata_props[:]
    for key, value in props.items():
        prop = proto.metadata_props.add()
        prop.key, prop.value = key, value
    try:
        onnx.checker.check_model(proto, full_check=True)
    except onnx.checker.ValidationError as e:
        raise RuntimeError(f"exported ONNX graph failed onnx.checker: {first_line(e)}") from e
    onnx.save(proto, str(path))
    return path


@contextmanager
def _threads(n: int | None) -> Iterator[None]:
    """Run with ``n`` intra-op threads, then restore. Half-precision CPU convolutions with several
    threads on a busy machine were measured 10-500x slower than with one (0.04 s vs 0.7-20 s)."""
    before = torch.get_num_threads()
    if n is not None:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _output_shapes(model: MultiTaskNet, h: int, w: int) -> dict[str, tuple[int, ...]]:
    """Output shapes at batch 1 for an (h, w) input, from a shape-only run on the meta device."""
    meta_net = copy.deepcopy(model).to("meta").eval()
    with torch.inference_mode():
        out = meta_net(torch.empty(1, 3, h, w, dtype=torch.uint8, device="meta"))
    return {k: tuple(v.shape) for k, v in out.items()}


def _pin_shape(value_info: Any, shape: tuple[int | None, ...]) -> None:
    """Write ``shape`` into a graph input/output; None keeps the axis symbolic (``batch``)."""
    dims = value_info.type.tensor_type.shape.dim
    for dim, size in zip(dims, shape):
        if size is None:
            dim.dim_param = "batch"
        else:
            dim.dim_value = int(size)


def _onnxsim() -> Any:
    """Return a function ModelProto -> simplified ModelProto, or raise UserInputError when onnxsim is absent."""
    try:
        import onnxsim
    except ImportError:
        raise UserInputError("--simplify needs the onnxsim package, which is not installed "
                             "(pip install onnxsim), or leave out --simplify") from None

    def simplify(proto: Any) -> Any:
        simplified, ok = onnxsim.simplify(proto)
        if not ok:
            raise RuntimeError("onnxsim could not validate the simplified graph")
        return simplified

    return simplify
