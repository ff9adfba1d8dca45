"""The network's contract: uint8 in, named outputs of documented shapes, swappable parts, safe checkpoints."""

from __future__ import annotations

import torch
from torch import nn

from perception.errors import WeightsError
from perception.model import (OUTPUT_NAMES, ModelConfig, MultiTaskNet, build_multitask_lite, load_checkpoint,
                              save_checkpoint)


def test_outputs_are_named_with_documented_shapes():
    model = build_multitask_lite()
    x = torch.randint(0, 256, (2, 3, 384, 640), dtype=torch.uint8)
    with torch.inference_mode():
        out = model(x)
    a = 48 * 80 + 24 * 40 + 12 * 20
    assert set(out) == set(OUTPUT_NAMES)
    assert out["det_cls_logits"].shape == (2, a, 7)
    assert out["det_ctr_logits"].shape == (2, a)
    assert out["det_boxes_xyxy"].shape == (2, a, 4)
    assert out["seg_logits"].shape == (2, 11, 96, 160)
    assert out["lane_logits"].shape == (2, 1, 96, 160)
    boxes = out["det_boxes_xyxy"]
    assert (boxes[..., 2] >= boxes[..., 0]).all() and (boxes[..., 3] >= boxes[..., 1]).all()


def test_classes_come_from_config():
    cfg = ModelConfig(det_classes=("car", "pedestrian"), seg_classes=("road", "other", "sky"), input_size_wh=(320, 192))
    with torch.inference_mode():
        out = MultiTaskNet(cfg).eval()(torch.zeros(1, 3, 192, 320, dtype=torch.uint8))
    assert out["det_cls_logits"].shape[-1] == 2 and out["seg_logits"].shape[1] == 3


def test_a_head_passed_in_replaces_the_default():
    class ConstantLanes(nn.Module):
        def forward(self, feats):
            s4 = feats["s4"]
            return {"lane_logits": torch.full((s4.shape[0], 1, *s4.shape[-2:]), 7.0)}

    model = MultiTaskNet(ModelConfig(), lane_head=ConstantLanes()).eval()
    with torch.inference_mode():
        out = model(torch.zeros(1, 3, 384, 640, dtype=torch.uint8))
    assert torch.all(out["lane_logits"] == 7.0)


def test_checkpoint_round_trip_reproduces_outputs(tmp_path):
    model = build_multitask_lite(seed=3)
    path = save_checkpoint(model, tmp_path / "m.pt", metadata={"note": "test"}, hash_in_name=True)
    assert path.name.startswith("m-") and len(path.stem) == len("m-") + 8
    loaded = load_checkpoint(path)
    assert loaded.metadata == {"note": "test"} and len(loaded.sha256) == 64
    x = torch.randint(0, 256, (1, 3, 384, 640), dtype=torch.uint8)
    with torch.inference_mode():
        a, b = model(x), loaded.model(x)
    for k in OUTPUT_NAMES:
        assert torch.equal(a[k], b[k]), k


def test_tampered_checkpoint_fails_the_hash_in_its_name(tmp_path):
    path = save_checkpoint(build_multitask_lite(), tmp_path / "m.pt", hash_in_name=True)
    data = bytearray(path.read_bytes())
    data[-100] ^= 0xFF
    path.write_bytes(bytes(data))
    try:
        load_checkpoint(path)
    except WeightsError as e:
        assert "does not match the hash in its name" in str(e)
    else:
        raise AssertionError("a tampered file was accepted")


def test_checkpoint_for_another_architecture_is_refused(tmp_path):
    blob_path = save_checkpoint(build_multitask_lite(), tmp_path / "m.pt")
    blob = torch.load(blob_path, weights_only=True)
    blob["model_config"]["neck_channels"] = 32  # state_dict no longer fits
    torch.save(blob, blob_path)
    try:
        load_checkpoint(blob_path)
    except WeightsError as e:
        assert "do not fit the model" in str(e)
    else:
        raise AssertionError("mismatched weights were accepted")


def test_unknown_config_key_is_an_error(tmp_path):
    blob_path = save_checkpoint(build_multitask_lite(), tmp_path / "m.pt")
    blob = torch.load(blob_path, weights_only=True)
    blob["model_config"]["nek_channels"] = 64  # a typo must not pass silently
    torch.save(blob, blob_path)
    try:
        load_checkpoint(blob_path)
    except WeightsError as e:
        assert "nek_channels" in str(e)
    else:
        raise AssertionError("an unknown key was accepted")


def test_the_weights_folder_ships_only_published_weights():
    from perception.model.weights import PUBLISHED_WEIGHTS, WEIGHTS_DIR

    shipped = {p.name for p in WEIGHTS_DIR.glob("*.pt")}  # package data
    assert shipped == {r.file_name for r in PUBLISHED_WEIGHTS.values()}
