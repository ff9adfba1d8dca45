"""User mistakes get one line on stderr and exit code 2, never a traceback."""

from __future__ import annotations

import json
import shutil

import cv2
import numpy as np
import pytest
import torch

from conftest import CLIP, need, run_cli


def assert_one_line_error(proc, *needles: str) -> None:
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    lines = [line for line in proc.stderr.strip().splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    for n in needles:
        assert n in lines[0], lines[0]


def test_missing_video(tmp_path):
    missing = tmp_path / "nope.mp4"
    proc = run_cli("perception.run", "--video", str(missing), "--output", str(tmp_path / "out"))
    assert_one_line_error(proc, "not found", "nope.mp4")


@pytest.mark.parametrize("module,required", [
    ("perception.run", ["--video", "drive.mp4"]), ("perception.train", []),
    ("perception.evaluate", ["--data", "camvid:x"]), ("perception.planning.sim.evaluate", []),
    ("perception.planning.evaluate", []),  # the old name, a shim
    ("perception.tools.video_to_log", ["--video", "drive.mp4", "--output", "x.mcap"])])
def test_mistyped_flag_is_one_line_naming_it(module, required):
    proc = run_cli(module, *required, "--ouput", "runs/x")
    assert_one_line_error(proc, "--ouput", f"python -m {module} --help")


def test_empty_folder(tmp_path):
    (tmp_path / "empty").mkdir()
    proc = run_cli("perception.run", "--video", str(tmp_path / "empty"), "--output", str(tmp_path / "out"))
    assert_one_line_error(proc, "no images")


def test_file_that_is_not_a_video(tmp_path):
    fake = tmp_path / "notes.mp4"
    fake.write_text("this is not a video\n" * 100)
    proc = run_cli("perception.run", "--video", str(fake), "--output", str(tmp_path / "out"))
    assert_one_line_error(proc, "notes.mp4")


def test_bad_weights_file(tmp_path):
    clip = need(CLIP)
    bad = tmp_path / "weights.pt"
    bad.write_bytes(np.random.default_rng(0).bytes(4096))
    proc = run_cli("perception.run", "--video", str(clip), "--weights", str(bad), "--output", str(tmp_path / "o"))
    assert_one_line_error(proc, "weights.pt")


def test_pickled_object_is_refused_as_weights(tmp_path):
    """weights_only=True: a checkpoint that needs arbitrary unpickling is rejected, not executed."""
    clip = need(CLIP)
    evil = tmp_path / "evil.pt"

    import argparse

    torch.save({"format": "perception.multitask", "obj": argparse.Namespace(payload=1)}, evil)
    proc = run_cli("perception.run", "--video", str(clip), "--weights", str(evil), "--output", str(tmp_path / "o"))
    assert_one_line_error(proc, "evil.pt")


def test_weights_hash_mismatch(tmp_path):
    clip = need(CLIP)
    from perception.model import build_multitask_lite, save_checkpoint

    path = save_checkpoint(build_multitask_lite(), tmp_path / "w.pt")
    proc = run_cli("perception.run", "--video", str(clip), "--weights", str(path), "--weights-sha256", "0" * 64,
                   "--output", str(tmp_path / "o"))
    assert_one_line_error(proc, "SHA-256 mismatch")


def test_bad_flag_values(tmp_path):
    clip = need(CLIP)
    proc = run_cli("perception.run", "--video", str(clip), "--max-frames", "0", "--output", str(tmp_path / "o"))
    assert_one_line_error(proc, "--max-frames")


def _mjpeg_copy_with_damaged_frames(dst, src, n_frames: int, damaged: tuple[int, ...]) -> None:
    cap = cv2.VideoCapture(str(src))
    writer = cv2.VideoWriter(str(dst), cv2.VideoWriter_fourcc(*"MJPG"), 25, (960, 540))
    for _ in range(n_frames):
        ok, frame = cap.read()
        assert ok
        writer.write(frame)
    writer.release()
    data = bytearray(dst.read_bytes())
    starts = [i for i in range(len(data) - 2) if data[i] == 0xFF and data[i + 1] == 0xD8 and data[i + 2] == 0xFF]
    assert len(starts) == n_frames
    for k in damaged:  # wipe the JPEG header and the first part of the scan: undecodable frame
        data[starts[k]:starts[k] + 4000] = bytes(4000)
    dst.write_bytes(bytes(data))


def test_undecodable_frames_in_the_middle_are_counted_and_skipped(tmp_path):
    clip = need(CLIP)
    damaged = tmp_path / "damaged.avi"
    _mjpeg_copy_with_damaged_frames(damaged, clip, 30, damaged=(10, 11, 12))
    out = tmp_path / "out"
    proc = run_cli("perception.run", "--video", str(damaged), "--output", str(out), "--no-progress")
    assert proc.returncode == 0, proc.stderr
    summary = json.loads((out / "summary.json").read_text())
    assert summary["frames_read"] == 30
    assert summary["frames_failed"] == 3
    assert summary["frames_processed"] == 27
    records = [json.loads(line) for line in (out / "frames.jsonl").read_text().splitlines()]
    assert [r["frame"] for r in records] == list(range(30))
    assert [r["frame"] for r in records if r["status"] == "failed"] == [10, 11, 12]
    cap = cv2.VideoCapture(str(out / "annotated.mp4"))
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 30


def test_default_output_dir_is_not_overwritten(tmp_path):
    clip = need(CLIP)
    shutil.copy(clip, tmp_path / "drive.mp4")
    for _ in range(2):
        proc = run_cli("perception.run", "--video", str(tmp_path / "drive.mp4"), "--max-frames", "2",
                       "--no-video", "--no-progress", cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "runs" / "drive" / "frames.jsonl").exists()
    assert (tmp_path / "runs" / "drive-2" / "frames.jsonl").exists()
