"""TuSimple submission files (perception/tools/tusimple_predict.py): the format TuSimple's own script reads."""

from __future__ import annotations

import json

import numpy as np
import pytest

from perception.tools.tusimple_predict import TUSIMPLE_NO_POINT, cli, lanes_on_rows

from conftest import SHARED_DATA, need

SAMPLE = SHARED_DATA / "tusimple_sample_512x288"


def test_lanes_on_rows_fills_rows_outside_a_line_with_no_point():
    grid = np.arange(0.0, 301.0, 50.0)  # rows 0, 50, ..., 300
    line = np.array([[100.0, 200.0], [150.0, 100.0]])  # bottom to top, x grows upwards
    off_image = np.array([[-30.0, 300.0], [-10.0, 250.0]])  # left of the image everywhere
    rows = lanes_on_rows([line, off_image], grid, width_px=512)
    assert rows == [[TUSIMPLE_NO_POINT, TUSIMPLE_NO_POINT, 150, 125, 100, TUSIMPLE_NO_POINT, TUSIMPLE_NO_POINT]]


def test_submission_file_for_the_sample_reads_back_to_the_benchmark_score(tmp_path, capsys):
    from datasets import open_dataset
    from perception.lanes import detect_image_lanes
    from perception.lanes.metrics import tusimple_accuracy

    labels = need(SAMPLE) / "label_data.json"
    out = tmp_path / "pred.json"
    assert cli(["--labels", str(labels), "--output", str(out), "--single-view"]) == 0
    printed = capsys.readouterr().out
    gt = [json.loads(line) for line in labels.read_text().splitlines() if line.strip()]
    pred = [json.loads(line) for line in out.read_text().splitlines()]
    assert [p["raw_file"] for p in pred] == [g["raw_file"] for g in gt]
    for p, g in zip(pred, gt):
        assert p["run_time"] > 0 and len(p["lanes"]) <= 4
        assert all(len(lane) == len(g["h_samples"]) for lane in p["lanes"])
        assert all(x == TUSIMPLE_NO_POINT or 0 <= x < 512 for lane in p["lanes"] for x in lane)
    reader = open_dataset("tusimple", labels, "train")
    direct = tusimple_accuracy((reader[i] for i in range(len(reader))),
                               lambda image: detect_image_lanes(image, views=None))["tusimple_accuracy"]
    from_file = float(printed.split("TuSimple accuracy ")[1].split()[0])
    assert from_file == pytest.approx(direct, abs=0.01)  # x rounded to whole pixels in the file


def test_missing_label_file_is_one_line_and_exit_2(tmp_path, capsys):
    assert cli(["--labels", str(tmp_path / "nope.json"), "--output", str(tmp_path / "p.json")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --labels") and err.count("\n") == 1


def test_a_file_that_is_not_tusimple_labels_is_one_line_and_exit_2(tmp_path, capsys):
    bad = tmp_path / "labels.json"
    bad.write_text('{"raw_file": "a.jpg"}\n')
    assert cli(["--labels", str(bad), "--output", str(tmp_path / "p.json")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "missing key 'lanes'" in err and err.count("\n") == 1


def test_an_undecodable_image_mid_run_is_one_line_and_keeps_the_frames_before(tmp_path, capsys):
    import shutil

    src = need(SAMPLE)
    first = json.loads((src / "label_data.json").read_text().splitlines()[0])
    (tmp_path / "clips" / "good").mkdir(parents=True)
    (tmp_path / "clips" / "bad").mkdir()
    shutil.copy(src / first["raw_file"], tmp_path / "clips" / "good" / "20.jpg")
    (tmp_path / "clips" / "bad" / "20.jpg").write_bytes(b"not a jpeg")
    lines = [json.dumps({**first, "raw_file": f"clips/{name}/20.jpg"}) for name in ("good", "bad")]
    (tmp_path / "labels.json").write_text("\n".join(lines) + "\n")
    out = tmp_path / "pred.json"
    assert cli(["--labels", str(tmp_path / "labels.json"), "--output", str(out), "--single-view"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "cannot decode image" in err and err.count("\n") == 1
    assert [json.loads(line)["raw_file"] for line in out.read_text().splitlines()] == ["clips/good/20.jpg"]
