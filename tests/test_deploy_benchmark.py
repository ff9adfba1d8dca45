"""python -m deploy.benchmark: one table and a JSON across backends; failures are rows, not crashes.

Timings are never asserted (they depend on the machine); only that they were measured.
"""

from __future__ import annotations

import json

import pytest
import torch

from conftest import CLIP, need
from deploy.benchmark import get_args_parser, main, parse_variants
from perception.cli import run_main


@pytest.fixture(autouse=True, scope="module")
def one_torch_thread():
    """Torch with several intra-op threads on a machine shared with other jobs was measured 10-40x
    slower than with one; these tests check results, not speed."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def bench(capsys, *argv: str) -> tuple[int, str, str]:
    try:
        code = run_main(main, get_args_parser().parse_args(list(argv)))
    except SystemExit as e:
        code = int(e.code)
    out = capsys.readouterr()
    return code, out.out, out.err


def test_network_table_and_json(tmp_path, capsys):
    clip = need(CLIP)
    out = tmp_path / "bench.json"
    code, stdout, err = bench(capsys, "--allow-untrained", "--video", str(clip), "--backends",
                              "onnxruntime,tensorrt:fp16,torch:fp16", "--batch", "1,2", "--iters", "2",
                              "--warmup", "0", "--threads", "1", "--no-accuracy", "--output", str(out))
    assert code == 0, err
    header = stdout.splitlines()[0]
    for column in ("backend", "prec", "batch", "status", "MB", "p50 ms", "p90 ms", "p99 ms", "FPS", "max abs err",
                   "max rel err", "CamVid mIoU", "Apollo AP50"):
        assert column in header
    result = json.loads(out.read_text())
    from perception.model import default_weights

    assert result["untrained"] is (default_weights() is None)
    assert result["parity_reference"].startswith("torch fp32")
    rows = {(r["backend"], r["precision"], r["batch"]): r for r in result["rows"]}
    assert set(rows) == {(b, p, n) for b, p in (("onnxruntime", "fp32"), ("tensorrt", "fp16"), ("torch", "fp16"))
                         for n in (1, 2)}
    for n in (1, 2):
        ort = rows[("onnxruntime", "fp32", n)]
        assert ort["status"] == "ok" and ort["size_mb"] > 0.5
        assert ort["p50_ms"] > 0 and ort["fps"] > 0 and ort["p50_ms"] <= ort["p99_ms"]
        assert ort["parity_max_abs"] < 1e-2 and ort["parity_max_rel"] < 1e-4
        assert set(ort["parity_per_output"]) == {"det_cls_logits", "det_ctr_logits", "det_boxes_xyxy", "seg_logits",
                                                 "lane_logits"}
        assert str(ort["camvid_val_miou"]).startswith("skipped (--no-accuracy)")
    trt = rows[("tensorrt", "fp16", 1)]
    if trt["status"] != "ok":  # on this machine: no TensorRT or no GPU
        assert trt["status"].startswith("failed: ") and ("TensorRT" in trt["status"] or "CUDA" in trt["status"])
        assert "p50_ms" not in trt
    assert rows[("torch", "fp16", 1)]["status"] in ("ok", "failed: fp16 with the torch backend needs --device cuda")
    assert "failed: TensorRT" in stdout or trt["status"] == "ok"


def test_e2e_mode_times_pipeline_stages(tmp_path, capsys):
    clip = need(CLIP)
    out = tmp_path / "e2e.json"
    code, stdout, err = bench(capsys, "--allow-untrained", "--video", str(clip), "--backends", "torch,tensorrt",
                              "--e2e", "--max-frames", "3", "--no-video", "--threads", "1", "--output", str(out),
                              "--workdir", str(tmp_path / "work"))
    assert code == 0, err
    result = json.loads(out.read_text())
    torch_row = next(r for r in result["rows"] if r["backend"] == "torch")
    assert torch_row["frames"] == 3 and torch_row["fps"] > 0
    assert {"decode", "preprocess", "inference", "postprocess", "write"} <= set(torch_row["stages_ms"])
    assert "inference p50/p90 ms" in stdout.splitlines()[0]


@pytest.mark.parametrize("argv, needle", [
    (["--allow-untrained", "--video", "/nonexistent/clip.mp4"], "clip.mp4"),
    (["--allow-untrained", "--backends", "torch,tflite"], "unknown backend 'tflite'"),
    (["--allow-untrained", "--backends", "torch:fp8"], "unknown precision 'fp8'"),
    (["--allow-untrained", "--batch", "1,0"], "positive integers"),
])
def test_bad_input_is_one_line_and_exit_2(argv, needle, capsys):
    code, _, err = bench(capsys, *argv)
    lines = [line for line in err.strip().splitlines() if line.strip()]
    assert code == 2 and len(lines) == 1 and needle in lines[0], err


def test_variant_parsing_defaults():
    labels = [v.label for v in parse_variants("torch,onnxruntime,tensorrt,tensorrt:int8")]
    assert labels == ["torch:fp32", "onnxruntime:fp32", "tensorrt:fp16", "tensorrt:int8"]
