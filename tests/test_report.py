"""report.html: perception.run writes one self-contained page per run; python -m perception.report rebuilds it."""

from __future__ import annotations

import json
import os
import re
import shutil
import time

import pytest

from conftest import CLIP, KITTI_IMAGES, REPO, need, run_cli

SECTIONS = ("latency", "detections", "lanes", "plan", "thumbnails", "settings")


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("report") / "run"
    proc = run_cli("perception.run", "--source", str(need(CLIP)), "--output", str(out), "--max-frames", "40",
                   "--no-progress")
    assert proc.returncode == 0, proc.stderr
    return out


def _sections(page: str) -> dict[str, str]:
    found = re.findall(r'<section id="([a-z]+)">(.*?)</section>', page, flags=re.S)
    return dict(found)


def test_run_writes_a_self_contained_report(run_dir):
    page = (run_dir / "report.html").read_text()
    sections = _sections(page)
    assert tuple(sections) == SECTIONS
    for name in ("latency", "detections", "lanes", "plan"):  # the clip has cars, lanes, and the planner is on
        assert "<svg" in sections[name], f"section {name} has no plot: {sections[name][:200]}"
    thumbs = re.findall(r'<img src="data:image/jpeg;base64,[A-Za-z0-9+/=]{1000,}" alt="frame (\d+)"',
                        sections["thumbnails"])
    assert 3 <= len(thumbs) <= 6
    records = {json.loads(line)["frame"] for line in (run_dir / "frames.jsonl").read_text().splitlines()}
    assert {int(f) for f in thumbs} <= records
    assert "multitask_lite" in sections["settings"] and "sha256" in sections["settings"].lower()
    # nothing is fetched: no external scripts, styles or images
    assert not re.search(r'(src|href)="(https?:)?//', page)
    assert "<script" not in page


def test_frames_carry_per_stage_latency(run_dir):
    rec = json.loads((run_dir / "frames.jsonl").read_text().splitlines()[5])
    assert {"decode", "inference", "postprocess", "draw"} <= set(rec["latency_ms"])
    assert all(v >= 0 for v in rec["latency_ms"].values())


def test_no_report_skips_it(tmp_path):
    out = tmp_path / "run"
    proc = run_cli("perception.run", "--source", str(need(CLIP)), "--output", str(out), "--max-frames", "2",
                   "--no-video", "--no-report", "--no-progress", "--lanes", "off", "--planner", "off")
    assert proc.returncode == 0, proc.stderr
    assert (out / "summary.json").is_file() and not (out / "report.html").exists()


def test_standalone_tolerates_a_broken_line_and_is_quick(run_dir, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(run_dir, copy)
    (copy / "report.html").unlink()
    lines = (copy / "frames.jsonl").read_text().splitlines()
    lines.insert(10, '{"frame": 10, "detections": [{"lab')  # a line cut by a kill, mid-file
    (copy / "frames.jsonl").write_text("\n".join(lines) + "\n")
    t0 = time.perf_counter()
    proc = run_cli("perception.report", str(copy))
    assert proc.returncode == 0, proc.stderr
    assert time.perf_counter() - t0 < 30  # generous: the import of matplotlib on a loaded machine
    page = (copy / "report.html").read_text()
    assert "1 line(s) of frames.jsonl could not be read" in page
    assert tuple(_sections(page)) == SECTIONS


def test_standalone_bad_folder_is_one_line_exit_2(tmp_path):
    for target in (tmp_path / "missing", tmp_path):  # absent; a folder without frames.jsonl
        proc = run_cli("perception.report", str(target))
        assert proc.returncode == 2
        assert len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr


def test_without_a_video_the_thumbnails_come_from_the_input(tmp_path):
    """An image folder run with --no-video (its input given relative to the repo), its report rebuilt from
    another working directory: thumbnails from the input."""
    out = tmp_path / "kitti"
    proc = run_cli("perception.run", "--source", os.path.relpath(need(KITTI_IMAGES), REPO), "--output", str(out),
                   "--no-video", "--no-progress", "--planner", "off", "--no-report")
    assert proc.returncode == 0, proc.stderr
    proc = run_cli("perception.report", str(out), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    thumbs = _sections((out / "report.html").read_text())["thumbnails"]
    assert len(re.findall(r'<img src="data:image/jpeg;base64,', thumbs)) == 6  # 6 frames: every one shown
    assert "from the input" in thumbs
