"""The row-anchor lane head (issue 21): shapes, targets and decoding on real frames, partial training, export.

Real data from ../shared/data (skipped with the reason when absent): the CULane 2-clip sample, the LaneNet
TuSimple frames. Nothing here trains for more than a few steps.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from conftest import SHARED_DATA, need
from datasets import LANE_SIDES, open_dataset
from datasets.culane import BLOCK_GAP_FRAMES, VAL_BLOCK_FRACTION
from datasets.transforms import letterbox
from perception.errors import ConfigError
from perception.lanes import make_lane_stage
from perception.lanes.network import observations_from_lane_lines
from perception.metrics.lanes import culane_matches, x_at_rows
from perception.model import (HEAD_NAMES, LANE_ROW_OUTPUT, LANE_SLOTS, OUTPUT_NAMES, ModelConfig, MultiTaskNet,
                              RowAnchorLayout, build_model, load_checkpoint, output_names)
from perception.model.weights import PUBLISHED_WEIGHTS
from perception.postprocess import Postprocessor
from perception.preprocess import Preprocessor
from perception.results import FrameResult
from perception.training.config import load_train_config
from perception.training.data import Collate
from perception.training.engine import train_one_epoch
from perception.training.freeze import freeze_all_but, load_init_state
from perception.training.losses import LossWeights
from perception.training.targets import lane_row_targets

CULANE = SHARED_DATA / "culane_2clips_day_night"
LANENET = SHARED_DATA / "tusimple_lanenet_masks" / "data" / "training_data_example"
V3 = PUBLISHED_WEIGHTS["multitask_lite_v3"]
ROWS = ModelConfig(lane_rows=32)


def _logits_from_targets(cls: torch.Tensor, cell: torch.Tensor, layout: RowAnchorLayout) -> np.ndarray:
    """Logits (S, R, G + 1) whose decoding is the target: the absent class, or the two cells around the sub-cell x
    with weights giving exactly that x."""
    s, r = cls.shape
    g = layout.num_cells
    prob = np.full((s, r, g + 1), 1e-9)
    for k in range(s):
        for j in range(r):
            if cls[k, j] == layout.absent:
                prob[k, j, g] = 1.0
                continue
            c = float(cell[k, j])
            lo = int(np.floor(c))
            a = c - lo
            prob[k, j, np.clip(lo, 0, g - 1)] += 1 - a
            prob[k, j, np.clip(lo + 1, 0, g - 1)] += a
    return np.log(prob).astype(np.float32)


def test_the_head_adds_one_named_output_of_the_documented_shape():
    model = build_model(config=ROWS)
    assert output_names(ROWS) == OUTPUT_NAMES + (LANE_ROW_OUTPUT,) and model.output_names == output_names(ROWS)
    assert LANE_SLOTS == LANE_SIDES  # the head's slots are the datasets' side names, in the same order
    x = torch.randint(0, 256, (2, 3, 384, 640), dtype=torch.uint8)
    with torch.inference_mode():
        out = model(x)
        only = model(x, heads=("lane_row_head",))
    layout = RowAnchorLayout.of(ROWS)
    assert set(out) == set(output_names(ROWS))
    assert out[LANE_ROW_OUTPUT].shape == (2, 4, 32, 81) == (2, len(layout.slots), layout.rows, layout.num_cells + 1)
    assert set(only) == {LANE_ROW_OUTPUT} and torch.equal(only[LANE_ROW_OUTPUT], out[LANE_ROW_OUTPUT])
    assert layout.anchor_ys_px()[0] == 131.5 and layout.anchor_ys_px()[-1] == 379.5  # bottom 32 stride-8 rows
    with pytest.raises(ValueError, match="lane_rows"):
        ModelConfig(lane_rows=49)  # more rows than the 384 / 8 the input has


def test_published_checkpoint_loads_strictly_without_the_head_and_a_row_model_started_from_it_agrees():
    loaded = load_checkpoint(need(V3.path), expected_sha256=V3.sha256)  # strict load, as before the head existed
    old = loaded.model
    assert old.config.lane_rows == 0 and old.lane_row_head is None and old.output_names == OUTPUT_NAMES
    model = MultiTaskNet(replace(old.config, lane_rows=32))
    assert load_init_state(model, old.state_dict()) == ["lane_row_head"]  # the only part allowed to be missing
    x = torch.randint(0, 256, (1, 3, 384, 640), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        a, b = old(x), model.eval()(x)
    for name in OUTPUT_NAMES:
        assert torch.equal(a[name], b[name]), name
    state = old.state_dict()
    with pytest.raises(RuntimeError, match="unexpected"):
        load_init_state(MultiTaskNet(replace(old.config, lane_rows=32)), {**state, "extra.weight": torch.zeros(1)})
    partial = {k: v for k, v in state.items() if not k.startswith("seg_head.out")}
    with pytest.raises(RuntimeError, match="missing"):
        load_init_state(MultiTaskNet(replace(old.config, lane_rows=32)), partial)


def test_culane_block_split_is_fixed_and_disjoint():
    root = need(CULANE)
    frames = {split: [int(p.stem) for p, _ in open_dataset("culane", root, split).entries]
              for split in ("train", "val", "trainval", "night")}
    assert len(frames["trainval"]) == 60 and len(frames["night"]) == 10
    assert len(frames["val"]) == int(np.ceil(VAL_BLOCK_FRACTION * 60)) == 15
    assert len(frames["train"]) == 60 - 15 - BLOCK_GAP_FRAMES
    assert not set(frames["train"]) & set(frames["val"])
    assert max(frames["train"]) < min(frames["val"])  # blocks by frame index, not random frames
    assert (frames["train"][0], frames["train"][-1], frames["val"][0], frames["val"][-1]) == (0, 3870, 4050, 5310)


def test_row_targets_of_real_frames_decode_back_to_their_labels():
    """Targets of real CULane and TuSimple frames (letterboxed as in training) turned into logits and decoded as
    perception.run decodes them: the polylines lie within 2 px of the labels in original pixels, carry the labels'
    sides, and match every label that crosses enough anchor rows (CULane IoU)."""
    layout = RowAnchorLayout.of(ROWS)
    samples = [open_dataset("culane", need(CULANE), "val")[i] for i in (0, 7, 14)]
    samples.append(open_dataset("tusimple_lanenet", need(LANENET), "train")[0])
    pre = Preprocessor(ROWS.input_size_wh)
    post = Postprocessor(ROWS, pre)
    for sample in samples:
        net_sample, params = letterbox(sample, ROWS.input_size_wh)
        cls, cell = lane_row_targets(net_sample.lanes, net_sample.lane_sides, layout, 640)
        logits = _logits_from_targets(cls, cell, layout)
        out = {"det_cls_logits": np.full((5040, 7), -20.0, np.float32), "det_ctr_logits": np.zeros(5040, np.float32),
               "det_boxes_xyxy": np.zeros((5040, 4), np.float32), "seg_logits": np.zeros((11, 96, 160), np.float32),
               "lane_logits": np.zeros((1, 96, 160), np.float32), LANE_ROW_OUTPUT: logits}
        _, run_params = pre(sample.image_bgr)
        assert run_params == params
        lanes = post(out, params, 0, 0.0).lanes
        assert lanes, sample.source
        for lane in lanes:
            gt = sample.lanes[sample.lane_sides.index(lane.side)]
            err = np.abs(x_at_rows(gt, lane.points_xy[:, 1]) - lane.points_xy[:, 0])
            assert np.nanmax(err) < 2.0, (sample.source, lane.side)
            assert len(lane.points_xy) >= 4 and np.all(np.diff(lane.points_xy[:, 1]) < 0)  # bottom to top
        long_enough = [g for g in sample.lanes if np.ptp(g[:, 1]) * params.sy > 4 * layout.stride]
        assert culane_matches([lane.points_xy for lane in lanes], long_enough) == len(long_enough)


def test_decoded_lanes_feed_the_bev_lane_tracker():
    sample = open_dataset("culane", need(CULANE), "val")[0]
    layout = RowAnchorLayout.of(ROWS)
    net_sample, params = letterbox(sample, ROWS.input_size_wh)
    cls, cell = lane_row_targets(net_sample.lanes, net_sample.lane_sides, layout, 640)
    pre = Preprocessor(ROWS.input_size_wh)
    from perception.postprocess import decode_network_lanes

    lanes = decode_network_lanes({LANE_ROW_OUTPUT: _logits_from_targets(cls, cell, layout)}, ROWS, params,
                                 lambda p: pre.src_from_net(p, params))
    stage = make_lane_stage(None, (sample.width, sample.height), source="network",
                            calibration_frames=[sample.image_bgr])
    assert len(observations_from_lane_lines(lanes, stage.projector)) >= 2
    for k in range(5):  # the tracker confirms a line after a few frames
        result = FrameResult(frame=k, timestamp_s=k / 10, lanes=list(lanes))
        stage(result, sample.image_bgr)
    assert {"ego_left", "ego_right"} <= {lane.side for lane in result.lanes}
    assert result.ego is not None and result.ego.get("lane_offset_m") is not None


def test_train_only_is_typed_and_checked():
    base = {"model": {"lane_rows": 32}, "crop_wh": [640, 384]}
    assert load_train_config(None, {**base, "train_only": ["lane_row_head"]}).train_only == ("lane_row_head",)
    with pytest.raises(ConfigError, match="not parts of the network"):
        load_train_config(None, {**base, "train_only": ["lane_rows_head"]})
    with pytest.raises(ConfigError, match="lane_rows is 0"):
        load_train_config(None, {"train_only": ["lane_row_head"]})
    with pytest.raises(ConfigError, match="crop_wh"):
        load_train_config(None, {"model": {"lane_rows": 32}, "crop_wh": [384, 256]})
    cfg = load_train_config("perception/training/lane_rows_cpu.yaml")
    assert cfg.train_only == ("lane_row_head",) and cfg.model.lane_rows > 0
    assert "tusimple_sample" not in " ".join(cfg.train_data + cfg.val_data)  # the TuSimple sample stays unseen


def test_training_only_the_row_head_leaves_everything_else_unchanged():
    """Two optimiser steps on real CULane frames: the row head learns, every other weight and buffer (BatchNorm
    running statistics too) stays exactly as loaded, and only the row head runs in the training forward pass."""
    old = load_checkpoint(need(V3.path), expected_sha256=V3.sha256).model
    model = MultiTaskNet(replace(old.config, lane_rows=32))
    load_init_state(model, old.state_dict())
    before = {k: v.clone() for k, v in model.state_dict().items()}
    trainable = freeze_all_but(model, ("lane_row_head",))
    reader = open_dataset("culane", need(CULANE), "train")
    samples = [letterbox(reader[i], ROWS.input_size_wh)[0] for i in (0, 20)]
    batch = Collate(model.det_head, row_layout=RowAnchorLayout.of(model.config))(samples)
    assert batch["has_lane_rows"].all() and (batch["lane_row_cls"] != RowAnchorLayout.of(ROWS).absent).any()
    optimizer = torch.optim.AdamW(trainable, lr=1e-2)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0)
    losses = train_one_epoch(model, [batch, batch], optimizer, scheduler, "cpu", LossWeights(0, 0, 0, lane_rows=1.0),
                             epoch=1, progress=False, train_only=("lane_row_head",))
    assert losses["lane_row"] > 0 and losses["det_cls"] == 0 and losses["seg"] == 0
    after = model.state_dict()
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert changed and all(k.startswith("lane_row_head.") for k in changed)
    assert set(HEAD_NAMES) >= {"lane_row_head"}


def test_onnx_export_of_a_row_model_matches_torch():
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    from perception.backends.metadata import read_onnx_metadata
    from perception.backends.onnx_export import export_onnx
    from perception.backends.onnxruntime_runner import OnnxRuntimeRunner
    from perception.backends.torch_runner import TorchRunner

    model = build_model(config=ROWS, seed=1)
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as tmp:
        path = export_onnx(model, Path(tmp) / "rows.onnx")
        assert read_onnx_metadata(path)["output_names"] == list(output_names(ROWS))
        runner = OnnxRuntimeRunner(path, threads=1)
        assert runner.model_config.lane_rows == 32
        x = np.random.default_rng(0).integers(0, 256, (1, 3, 384, 640), dtype=np.uint8)
        got, ref = runner(x), TorchRunner(model)(x)
    assert set(got) == set(ref) == set(output_names(ROWS))
    np.testing.assert_allclose(got[LANE_ROW_OUTPUT], ref[LANE_ROW_OUTPUT], atol=1e-4, rtol=0)
    np.testing.assert_allclose(got["seg_logits"], ref["seg_logits"], atol=2e-3, rtol=0)


def test_evaluate_scores_the_row_head_when_the_weights_have_one(tmp_path, capsys):
    from perception import evaluate
    from perception.model import save_checkpoint

    old = load_checkpoint(need(V3.path), expected_sha256=V3.sha256).model
    model = MultiTaskNet(replace(old.config, lane_rows=32))
    load_init_state(model, old.state_dict())
    weights = save_checkpoint(model.eval(), tmp_path / "rows.pt")
    data = f"culane:{need(CULANE)}"

    def run(*extra: str) -> tuple[int, str]:
        args = evaluate.get_args_parser().parse_args(["--data", data, "--split", "val", "--limit", "2", "--no-progress",
                                                     "--output", str(tmp_path / "m.json"), *extra])
        code = evaluate.main(args)
        return code, capsys.readouterr().out

    code, out = run("--weights", str(weights), "--lanes", "auto")
    assert code == 0 and "source rows" in out and "CULane precision" in out and "recall" in out and "F1" in out
    code, out = run("--weights", str(weights), "--lanes", "mask")
    assert code == 0 and "source mask" in out
    code, _ = run("--weights", str(V3.path), "--lanes", "rows")
    assert code == 2  # the published weights have no row head: a one-line error, not a traceback
    from perception.evaluation import LANE_SOURCES

    assert evaluate.LANE_SOURCES == LANE_SOURCES
    from perception.lanes import DEFAULT_LANE_SOURCE
    from perception.run import get_args_parser as run_args

    default = evaluate.get_args_parser().parse_args(["--data", data]).lanes
    assert default == DEFAULT_LANE_SOURCE == run_args().parse_args(["--source", "x.mp4"]).lanes  # one default
