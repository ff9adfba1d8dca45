"""A replay that never lies (issue 26, item 7): what ``python -m perception.run`` leaves and says when a run fails
before its first frame, how it counts FPS, a camera file for another image size, image folders of mixed sizes and
lane ids on ``--resume``. (Truncated ROS 2 sqlite bags: tests/test_logs_damage.py.)
"""

from __future__ import annotations

import json
import math
import re
import shutil
import time

import pytest

from conftest import CLIP, KITTI_IMAGES, need, run_cli
from test_run_reliability_more import assert_one_line_error, one_line_error, run_in_process

import perception.run
from perception.errors import UserInputError

FAST = ("--no-video", "--no-progress")


def _user_files(folder) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in folder.iterdir()}


# ---------------------------------------------------------------------------------------------------------------
# 1. A run that fails before its first frame leaves no folder it created and no file it made.

def _shipped_policy_copy(tmp_path):
    from perception.planning.policy import DEFAULT_POLICY, PUBLISHED_POLICIES

    if DEFAULT_POLICY is None:
        pytest.skip("no planner policy is shipped")
    copy = tmp_path / "policy.pt"
    shutil.copy(PUBLISHED_POLICIES[DEFAULT_POLICY].path, copy)
    return copy


def test_bad_planner_policy_with_onnxruntime_leaves_no_model_onnx(tmp_path, capsys):
    """Was: --backend onnxruntime exported DIR/model.onnx before the planner policy was checked; the failed start
    then left the new folder behind with model.onnx in it."""
    pytest.importorskip("onnxruntime")
    policy = _shipped_policy_copy(tmp_path)
    common = ("--source", str(need(CLIP)), "--backend", "onnxruntime", "--planner-policy", str(policy),
              "--planner-policy-sha256", "0" * 64, "--max-frames", "1", *FAST)
    out = tmp_path / "new" / "out"
    assert run_in_process(*common, "--output", str(out)) == 2
    one_line_error(capsys.readouterr().err, "SHA-256 mismatch")
    assert not (tmp_path / "new").exists()
    existing = tmp_path / "existing"
    existing.mkdir()
    (existing / "notes.txt").write_text("the user's own file")
    assert run_in_process(*common, "--output", str(existing)) == 2
    one_line_error(capsys.readouterr().err, "SHA-256 mismatch")
    assert _user_files(existing) == {"notes.txt": b"the user's own file"}


def test_export_cut_short_leaves_no_half_made_model_onnx(tmp_path, capsys, monkeypatch):
    """Ctrl-C while the ONNX graph is being exported: exit 130, no half-written graph, a new folder gone again and
    an existing one left as it was."""
    import perception.backends.onnx_export as onnx_export

    def cut_short_export(model, path, **kwargs):
        with open(path, "wb") as f:
            f.write(b"\x08\x07half an ONNX graph")
        raise KeyboardInterrupt

    import perception.cache

    monkeypatch.setattr(onnx_export, "export_onnx", cut_short_export)
    monkeypatch.setenv("PERCEPTION_CACHE_DIR", str(tmp_path / "cache"))  # an empty cache ...
    monkeypatch.setattr(perception.cache, "SHIPPED_CACHE_DIR", tmp_path / "nothing shipped")  # ... and none shipped:
    #   the export must run
    common = ("--source", str(need(CLIP)), "--backend", "onnxruntime", "--lanes", "off", "--planner", "off",
              "--max-frames", "1", *FAST)
    assert run_in_process(*common, "--output", str(tmp_path / "new" / "out")) == 130
    assert "interrupted" in capsys.readouterr().err
    assert not (tmp_path / "new").exists()
    existing = tmp_path / "existing"
    existing.mkdir()
    (existing / "notes.txt").write_text("kept")
    assert run_in_process(*common, "--output", str(existing)) == 130
    assert _user_files(existing) == {"notes.txt": b"kept"}
    # the graph is exported into the user cache: a cut-short export leaves no half-written file there either
    from perception.backends.onnx_cache import cache_dir

    assert cache_dir() == tmp_path / "cache" and not [p.name for p in (cache_dir() / "onnx").glob("*")]


