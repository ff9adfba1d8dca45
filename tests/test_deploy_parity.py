"""ONNX export: onnxruntime agrees with torch fp32 on real dashcam frames, raw and postprocessed.

The shipped default weights are used when there are any. Without them, the seeded untrained network
is made *non-degenerate* first: fresh, it scores every location ~0.0707 and labels every pixel with one
class, so detection ranking would be decided by float noise and the comparison would say nothing.
Its BatchNorm statistics are measured on the real frames and its four output convolutions get wider
seeded weights; the exported graph is unchanged in structure.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from deploy.parity import read_real_frames
from perception.backends.metadata import read_artifact
from perception.backends.onnx_export import export_onnx
from perception.backends.onnxruntime_runner import OnnxRuntimeRunner
from perception.backends.torch_runner import TorchRunner
from perception.model import build_multitask_lite, default_weights, load_checkpoint
from perception.postprocess import DetectionDecodeConfig, Postprocessor
from perception.preprocess import Preprocessor

CLIP = Path(__file__).resolve().parents[2] / "shared" / "data" / "udacity_lanelines_p1" / "solidWhiteRight.mp4"
NUM_FRAMES = 3

# Per output: (atol, rtol) for |onnxruntime - torch| <= atol + rtol * |torch|, float32 on the CPU.
# Observed worst case on these frames is ~4x below each bound (e.g. 6e-4 on class logits up to ~9,
# 1.4e-3 px on boxes up to 660 px).
FP32_TOLERANCES = {"det_cls_logits": (3e-3, 1e-4), "det_ctr_logits": (3e-3, 1e-4),
                   "det_boxes_xyxy": (1e-2, 1e-5), "seg_logits": (2e-3, 1e-4), "lane_logits": (1e-3, 1e-4)}
LOW_THRESHOLD = DetectionDecodeConfig(conf_threshold=0.01)  # plenty of boxes even without training


@pytest.fixture(autouse=True, scope="module")
def one_torch_thread():
    """Torch with several intra-op threads on a machine shared with other jobs was measured 10-40x
    slower than with one; these tests check results, not speed."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _lively_untrained(frames: np.ndarray) -> torch.nn.Module:
    model = build_multitask_lite(seed=0)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.reset_running_stats()
                m.momentum = None  # cumulative average over the calibration pass
        model.train()
        model(torch.from_numpy(frames[:2]))
        model.eval()
        g = torch.Generator().manual_seed(0)
        for conv in (model.det_head.cls, model.det_head.ctr, model.seg_head.out, model.lane_head.out):
            conv.weight.copy_(torch.randn(conv.weight.shape, generator=g) * 0.1)
    return model


@pytest.fixture(scope="module")
def frames() -> np.ndarray:
    if not CLIP.exists():
        pytest.skip(f"real data not available: {CLIP} (the ../shared/data folder is absent on this machine)")
    return read_real_frames(CLIP, NUM_FRAMES, (640, 384))  # (3, 3, 384, 640) uint8


@pytest.fixture(scope="module")
def source_size_wh() -> tuple[int, int]:
    cap = cv2.VideoCapture(str(CLIP))
    size = (int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT)))
    cap.release()
    return size


@pytest.fixture(scope="module")
def model(frames):
    record = default_weights()
    if record is not None:
        return load_checkpoint(record.path, expected_sha256=record.sha256).model
    return _lively_untrained(frames)


@pytest.fixture(scope="module")
def onnx_dynamic(model, tmp_path_factory) -> Path:
    return export_onnx(model, tmp_path_factory.mktemp("onnx") / "model.onnx", dynamic_batch=True)


@pytest.fixture(scope="module")
def torch_out(model, frames):
    return TorchRunner(model, "cpu")(frames)


@pytest.fixture(scope="module")
def ort_out(onnx_dynamic, frames):
    return OnnxRuntimeRunner(onnx_dynamic)(frames)


def assert_close_per_output(got: dict, ref: dict, tolerances: dict) -> None:
    for name, (atol, rtol) in tolerances.items():
        assert got[name].shape == ref[name].shape, name
        assert got[name].dtype == np.float32, name
        np.testing.assert_allclose(got[name], ref[name], atol=atol, rtol=rtol, err_msg=name)


def test_raw_outputs_match_torch_fp32_per_output(torch_out, ort_out):
    assert_close_per_output(ort_out, torch_out, FP32_TOLERANCES)


def _matched_fraction(ref: list, got: list, box_tol_px: float = 0.05, score_tol: float = 1e-4) -> float:
    """Fraction of ``ref`` detections with a partner in ``got``: same label, every box edge within
    ``box_tol_px`` source pixels, score within ``score_tol``. Order-free: boxes whose scores differ by
    less than float noise may swap places or win NMS the other way round."""
    if not ref:
        return 1.0
    got_boxes = np.array([d.box_xyxy for d in got]).reshape(-1, 4)
    got_scores = np.array([d.score for d in got])
    got_labels = np.array([d.label for d in got])
    hits = 0
    for d in ref:
        ok = ((got_labels == d.label) & (np.abs(got_scores - d.score) <= score_tol)
              & (np.abs(got_boxes - np.array(d.box_xyxy)).max(axis=1) <= box_tol_px))
        hits += bool(ok.any())
    return hits / len(ref)


