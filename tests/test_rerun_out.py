"""--rerun-out writes a Rerun recording of the run that the Rerun tools read back (image, masks, boxes, lanes,
plots, plan on the frame and time timelines)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import CLIP, need, run_cli

pytest.importorskip("rerun", reason="rerun-sdk (extra 'rerun') is not installed")


def test_rerun_out_holds_every_entity_of_the_run(tmp_path):
    clip = need(CLIP)
    rrd = tmp_path / "drive.rrd"
    proc = run_cli("perception.run", "--source", str(clip), "--output", str(tmp_path / "out"), "--rerun-out",
                   str(rrd), "--max-frames", "12", "--no-progress", "--no-video", "--no-report")
    assert proc.returncode == 0, proc.stderr
    assert json.loads((tmp_path / "out" / "summary.json").read_text())["outputs"]["rerun"] == str(rrd)
    rerun_cli = Path(sys.executable).with_name("rerun")
    env = {**os.environ, "RERUN_ANALYTICS": "off"}
    verified = subprocess.run([str(rerun_cli), "rrd", "verify", str(rrd)], capture_output=True, text=True, env=env,
                              timeout=120)
    assert verified.returncode == 0, verified.stderr
    printed = subprocess.run([str(rerun_cli), "rrd", "print", "-vv", str(rrd)], capture_output=True, text=True,
                             env=env, timeout=120).stdout
    for entity in ("/camera/image", "/camera/segmentation", "/camera/detections", "/camera/lanes",
                   "/scalars/latency_ms", "/scalars/lane_offset_m", "/plan"):
        assert entity in printed, entity
    assert "frame" in printed.split() and "time" in printed.split()  # the two timelines' columns


def test_rerun_out_into_a_missing_folder_is_one_line(tmp_path):
    proc = run_cli("perception.run", "--source", str(need(CLIP)), "--output", str(tmp_path / "out"),
                   "--rerun-out", str(tmp_path / "nowhere" / "x.rrd"), "--max-frames", "1", "--no-progress")
    assert proc.returncode == 2 and "--rerun-out" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()