class _FailingRunner:
    name, device, precision = "torch", "cpu", "fp32"

    def __call__(self, batch):
        raise UserInputError("the network cannot run on this input")


def test_failure_at_the_first_frame_leaves_no_empty_outputs(tmp_path, capsys, monkeypatch):
    """Was: a run that failed at its first frame left DIR with an empty frames.jsonl, an empty annotated.mp4 and a
    summary.json of a run that never processed anything."""
    monkeypatch.setattr(perception.run, "_make_runner", lambda args, model, out_dir: _FailingRunner())
    common = ("--source", str(need(CLIP)), "--lanes", "off", "--planner", "off", "--max-frames", "2",
              "--no-progress")
    assert run_in_process(*common, "--output", str(tmp_path / "new" / "out")) == 2
    one_line_error(capsys.readouterr().err, "cannot run on this input")
    assert not (tmp_path / "new").exists()
    existing = tmp_path / "existing"
    existing.mkdir()
    (existing / "notes.txt").write_text("kept")
    assert run_in_process(*common, "--output", str(existing)) == 2
    capsys.readouterr()
    assert _user_files(existing) == {"notes.txt": b"kept"}


def test_failed_fresh_run_keeps_an_earlier_runs_video_parts(tmp_path, capsys, monkeypatch):
    """A fresh run removes an earlier resumed run's annotated.partN.mp4, but only once it really starts: a start that
    fails leaves the existing folder as it was."""
    out = tmp_path / "old_run"
    out.mkdir()
    (out / "annotated.part2.mp4").write_bytes(b"from an earlier, resumed run")
    bad = tmp_path / "weights.pt"
    bad.write_bytes(b"not a checkpoint")
    assert run_in_process("--source", str(need(CLIP)), "--output", str(out), "--weights", str(bad), *FAST) == 2
    capsys.readouterr()
    assert _user_files(out) == {"annotated.part2.mp4": b"from an earlier, resumed run"}


# ---------------------------------------------------------------------------------------------------------------
# 3. FPS counts the frames' time only; start-up is its own number.

def test_fps_is_counted_from_the_first_frame(tmp_path, capsys, monkeypatch):
    """Was: a slow start of the input (a seek, a network drive, the frames a resumed run skips) went into the FPS
    of the final line and summary.json."""
    from perception.sources.video import VideoSource

    slow_start_s = 2.0
    real_iter = VideoSource.iter_frames

    def slow_first_frame(self, start_index=0):
        time.sleep(slow_start_s)
        yield from real_iter(self, start_index)

    monkeypatch.setattr(VideoSource, "iter_frames", slow_first_frame)
    out = tmp_path / "out"
    assert run_in_process("--source", str(need(CLIP)), "--output", str(out), "--max-frames", "3", "--lanes", "off",
                          "--planner", "off", *FAST) == 0
    err = capsys.readouterr().err
    summary = json.loads((out / "summary.json").read_text())
    assert summary["startup_s"] >= slow_start_s
    assert 0 < summary["processing_s"] < summary["wall_time_s"] - slow_start_s + 0.05
    assert summary["wall_time_s"] == pytest.approx(summary["startup_s"] + summary["processing_s"], abs=0.01)
    assert summary["fps"] == pytest.approx(3 / summary["processing_s"], rel=0.02)
    line = [ln for ln in err.splitlines() if ln.startswith("processed")][-1]
    fps_printed = float(re.search(r"([0-9.]+) FPS", line).group(1))
    assert fps_printed == pytest.approx(summary["fps"], abs=0.06), line
    assert "start-up" in line, line


# ---------------------------------------------------------------------------------------------------------------
# 4. A camera file for another image size: scaled (same aspect ratio, with a warning) or refused.

