"""Export the multi-task network to ONNX (uint8 input, named outputs)."""

from __future__ import annotations

from pathlib import Path

import torch

from perception.model.network import OUTPUT_NAMES, MultiTaskNet

INPUT_NAME = "images"
DEFAULT_OPSET = 17


class _TupleOutputs(torch.nn.Module):
    """ONNX export wants a tuple; keep the order of OUTPUT_NAMES so outputs can be named."""

    def __init__(self, model: MultiTaskNet):
        super().__init__()
        self.model = model

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, ...]:
        out = self.model(images)
        return tuple(out[name] for name in OUTPUT_NAMES)


def export_onnx(model: MultiTaskNet, path: str | Path, *, batch: int = 1, dynamic_batch: bool = False,
                opset: int = DEFAULT_OPSET, metadata: dict[str, str] | None = None) -> Path:
    """Write ``model`` as an ONNX graph taking uint8 ``images`` (B, 3, H, W) RGB.

    Output names are ``OUTPUT_NAMES``. ``metadata`` goes into ``metadata_props``. Returns the path.
    """
    import onnx

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    w, h = model.config.input_size_wh
    dummy = torch.zeros(batch, 3, h, w, dtype=torch.uint8)
    dynamic_axes = None
    if dynamic_batch:
        dynamic_axes = {INPUT_NAME: {0: "batch"}, **{n: {0: "batch"} for n in OUTPUT_NAMES}}
    wrapper = _TupleOutputs(model.eval()).eval()
    with torch.inference_mode():
        torch.onnx.export(wrapper, (dummy,), str(path), input_names=[INPUT_NAME], output_names=list(OUTPUT_NAMES),
                          opset_version=opset, dynamic_axes=dynamic_axes, dynamo=False, do_constant_folding=True)
    graph = onnx.load(str(path))
    for key, value in (metadata or {}).items():
        prop = graph.metadata_props.add()
        prop.key, prop.value = str(key), str(value)
    onnx.checker.check_model(graph)
    onnx.save(graph, str(path))
    return path
