"""perception.tools.pseudo_lanes: a run's tracked lanes become TuSimple labels that read back as the same lines."""

from __future__ import annotations

import json

import numpy as np
import pytest

from conftest import CLIP, need, run_cli


@pytest.fixture(scope="module")
def labelled(tmp_path_factory):
    root = tmp_path_factory.mktemp("pseudo")
    run = root / "run"
    proc = run_cli("perception.run", "--source", str(need(CLIP)), "--output", str(run), "--max-frames", "30",
                   "--no-video", "--no-report", "--no-progress", "--planner", "off")
    assert proc.returncode == 0, proc.stderr
    out = root / "labels"
    proc = run_cli("perception.tools.pseudo_lanes", "--run", str(run), "--output", str(out), "--every", "5")
    assert proc.returncode == 0, proc.stderr
    return run, out


def test_labels_read_back_as_the_runs_lanes(labelled):
    from datasets import open_dataset

    run, out = labelled
    records = {r["frame"]: r for r in map(json.loads, (run / "frames.jsonl").read_text().splitlines())}
    meta = json.loads((out / "pseudo_labels.json").read_text())
    assert meta["frames"] and all(f % 5 == 0 for f in meta["frames"]) and meta["lane_source"] == "classical"
    data = open_dataset("tusimple", str(out), "train")
    assert len(data) == len(meta["frames"]) >= 4      # the clip's lanes are found on most frames
    for k, frame in enumerate(meta["frames"]):
        sample = data[k]
        assert (sample.width, sample.height) == (960, 540)
        lanes = [lane for lane in records[frame]["lanes"] if lane["confidence"] >= 0.5]
        assert len(sample.lanes) == len(lanes)
        for label, lane in zip(sample.lanes, lanes):   # each label point lies on the run's polyline
            pts = np.asarray(lane["points_xy"])
            order = np.argsort(pts[:, 1])
            x_run = np.interp(label[:, 1], pts[order, 1], pts[order, 0])
            np.testing.assert_allclose(label[:, 0], x_run, atol=0.1)
        bottom = {lane["side"]: lane["points_xy"][0][0] for lane in lanes}
        assert sample.lane_sides.count("ego_left") == 1 and sample.lane_sides.count("ego_right") == 1
        assert bottom["ego_left"] < bottom["ego_right"]


def test_bad_inputs_are_one_line_errors(labelled, tmp_path):
    run, out = labelled
    for args in (["--run", str(tmp_path), "--output", str(tmp_path / "x")],          # not a run folder
                 ["--run", str(run), "--output", str(out)],                          # output not empty
                 ["--run", str(run), "--output", str(tmp_path / "y"), "--every", "0"]):
        proc = run_cli("perception.tools.pseudo_lanes", *args)
        assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
        assert "Traceback" not in proc.stderr