def _camera_file(path, width_px: int, height_px: int):
    from calibration import default_camera, save_camera_opencv

    cam = default_camera(width_px, height_px).with_mounting(height_m=1.5, pitch_rad=math.radians(2.0), yaw_rad=0.0,
                                                            roll_rad=0.0)
    save_camera_opencv(cam, path)
    return path


def _distances(out) -> list[float | None]:
    return [d["distance_m"] for line in (out / "frames.jsonl").read_text().splitlines()
            for d in json.loads(line)["detections"]]


def test_camera_file_of_another_size_is_scaled_with_a_warning(tmp_path):
    """Was: silently used at its own size for distances (wrong metres), while undistortion scaled it."""
    clip = need(CLIP)  # 960x540
    common = ("perception.run", "--source", str(clip), "--max-frames", "2", "--conf", "0.01", "--lanes", "off",
              "--planner", "off", *FAST)
    native = run_cli(*common, "--camera", str(_camera_file(tmp_path / "native.yaml", 960, 540)),
                     "--output", str(tmp_path / "native"))
    assert native.returncode == 0, native.stderr
    assert "warning" not in native.stderr
    big = _camera_file(tmp_path / "full_hd.yaml", 1920, 1080)
    proc = run_cli(*common, "--camera", str(big), "--output", str(tmp_path / "scaled"))
    assert proc.returncode == 0, proc.stderr
    warnings = [ln for ln in proc.stderr.splitlines() if ln.startswith("warning:")]
    assert len(warnings) == 1, proc.stderr
    for needle in ("1920x1080", "960x540", "scaled", "full_hd.yaml"):
        assert needle in warnings[0], warnings[0]
    calibration = json.loads((tmp_path / "scaled" / "summary.json").read_text())["calibration"]
    assert calibration["camera_file_size_wh"] == [1920, 1080] and calibration["image_size_wh"] == [960, 540]
    assert calibration["intrinsics_scaled"] is True and "scaled" in calibration["note"]
    got, want = _distances(tmp_path / "scaled"), _distances(tmp_path / "native")
    assert any(d is not None for d in want)
    assert [d is None for d in got] == [d is None for d in want]
    assert [d for d in got if d is not None] == pytest.approx([d for d in want if d is not None], rel=1e-3)


def test_camera_file_of_another_aspect_ratio_is_refused(tmp_path):
    cam = _camera_file(tmp_path / "four_three.yaml", 1280, 960)
    out = tmp_path / "out"
    proc = run_cli("perception.run", "--source", str(need(CLIP)), "--camera", str(cam), "--output", str(out),
                   "--max-frames", "1", *FAST)
    assert_one_line_error(proc, "four_three.yaml", "1280x960", "960x540", "aspect ratio")
    assert not out.exists()


# ---------------------------------------------------------------------------------------------------------------
# 5. Image folders of mixed sizes: the frames the lane stage skips are announced.

def test_mixed_image_sizes_warn_that_lanes_were_skipped(tmp_path):
    """Was: lanes were silently left out on every image of another size than the first (ego null, no warning)."""
    import cv2

    images = need(KITTI_IMAGES)
    sizes = {cv2.imread(str(p)).shape[1::-1] for p in sorted(images.iterdir())}
    assert len(sizes) > 1, "the KITTI sample mixes 1242x375 and 1224x370"
    out = tmp_path / "out"
    proc = run_cli("perception.run", "--source", str(images), "--output", str(out), "--planner", "off", *FAST)
    assert proc.returncode == 0, proc.stderr
    lanes = json.loads((out / "summary.json").read_text())["lanes"]
    skipped = lanes["frames_skipped_other_size"]
    assert skipped > 0
    warnings = [ln for ln in proc.stderr.splitlines() if ln.startswith("warning:") and "lanes" in ln]
    assert len(warnings) == 1, proc.stderr
    assert f"{skipped} of 6" in warnings[0] and "size" in warnings[0], warnings[0]


