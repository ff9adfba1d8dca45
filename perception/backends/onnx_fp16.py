"""Make a half-precision ONNX export valid: keep the few ops ONNX defines only for fp32 in fp32.

``torch.onnx.export`` of a ``model.half()`` writes every float tensor as float16, including the
inputs of ``Range`` (the detection head builds its location grid with ``torch.arange``), which the
ONNX spec does not allow for float16. Each such node gets a ``Cast`` to float32 on its inputs and a
``Cast`` back to float16 on its output; every other op stays float16.
"""

from __future__ import annotations

from typing import Any

FP32_ONLY_OPS = ("Range",)  # ops whose float inputs must be float32 (ONNX type constraints)


def _elem_types(model: Any) -> dict[str, int]:
    """Tensor name -> ONNX elem_type, from shape inference, graph I/O, initializers and Constants."""
    import onnx

    inferred = onnx.shape_inference.infer_shapes(model, strict_mode=False)
    g = inferred.graph
    types: dict[str, int] = {}
    for vi in list(g.value_info) + list(g.input) + list(g.output):
        if vi.type.HasField("tensor_type"):
            types[vi.name] = vi.type.tensor_type.elem_type
    for init in g.initializer:
        types[init.name] = init.data_type
    for node in g.node:
        if node.op_type == "Constant":
            for attr in node.attribute:
                if attr.name == "value":
                    types[node.output[0]] = attr.t.data_type
    return types


def keep_fp32_only_ops_in_fp32(model: Any) -> int:
    """Wrap every float16 use of ``FP32_ONLY_OPS`` in Casts, in place. Returns the number of nodes fixed."""
    import onnx
    from onnx import TensorProto, helper

    types = _elem_types(model)
    graph = model.graph
    new_nodes = []
    fixed = 0
    for node in graph.node:
        fp16_inputs = [i for i in node.input if types.get(i) == TensorProto.FLOAT16]
        if node.op_type not in FP32_ONLY_OPS or not fp16_inputs:
            new_nodes.append(node)
            continue
        fixed += 1
        renamed_inputs = []
        for name in node.input:
            if types.get(name) == TensorProto.FLOAT16:
                cast_name = f"{name}__as_fp32"
                new_nodes.append(helper.make_node("Cast", [name], [cast_name], to=TensorProto.FLOAT,
                                                  name=f"{node.name}__cast_in_{len(renamed_inputs)}"))
                renamed_inputs.append(cast_name)
            else:
                renamed_inputs.append(name)
        out_fp32 = f"{node.output[0]}__fp32"
        fp32_node = onnx.NodeProto()
        fp32_node.CopyFrom(node)
        del fp32_node.input[:]
        fp32_node.input.extend(renamed_inputs)
        fp32_node.output[0] = out_fp32
        new_nodes.append(fp32_node)
        new_nodes.append(helper.make_node("Cast", [out_fp32], [node.output[0]], to=TensorProto.FLOAT16,
                                          name=f"{node.name}__cast_out"))
    del graph.node[:]
    graph.node.extend(new_nodes)
    # Stale value_info entries for the renamed tensors would contradict the new types.
    keep = [vi for vi in graph.value_info if not vi.name.endswith(("__as_fp32", "__fp32"))]
    del graph.value_info[:]
    graph.value_info.extend(keep)
    return fixed


def float_initializer_types(model: Any) -> dict[str, int]:
    """Count of float initializers by dtype name, e.g. {"float16": 120, "float32": 0} (for checks)."""
    from onnx import TensorProto

    counts = {"float16": 0, "float32": 0}
    for init in model.graph.initializer:
        if init.data_type == TensorProto.FLOAT16:
            counts["float16"] += 1
        elif init.data_type == TensorProto.FLOAT:
            counts["float32"] += 1
    return counts