def test_postprocessed_detections_match(model, torch_out, ort_out, source_size_wh):
    pre = Preprocessor(model.config.input_size_wh)
    params = pre.params_for(source_size_wh)
    post = Postprocessor(model.config, pre, det=LOW_THRESHOLD)
    for i in range(NUM_FRAMES):
        ref = post({k: v[i] for k, v in torch_out.items()}, params, i, 0.0).detections
        got = post({k: v[i] for k, v in ort_out.items()}, params, i, 0.0).detections
        assert len(ref) >= 10, "too few boxes to compare"
        assert abs(len(got) - len(ref)) <= max(1, len(ref) // 50)
        assert [d.label for d in got[:10]] == [d.label for d in ref[:10]]  # the strongest boxes, in order
        assert _matched_fraction(ref, got) >= 0.97 and _matched_fraction(got, ref) >= 0.97


def test_segmentation_label_maps_agree(model, torch_out, ort_out, source_size_wh):
    pre = Preprocessor(model.config.input_size_wh)
    params = pre.params_for(source_size_wh)
    post = Postprocessor(model.config, pre, det=LOW_THRESHOLD)
    for i in range(NUM_FRAMES):
        ref = post({k: v[i] for k, v in torch_out.items()}, params, i, 0.0).seg_labels
        got = post({k: v[i] for k, v in ort_out.items()}, params, i, 0.0).seg_labels
        assert ref.shape == (source_size_wh[1], source_size_wh[0])
        assert len(np.unique(ref)) >= 3, "label map is degenerate; the comparison would be trivial"
        assert (got == ref).mean() >= 0.999


def test_dynamic_batch_runs_batch_1_and_3(onnx_dynamic, frames, torch_out, ort_out):
    runner = OnnxRuntimeRunner(onnx_dynamic)
    assert runner.session.get_inputs()[0].shape[0] == "batch"
    one = runner(frames[:1])
    assert_close_per_output(one, {k: v[:1] for k, v in torch_out.items()}, FP32_TOLERANCES)
    assert all(v.shape[0] == 3 for v in ort_out.values())
    # the same image gives the same answer alone and inside a batch
    assert_close_per_output(one, {k: v[:1] for k, v in ort_out.items()}, FP32_TOLERANCES)


def test_metadata_round_trip(model, onnx_dynamic):
    art = read_artifact(onnx_dynamic)
    assert art.kind == "onnx"
    assert art.config == model.config
    meta = art.metadata
    assert meta["det_classes"] == list(model.config.det_classes)
    assert meta["seg_classes"] == list(model.config.seg_classes)
    assert meta["input_size_wh"] == [640, 384] and meta["input_dtype"] == "uint8"
    assert meta["precision"] == "fp32" and meta["batch"] == "dynamic" and meta["opset"] >= 17
    assert meta["output_names"] == ["det_cls_logits", "det_ctr_logits", "det_boxes_xyxy", "seg_logits", "lane_logits"]
    from perception import __version__

    assert meta["package_version"] == __version__


def test_fp16_onnx_is_half_precision_and_as_close_as_torch_half(model, tmp_path):
    """A real fp16 graph (weights float16), whose error against torch fp32 is no worse than torch's own
    fp16 error. Runs at 128x256 to keep torch's fp16 CPU reference cheap."""
    import copy

    import onnx

    from perception.backends.onnx_fp16 import float_initializer_types

    size_wh = (256, 128)
    frame = read_real_frames(CLIP, 1, size_wh)                      # (1, 3, 128, 256) uint8
    path = export_onnx(model, tmp_path / "fp16.onnx", fp16=True, input_size_wh=size_wh)
    proto = onnx.load(str(path))
    counts = float_initializer_types(proto)
    assert counts["float16"] > 50 and counts["float32"] == 0
    assert [d.dim_value for d in proto.graph.input[0].type.tensor_type.shape.dim] == [1, 3, 128, 256]
    runner = OnnxRuntimeRunner(path)
    assert runner.precision == "fp16" and runner.model_config.input_size_wh == size_wh
    got = runner(frame)
    ref = TorchRunner(copy.deepcopy(model), "cpu")(frame)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # fp16 CPU convolutions crawl with several threads on a busy machine
    try:
        with torch.inference_mode():
            half = {k: v.float().numpy() for k, v in copy.deepcopy(model).half()(torch.from_numpy(frame)).items()}
    finally:
        torch.set_num_threads(threads)
    for name, r in ref.items():
        assert got[name].shape == r.shape and got[name].dtype == np.float32
        ours, torchs = np.abs(got[name] - r), np.abs(half[name] - r)
        assert ours.mean() <= 1.5 * torchs.mean() + 1e-6, (name, ours.mean(), torchs.mean())
        # the worst single element differs by chance between two fp16 computation orders (fp16 keeps about 3
        # significant digits, through ~60 layers): allow twice torch's worst error, or 0.05 in logit / pixel
        # units (a logit off by 0.05 moves a probability by < 0.0125); an fp16 overflow would be far larger
        assert ours.max() <= max(2.0 * torchs.max(), 0.05), (name, ours.max(), torchs.max())