# ---------------------------------------------------------------------------------------------------------------
# 6. --resume: lane track ids continue after the earlier parts', like object track ids.

def _lane_ids(out, frames: range) -> set[int]:
    recs = [json.loads(line) for line in (out / "frames.jsonl").read_text().splitlines()]
    return {lane["id"] for r in recs if r["frame"] in frames for lane in r["lanes"]}


def test_resume_continues_lane_ids(tmp_path):
    """Was: the resumed part numbered its lane lines from 0 again, so lane 0 named two different lines."""
    clip = need(CLIP)
    out = tmp_path / "out"
    common = ("perception.run", "--source", str(clip), "--output", str(out), "--planner", "off", *FAST)
    first = run_cli(*common, "--max-frames", "5")
    assert first.returncode == 0, first.stderr
    first_ids = _lane_ids(out, range(0, 5))
    next_id = json.loads((out / "summary.json").read_text())["lanes"]["next_track_id"]
    assert first_ids and next_id > max(first_ids)
    second = run_cli(*common, "--max-frames", "10", "--resume")
    assert second.returncode == 0, second.stderr
    second_ids = _lane_ids(out, range(5, 10))
    assert second_ids, "the resumed part tracks lanes too"
    assert min(second_ids) >= next_id, (first_ids, second_ids)
    assert json.loads((out / "summary.json").read_text())["lanes"]["next_track_id"] > max(second_ids)


def test_read_resume_state_next_lane_id(tmp_path):
    from perception.sinks.resume import read_resume_state

    recs = [{"frame": 0, "lanes": []}, {"frame": 1, "lanes": [{"id": 0}, {"id": 4}]},
            {"frame": 2, "lanes": [{"id": 2}]}]
    (tmp_path / "frames.jsonl").write_text("".join(json.dumps(r) + "\n" for r in recs))
    assert read_resume_state(tmp_path).next_lane_id == 5  # above every lane id written
    (tmp_path / "summary.json").write_text(json.dumps({"lanes": {"next_track_id": 9}}))
    assert read_resume_state(tmp_path).next_lane_id == 9  # tentative lines used ids up to 8
    (tmp_path / "summary.json").write_text(json.dumps({"lanes": {"tracks_started": 7}}))  # before next_track_id
    assert read_resume_state(tmp_path).next_lane_id == 7
    assert read_resume_state(tmp_path).next_track_id == 1  # object ids are counted apart


# ---------------------------------------------------------------------------------------------------------------
# Issue 26, item 5: a write that fails mid-run (a full disk) stops cleanly and says so in summary.json.

def test_full_disk_for_the_mcap_output_is_recorded_in_the_summary(tmp_path, capsys, monkeypatch):
    """Was (found by benchmarks/faults.py): exit 2 with one line, but summary.json stayed without "error"."""
    import errno

    from perception.sinks.mcap_results import McapResultSink

    real_write = McapResultSink.write
    calls = {"n": 0}

    def write_until_full(self, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] > 5:
            raise OSError(errno.ENOSPC, "No space left on device", str(self.path))
        return real_write(self, *args, **kwargs)

    monkeypatch.setattr(McapResultSink, "write", write_until_full)
    out = tmp_path / "out"
    code = run_in_process("--source", str(need(CLIP)), "--output", str(out), "--mcap-out", str(tmp_path / "r.mcap"),
                          "--max-frames", "20", "--lanes", "off", "--planner", "off", *FAST)
    assert code == 2
    one_line_error(capsys.readouterr().err, "No space left on device")
    summary = json.loads((out / "summary.json").read_text())
    assert "No space left on device" in summary["error"] and summary["state"] == "failed"
    lines = (out / "frames.jsonl").read_text().splitlines()
    assert len(lines) >= 5 and all(json.loads(line) for line in lines)
    assert summary["frames_read"] == len(lines)  # the frame whose MCAP write failed is in frames.jsonl: counted
