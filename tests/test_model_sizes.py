"""Model sizes: lite and base from the same parts, chosen with --model in train, run and evaluate."""

from __future__ import annotations

import pytest
import torch

from conftest import run_cli
from perception.errors import ConfigError
from perception.model import (MODEL_SIZES, MultiTaskNet, build_model, default_weights, model_config,
                              published_weights, size_of)


def _params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def test_base_is_several_times_lite_with_the_same_outputs():
    lite, base = build_model("lite"), build_model("base")
    assert 3e6 <= _params(base) <= 8e6 and _params(base) > 5 * _params(lite)
    x = torch.randint(0, 256, (1, 3, 128, 192), dtype=torch.uint8)
    with torch.no_grad():
        a, b = lite(x), base(x)
    assert a.keys() == b.keys() and all(a[k].shape == b[k].shape for k in a)
    assert size_of(lite.config) == "lite" and size_of(base.config) == "base"
    assert size_of(model_config("base", input_size_wh=(320, 192))) == "base"
    with pytest.raises(ValueError, match="unknown model size"):
        model_config("huge")


def test_published_weights_per_size():
    record = published_weights("lite")
    assert record == default_weights() and record.size == "lite"
    for size in MODEL_SIZES:
        try:
            rec = published_weights(size)
        except ConfigError as e:
            assert "no published weights" in str(e)
            continue
        assert rec.size == size and rec.path.is_file()
    with pytest.raises(ConfigError, match="unknown model size"):
        published_weights("xl")


def test_train_model_flag_builds_the_chosen_size(tmp_path):
    from conftest import SHARED_DATA, need
    from perception.model import load_checkpoint

    apollo = need(SHARED_DATA / "apollo_2d_obstacle_dotah88")
    cfg = tmp_path / "tiny.yaml"
    cfg.write_text(f"train_data: ['apollo:{apollo}']\ntrain_repeats: [1]\nval_data: []\nepochs: 1\nbatch_size: 2\n"
                   "crop_wh: [128, 128]\nmax_steps_per_epoch: 1\nworkers: 0\n")
    proc = run_cli("perception.train", "--config", str(cfg), "--output", str(tmp_path / "b"), "--model", "base",
                   "--no-progress")
    assert proc.returncode == 0, proc.stderr
    model = load_checkpoint(tmp_path / "b" / "final.pt").model
    assert isinstance(model, MultiTaskNet) and size_of(model.config) == "base"
    bad = run_cli("perception.train", "--config", str(cfg), "--output", str(tmp_path / "x"), "--model", "huge")
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1 and "huge" in bad.stderr


def test_run_and_evaluate_reject_a_size_without_weights_in_one_line(tmp_path):
    import cv2
    import numpy as np

    image = tmp_path / "frame.jpg"
    cv2.imwrite(str(image), np.zeros((64, 96, 3), np.uint8))
    missing = [s for s in MODEL_SIZES if _unpublished(s)]
    for args, needle in ((["perception.run", "--source", str(image), "--model", "huge"], "huge"),
                         (["perception.evaluate", "--data", f"camvid:{tmp_path}", "--model", "huge"], "huge"),
                         (["perception.run", "--source", str(image), "--model", "lite", "--weights", "w.pt"],
                          "not both")):
        proc = run_cli(*args)
        assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
        assert needle in proc.stderr
    for size in missing:
        proc = run_cli("perception.evaluate", "--data", f"camvid:{tmp_path}", "--model", size)
        assert proc.returncode == 2 and "no published weights" in proc.stderr


def _unpublished(size: str) -> bool:
    try:
        published_weights(size)
    except ConfigError:
        return True
    return False
