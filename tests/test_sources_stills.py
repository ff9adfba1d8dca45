"""--source takes one image, a glob and a folder with sub-folders, on the real Udacity stills; stills stand alone
(annotated pictures, nothing tracked across them) unless --sequence."""

from __future__ import annotations

import json
import shutil

import cv2
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


def _records(out):
    return [json.loads(x) for x in (out / "frames.jsonl").read_text().splitlines()]


def test_stills_get_annotated_pictures_and_are_read_each_on_its_own(tmp_path):
    images = need(STILLS)
    drive = tmp_path / "stills"
    (drive / "b").mkdir(parents=True)
    for name in ("test1.jpg", "test3.jpg", "test4.jpg"):
        shutil.copy(images / name, drive / name)
    shutil.copy(images / "test5.jpg", drive / "b" / "test5.png")  # another folder, another format
    (drive / "broken.jpg").write_bytes(b"not a picture")
    proc = run_cli("perception.run", "--source", str(drive), "--recursive", "--output", str(tmp_path / "all"),
                   "--no-progress", "--planner", "off", "--threads", "2")
    assert proc.returncode == 0, proc.stderr
    out = tmp_path / "all"
    assert not (out / "annotated.mp4").exists()
    pictures = sorted(p.relative_to(out / "annotated").as_posix() for p in (out / "annotated").rglob("*.*"))
    assert pictures == ["b/test5.png", "test1.jpg", "test3.jpg", "test4.jpg"]  # the broken still gets none
    records = _records(out)
    assert [r["image"] for r in records] == ["b/test5.png", "broken.jpg", "test1.jpg", "test3.jpg", "test4.jpg"]
    assert records[1]["status"] == "failed"
    summary = json.loads((out / "summary.json").read_text())
    assert summary["input_frames"] == "independent stills"
    assert summary["outputs"]["annotated_images"] == str(out / "annotated")
    assert all(d["track_id"] is None for r in records for d in r["detections"])  # nothing tracked across stills
    assert any(r["lanes"] for r in records)  # a line seen in one still is reported (no confirmation over frames)
    picture = cv2.imread(str(out / "annotated" / "test4.jpg"))
    assert picture.shape == cv2.imread(str(images / "test4.jpg")).shape
    assert 'href="annotated/test4.jpg"' in (out / "report.html").read_text()
    # a still's boxes do not depend on the stills before it: test4 alone gives the same boxes
    alone = run_cli("perception.run", "--source", str(drive / "test4.jpg"), "--output", str(tmp_path / "one"),
                    "--no-progress", "--planner", "off", "--lanes", "off", "--no-video", "--no-report")
    assert alone.returncode == 0, alone.stderr
    boxes = [(d["label"], d["box_xyxy"]) for d in _records(tmp_path / "one")[0]["detections"]]
    assert boxes and boxes == [(d["label"], d["box_xyxy"]) for d in records[4]["detections"]]


def test_sequence_tracks_stills_as_frames_of_one_drive(tmp_path):
    images = need(STILLS)
    drive = tmp_path / "drive"
    drive.mkdir()
    for i in range(3):  # the same still three times: one car, tracked from the second frame on
        shutil.copy(images / "test1.jpg", drive / f"{i:03d}.jpg")
    proc = run_cli("perception.run", "--source", str(drive), "--sequence", "--output", str(tmp_path / "seq"),
                   "--no-progress", "--planner", "off", "--lanes", "off", "--no-report")
    assert proc.returncode == 0, proc.stderr
    out = tmp_path / "seq"
    assert (out / "annotated.mp4").is_file() and not (out / "annotated").exists()
    records = _records(out)
    assert json.loads((out / "summary.json").read_text())["input_frames"] == "sequence"
    assert any(d["track_id"] is not None for d in records[-1]["detections"])


def test_a_fresh_run_replaces_the_annotated_stills_of_an_earlier_one(tmp_path):
    images = need(STILLS)
    out = tmp_path / "out"
    for still in ("test1.jpg", "test2.jpg"):
        proc = run_cli("perception.run", "--source", str(images / still), "--output", str(out), "--no-progress",
                       "--planner", "off", "--lanes", "off", "--no-report")
        assert proc.returncode == 0, proc.stderr
    assert sorted(p.name for p in (out / "annotated").iterdir()) == ["test2.jpg"]
