"""python -m deploy.export: what it builds, what it records, and one-line refusals (exit 2)."""

from __future__ import annotations

import importlib.util

import cv2
import numpy as np
import pytest
import torch

from conftest import run_cli
from deploy.export import get_args_parser, main
from perception.backends.metadata import read_artifact
from perception.backends.onnxruntime_runner import OnnxRuntimeRunner
from perception.cli import run_main
from perception.model import build_multitask_lite, default_weights, save_checkpoint, sha256_of

HAS_TENSORRT = importlib.util.find_spec("tensorrt") is not None
HAS_ONNXSIM = importlib.util.find_spec("onnxsim") is not None


@pytest.fixture(autouse=True, scope="module")
def one_torch_thread():
    """Torch with several intra-op threads on a machine shared with other jobs was measured 10-40x
    slower than with one; these tests check results, not speed."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def export_in_process(capsys, *argv: str) -> tuple[int, str, str]:
    """Run the CLI in this process (fast): (exit code, stdout, stderr). argparse errors exit via SystemExit."""
    try:
        code = run_main(main, get_args_parser().parse_args(list(argv)))
    except SystemExit as e:
        code = int(e.code)
    out = capsys.readouterr()
    return code, out.out, out.err


def assert_one_line_error(code: int, err: str, *needles: str) -> None:
    assert code == 2, err
    lines = [line for line in err.strip().splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("error: ") and "Traceback" not in err
    for n in needles:
        assert n in lines[0], lines[0]


def test_export_checkpoint_records_its_hash_and_prints_what_was_built(tmp_path, capsys):
    ckpt = save_checkpoint(build_multitask_lite(seed=1), tmp_path / "w.pt")
    out = tmp_path / "w.onnx"
    code, stdout, err = export_in_process(capsys, "--weights", str(ckpt), "--format", "onnx", "--output", str(out))
    assert code == 0, err
    assert "UNTRAINED" not in err
    line = stdout.strip().splitlines()[-1]
    assert line.startswith("built onnx (fp32): ") and " MB in " in line and str(out) in line
    art = read_artifact(out)
    assert art.metadata["weights_sha256"] == sha256_of(ckpt) and art.metadata["weights_name"] == "w.pt"
    assert art.metadata["untrained"] is False and art.metadata["batch"] == 1


def test_export_without_weights_uses_default_or_is_loudly_untrained(tmp_path):
    """--allow-untrained, --imgsz and --dynamic-batch end to end, as a user runs it: the shipped default
    weights are exported when they exist; otherwise the seeded untrained network, loudly marked."""
    from perception.model import default_weights

    out = tmp_path / "u.onnx"
    proc = run_cli("deploy.export", "--allow-untrained", "--format", "onnx", "--imgsz", "256x512",
                   "--dynamic-batch", "--output", str(out), timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "built onnx (fp32)" in proc.stdout
    art = read_artifact(out)
    record = default_weights()
    if record is None:
        assert "UNTRAINED" in proc.stderr
        assert art.untrained and art.metadata["weights_sha256"] == "untrained"
    else:
        assert "UNTRAINED" not in proc.stderr
        assert not art.untrained and art.metadata["weights_sha256"] == record.sha256
    assert art.config.input_size_wh == (512, 256) and art.metadata["batch"] == "dynamic"
    runner = OnnxRuntimeRunner(out)
    res = runner(np.zeros((2, 3, 256, 512), np.uint8))
    assert res["seg_logits"].shape == (2, 11, 64, 128)


@pytest.mark.parametrize("argv, needles", [
    (["--format", "onnx", "--allow-untrained", "--int8"], ["--int8", "--calib-images"]),
    (["--format", "engine", "--allow-untrained", "--int8"], ["--calib-images"]),
    (["--format", "onnx", "--allow-untrained", "--calib-images", "x"], ["only used with --int8"]),
    (["--format", "onnx", "--weights", "/nonexistent/w.pt"], ["not found", "w.pt"]),
    (["--format", "onnx", "--allow-untrained", "--imgsz", "300x640"], ["--imgsz", "multiples of 32"]),
    (["--format", "onnx", "--allow-untrained", "--imgsz", "big"], ["--imgsz", "HEIGHTxWIDTH"]),
    (["--format", "onnx", "--allow-untrained", "--fp16", "--int8"], ["not allowed with"]),
    (["--format", "onnx", "--allow-untrained", "--output", "model.engine"], ["does not end in .onnx"]),
    (["--format", "onnx", "--allow-untrained", "--batch", "0"], [">= 1"]),
    (["--format", "onnx", "--allow-untrained", "--opset", "13"], ["opset", "17"]),
    (["--format", "tflite"], ["--format", "invalid choice"]),
])
def test_bad_input_is_one_line_and_exit_2(argv, needles, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # nothing may be written anywhere else
    code, _, err = export_in_process(capsys, *argv)
    assert_one_line_error(code, err, *needles)


def test_no_weights_without_allow_untrained_is_refused(capsys):
    if default_weights() is not None:
        pytest.skip("trained default weights are shipped, so no --weights is fine")
    code, _, err = export_in_process(capsys, "--format", "onnx")
    assert_one_line_error(code, err, "--weights", "--allow-untrained")


def test_weights_that_are_an_export_are_refused(tmp_path, capsys):
    fake = tmp_path / "model.onnx"
    fake.write_bytes(b"x")
    code, _, err = export_in_process(capsys, "--format", "onnx", "--weights", str(fake))
    assert_one_line_error(code, err, "already an exported model")


@pytest.mark.skipif(HAS_TENSORRT, reason="TensorRT is installed here")
def test_engine_without_tensorrt_says_so_before_any_work(capsys, tmp_path):
    code, _, err = export_in_process(capsys, "--format", "engine", "--allow-untrained", "--fp16",
                                     "--output", str(tmp_path / "m.engine"))
    assert_one_line_error(code, err, "TensorRT is not installed")
    assert not list(tmp_path.iterdir())


@pytest.mark.skipif(HAS_ONNXSIM, reason="onnxsim is installed here")
def test_simplify_without_onnxsim_is_an_error_not_a_skip(capsys, tmp_path):
    code, _, err = export_in_process(capsys, "--format", "onnx", "--allow-untrained", "--simplify",
                                     "--output", str(tmp_path / "m.onnx"))
    assert_one_line_error(code, err, "onnxsim")
    assert not list(tmp_path.iterdir())


def test_bad_input_in_a_real_process_has_no_traceback(tmp_path):
    proc = run_cli("deploy.export", "--format", "onnx", "--weights", str(tmp_path / "missing.pt"), timeout=120)
    assert proc.returncode == 2
    lines = [line for line in proc.stderr.strip().splitlines() if line.strip()]
    assert len(lines) == 1 and "missing.pt" in lines[0] and "Traceback" not in proc.stderr


def test_int8_onnx_is_calibrated_on_real_frames_and_agrees_with_fp32(capsys, tmp_path):
    """``--format onnx --int8``: a QDQ graph for onnxruntime, quantized on real KITTI frames; on a real frame its
    segmentation agrees with the fp32 graph's on nearly every pixel."""
    import onnx

    from conftest import KITTI_IMAGES, need
    from perception.preprocess import Preprocessor

    images = need(KITTI_IMAGES)
    out = tmp_path / "model_int8.onnx"
    code, _, err = export_in_process(capsys, "--format", "onnx", "--int8", "--calib-images", str(images),
                                     "--output", str(out))
    assert code == 0, err
    fp32 = tmp_path / "model_int8_fp32.onnx"
    assert out.is_file() and fp32.is_file()
    ops = {n.op_type for n in onnx.load(str(out)).graph.node}
    assert {"QuantizeLinear", "DequantizeLinear"} <= ops
    art = read_artifact(out)
    assert art.metadata["precision"] == "int8" and art.metadata["int8"]["calibration_images"] == 6
    frame = cv2.imread(str(sorted(images.glob("*.png"))[0]))
    net, _ = Preprocessor(art.config.input_size_wh)(frame)
    batch = net.transpose(2, 0, 1)[None]
    a, b = OnnxRuntimeRunner(fp32)(batch), OnnxRuntimeRunner(out)(batch)
    agree = (a["seg_logits"][0].argmax(0) == b["seg_logits"][0].argmax(0)).mean()
    assert agree > 0.9, agree
