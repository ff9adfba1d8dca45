"""perception.replay: a fleet of inputs on Ray, one run folder each, fleet.json and index.html."""

from __future__ import annotations

import json
import re

import pytest

from conftest import CLIP, need, run_cli
from perception.replay.fleet import expand_inputs, plan_jobs

RUN_FLAGS = ("--max-frames", "20", "--no-video", "--lanes", "off", "--planner", "off")


def test_inputs_expand_and_clashing_stems_get_a_suffix(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    for name in ("a/drive.mp4", "a/log.mcap", "a/notes.txt", "b/drive.mp4"):
        (tmp_path / name).write_bytes(b"")
    inputs = expand_inputs([str(tmp_path / "a"), str(tmp_path / "b" / "*.mp4")])
    assert [p.split("/")[-1] for p in inputs] == ["drive.mp4", "log.mcap", "drive.mp4"]
    jobs = plan_jobs(inputs, tmp_path / "out")
    assert [j.out_dir.name for j in jobs] == ["drive", "log", "drive-2"]


@pytest.fixture(scope="module")
def fleet(tmp_path_factory):
    pytest.importorskip("ray", reason="ray is not installed (the 'fleet' extra: pip install -e '.[fleet]')")
    root = tmp_path_factory.mktemp("fleet")
    (root / "in").mkdir()
    (root / "in2").mkdir()
    (root / "in" / "solid.mp4").symlink_to(need(CLIP).resolve())
    (root / "in2" / "solid.mp4").symlink_to(CLIP.resolve())
    (root / "in" / "broken.mp4").write_bytes(b"\x00not a video" * 400)
    argv = ("perception.replay", "--inputs", str(root / "in"), str(root / "in2" / "solid.mp4"),
            "--output", str(root / "out"), "--workers", "2", *RUN_FLAGS)
    first = run_cli(*argv, timeout=600)
    first.fleet = json.loads((root / "out" / "fleet.json").read_text())
    first.index = (root / "out" / "index.html").read_text()
    second = run_cli(*argv, timeout=600)
    return root / "out", first, second


def test_fleet_runs_each_input_and_records_the_failure(fleet):
    out, first, _ = fleet
    assert first.returncode == 1, first.stderr  # one input failed: the others ran
    data = first.fleet
    by_dir = {e["output_dir"].split("/")[-1]: e for e in data["inputs"]}
    assert set(by_dir) == {"broken", "solid", "solid-2"}
    assert by_dir["broken"]["state"] == "failed" and "broken.mp4" in by_dir["broken"]["error"]
    assert "\n" not in by_dir["broken"]["error"] and "Traceback" not in by_dir["broken"]["error"]
    for name in ("solid", "solid-2"):
        entry = by_dir[name]
        assert entry["state"] == "finished" and entry["frames_processed"] == 20 and entry["fps"] > 0
        assert entry["detections_per_class"].get("car", 0) > 0
        assert (out / name / "report.html").is_file() and entry["report"] == f"{name}/report.html"
        summary = json.loads((out / name / "summary.json").read_text())
        assert summary["state"] == "finished" and summary["frames_read"] == 20
    totals = data["totals"]
    assert (totals["inputs"], totals["finished"], totals["failed"], totals["frames_processed"]) == (3, 2, 1, 40)
    assert data["wall_time_s"] > 0 and data["workers"] == 2


def test_index_lists_every_input_with_a_link_and_sorts(fleet):
    out, first, _ = fleet
    page = first.index
    rows = re.findall(r"<tr class=\"(\w+)\"", page)
    assert sorted(rows) == ["failed", "finished", "finished"]
    assert 'href="solid/report.html"' in page and 'href="solid-2/report.html"' in page
    assert "<script>" in page and "addEventListener(\"click\"" in page
    assert not re.search(r'(src|href)="(https?:)?//', page)


def test_a_rerun_skips_finished_inputs(fleet):
    out, _, second = fleet
    assert second.returncode == 1, second.stderr
    data = json.loads((out / "fleet.json").read_text())
    states = sorted(e["state"] for e in data["inputs"])
    assert states == ["failed", "skipped", "skipped"]
    assert data["totals"]["frames_processed"] == 40  # the skipped runs' figures are still counted


def test_bad_run_flag_is_one_line_exit_2(tmp_path):
    pytest.importorskip("ray", reason="ray is not installed (the 'fleet' extra)")
    proc = run_cli("perception.replay", "--inputs", str(tmp_path), "--output", str(tmp_path / "out"),
                   "--no-such-flag")
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()


def test_a_worker_loads_the_model_once(tmp_path):
    """Two inputs in one worker process: the second run reuses the first one's model and runner."""
    from perception.run import ModelCache
    from perception.replay.fleet import run_one

    models = ModelCache()
    flags = ["--max-frames", "3", "--no-video", "--no-report", "--lanes", "off", "--planner", "off"]
    first = run_one(str(need(CLIP)), str(tmp_path / "a"), flags, 1, models=models)
    second = run_one(str(CLIP), str(tmp_path / "b"), flags, 1, models=models)
    assert (first["state"], second["state"]) == ("finished", "finished"), (first, second)
    assert (first["model_reused"], second["model_reused"]) == (False, True)
    assert second["frames_processed"] == 3
    a, b = (json.loads((tmp_path / d / "summary.json").read_text()) for d in "ab")
    assert a["weights"] == b["weights"] and a["backend"] == b["backend"]
