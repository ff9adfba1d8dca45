"""The TensorRT path on a machine without TensorRT: what can be checked without it, and clear refusals.

None of these tests runs TensorRT. The calibration data path, the cache and the engine sidecar are
our code and run for real on real images; the one test with ``stand_in`` in its name puts a stand-in
base class where TensorRT's calibrator would be and checks only our code around it.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import subprocess
import sys

import cv2
import numpy as np
import pytest
import torch

from conftest import KITTI_IMAGES, REPO, need
from deploy.int8_calibration import CalibrationBatches, CalibrationCache, list_calibration_images
from perception.backends.metadata import (ExportFacts, build_metadata, read_artifact, read_sidecar, sidecar_path,
                                          write_sidecar)
from perception.backends.runner import make_runner
from perception.errors import UserInputError
from perception.model import OUTPUT_NAMES, ModelConfig
from perception.preprocess import Preprocessor

HAS_TENSORRT = importlib.util.find_spec("tensorrt") is not None
no_tensorrt = pytest.mark.skipif(HAS_TENSORRT, reason="TensorRT is installed here; these check its absence")


def test_module_imports_without_tensorrt():
    code = "import sys, deploy.tensorrt; print('tensorrt' in sys.modules)"
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "False"  # nothing imported tensorrt at module level


@no_tensorrt
def test_make_runner_tensorrt_raises_our_clear_error(tmp_path):
    engine = tmp_path / "model.engine"
    engine.write_bytes(b"not an engine")
    with pytest.raises(UserInputError, match="^TensorRT is not installed: "):
        make_runner("tensorrt", model_path=engine)


@no_tensorrt
def test_build_engine_raises_our_clear_error(tmp_path):
    from deploy.tensorrt import build_engine

    with pytest.raises(UserInputError, match="^TensorRT is not installed: "):
        build_engine(tmp_path / "m.onnx", tmp_path / "m.engine", precision="fp16")


def test_tensorrt_backend_wants_an_engine_file():
    with pytest.raises(UserInputError, match=r"needs a \.engine file.*--format engine"):
        make_runner("tensorrt", model_path="model.onnx")


# -- calibration data: real images -> the batches the calibrator hands to TensorRT -----------------

def test_calibration_batches_are_preprocessed_real_images_and_stop_at_the_end():
    folder = need(KITTI_IMAGES)
    paths = list_calibration_images(folder)
    assert len(paths) == 6
    batches = CalibrationBatches(paths, (640, 384), batch_size=4)
    produced = list(batches)
    assert len(produced) == len(batches) == 1 and batches.images_used == 4  # 2 left over: no partial batch
    b = produced[0]
    assert b.shape == (4, 3, 384, 640) and b.dtype == np.uint8 and b.flags.c_contiguous
    expected, _ = Preprocessor((640, 384))(cv2.imread(str(paths[2])))   # same path as inference
    np.testing.assert_array_equal(b[2], expected.transpose(2, 0, 1))
    assert len(list(batches)) == 1  # iterable again, same result

    pairs = list(CalibrationBatches(paths, (320, 192), batch_size=2))
    assert [p.shape for p in pairs] == [(2, 3, 192, 320)] * 3


def test_calibration_image_list_is_thinned_evenly_and_refuses_bad_folders(tmp_path):
    folder = need(KITTI_IMAGES)
    picked = list_calibration_images(folder, max_images=3)
    names = [p.name for p in picked]
    assert len(names) == 3 and names[0] == "000000.png" and names[-1] == "000005.png"
    with pytest.raises(UserInputError, match="no images"):
        list_calibration_images(tmp_path)
    with pytest.raises(UserInputError, match="not found"):
        list_calibration_images(tmp_path / "missing")
    with pytest.raises(UserInputError, match="at least one full batch"):
        CalibrationBatches(picked, (640, 384), batch_size=8)


def test_calibration_cache_round_trip_and_refuses_another_models_cache(tmp_path):
    key = {"weights_sha256": "ab" * 32, "input_size_wh": [640, 384]}
    cache = CalibrationCache(tmp_path / "model.calib", key)
    assert cache.read() is None                      # nothing yet: TensorRT will calibrate
    payload = b"TRT-10xxx-EntropyCalibration2\nimages: 3c010a14\n" + bytes(range(256))
    cache.write(payload)
    assert CalibrationCache(tmp_path / "model.calib", dict(key)).read() == payload
    other = CalibrationCache(tmp_path / "model.calib", {**key, "input_size_wh": [320, 192]})
    with pytest.raises(UserInputError, match="made for another model"):
        other.read()


# -- engine sidecar ---------------------------------------------------------------------------------

def test_engine_sidecar_round_trip(tmp_path):
    cfg = ModelConfig(det_classes=("car", "pedestrian"), seg_classes=("road", "sky", "other"), input_size_wh=(512, 256))
    meta = build_metadata(ExportFacts(cfg, "cd" * 32, "w.pt", "fp32", None), input_name="images",
                          output_names=OUTPUT_NAMES, opset=17)
    meta.update({"precision": "int8", "builder_flags": ["FP16", "INT8"], "source_onnx_sha256": "ef" * 32,
                 "tensorrt_version": "10.3.0", "batch_profile_min_opt_max": [1, 1, 8]})
    engine = tmp_path / "model.engine"
    engine.write_bytes(b"\x00engine bytes")
    written = write_sidecar(engine, meta)
    assert written == sidecar_path(engine) == tmp_path / "model.engine.json"
    assert read_sidecar(engine) == json.loads(json.dumps(meta))
    art = read_artifact(engine)
    assert art.kind == "engine" and art.precision == "int8" and art.config == cfg
    assert art.metadata["tensorrt_version"] == "10.3.0" and art.metadata["source_onnx_sha256"] == "ef" * 32


def test_engine_without_sidecar_is_a_clear_error(tmp_path):
    engine = tmp_path / "bare.engine"
    engine.write_bytes(b"x")
    with pytest.raises(UserInputError, match="no metadata sidecar bare.engine.json"):
        read_artifact(engine)


# -- our calibrator class, with a stand-in where TensorRT's base class would be ---------------------

class _StandInTensorRT:
    """Only what make_entropy_calibrator touches: a base class to derive from. Not TensorRT."""

    class IInt8EntropyCalibrator2:
        def __init__(self) -> None:
            pass


def test_entropy_calibrator_stand_in_feeds_batches_then_stops(tmp_path):
    """Stand-in for TensorRT: checks only our calibrator code (batch size, pointers to the batch it
    keeps alive, end of data, cache hand-off). It is never counted as running TensorRT."""
    from deploy.tensorrt import make_entropy_calibrator

    paths = list_calibration_images(need(KITTI_IMAGES))
    batches = CalibrationBatches(paths, (320, 192), batch_size=2)
    cache = CalibrationCache(tmp_path / "c.calib", {"k": 1})
    calib = make_entropy_calibrator(_StandInTensorRT, batches, cache, to_device=torch.from_numpy)
    assert isinstance(calib, _StandInTensorRT.IInt8EntropyCalibrator2)
    assert calib.get_batch_size() == 2
    pointers = []
    for _ in range(len(batches)):
        ptrs = calib.get_batch(["images"])
        assert ptrs == [calib._on_device.data_ptr()] and calib._on_device.shape == (2, 3, 192, 320)
        pointers.append(ptrs[0])
    assert calib.get_batch(["images"]) is None and calib.batches_fed == 3
    assert calib.read_calibration_cache() is None
    calib.write_calibration_cache(memoryview(b"scales"))
    assert calib.read_calibration_cache() == b"scales"


def test_sidecar_cli_for_a_trtexec_engine(tmp_path, capsys):
    """The trtexec route of docs/jetson.md: our ONNX + someone else's engine -> a sidecar we can read."""
    from deploy.sidecar import get_args_parser, main
    from perception.backends.onnx_export import export_onnx
    from perception.cli import run_main
    from perception.model import build_multitask_lite, sha256_of

    model = build_multitask_lite()
    onnx_path = export_onnx(model, tmp_path / "m.onnx", input_size_wh=(128, 64), weights_sha256="ab" * 32)
    engine = tmp_path / "m.engine"
    engine.write_bytes(b"engine from trtexec")
    argv = ["--onnx", str(onnx_path), "--engine", str(engine), "--precision", "fp16", "--tensorrt-version", "10.3.0"]
    assert run_main(main, get_args_parser().parse_args(argv)) == 0
    art = read_artifact(engine)
    assert art.precision == "fp16" and art.config.input_size_wh == (128, 64)
    assert art.metadata["source_onnx_sha256"] == sha256_of(onnx_path) and art.metadata["builder"] == "trtexec"
    assert art.metadata["weights_sha256"] == "ab" * 32
    capsys.readouterr()
    missing = ["--onnx", str(tmp_path / "none.onnx"), "--engine", str(engine), "--precision", "fp16"]
    assert run_main(main, get_args_parser().parse_args(missing)) == 2
    assert capsys.readouterr().err.strip() == f"error: file not found: {tmp_path / 'none.onnx'}"
