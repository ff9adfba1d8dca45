"""--source takes one image, a glob and a folder with sub-folders, on the real Udacity stills."""

from __future__ import annotations

import json
import shutil

import pytest

from conftest import SHARED_DATA, need, run_cli
from perception.errors import UserInputError
from perception.sources import open_source

STILLS = SHARED_DATA / "udacity_vehicle_detection" / "test_images"


def test_one_image_a_glob_and_a_recursive_folder_open_as_stills(tmp_path):
    images = need(STILLS)
    one = open_source(images / "test3.jpg")
    assert one.info.frame_count == 1 and (one.info.width_px, one.info.height_px) == (1280, 720)
    glob_src = open_source(str(images / "test[2-4].jpg"))
    assert [p.name for p in glob_src.files] == ["test2.jpg", "test3.jpg", "test4.jpg"]
    nested = tmp_path / "drive"
    (nested / "a").mkdir(parents=True)
    shutil.copy(images / "test1.jpg", nested / "a" / "x.jpg")
    shutil.copy(images / "test2.jpg", nested / "y.jpg")
    assert open_source(nested, recursive=True).info.frame_count == 2
    assert open_source(nested).info.frame_count == 1
    with pytest.raises(UserInputError, match="no images"):
        open_source(str(tmp_path / "*.png"))


def test_run_on_a_glob_writes_one_record_per_match_into_a_clean_folder_name(tmp_path):
    images = need(STILLS)
    proc = run_cli("perception.run", "--source", str(images / "test*.jpg"), "--no-video", "--no-progress",
                   "--planner", "off", "--lanes", "off", "--max-frames", "2", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    out = tmp_path / "runs" / "test"   # the glob's characters never reach the folder name
    records = [json.loads(x) for x in (out / "frames.jsonl").read_text().splitlines()]
    assert [r["frame"] for r in records] == [0, 1]
    assert json.loads((out / "summary.json").read_text())["frames_processed"] == 2
