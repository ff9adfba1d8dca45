"""--resume: a run continues after the last frame in frames.jsonl; nothing written before is lost."""

from __future__ import annotations

import json

import cv2
import pytest

from conftest import CLIP, need, run_cli

from perception.sinks.resume import drop_cut_tail, next_part_path, read_resume_state




def _have_mcap() -> bool:
    try:
        import mcap  # noqa: F401
    except ImportError:
        return False
    return True


HAVE_MCAP = _have_mcap()  # --mcap-out needs the optional 'logs' extra


def video_frames(path) -> int:
    cap = cv2.VideoCapture(str(path))
    n = 0
    while cap.read()[0]:
        n += 1
    return n


def records(out):
    return [json.loads(line) for line in (out / "frames.jsonl").read_text().splitlines()]


def test_resume_continues_in_new_parts(tmp_path):
    """Runs with --mcap-out too when the optional mcap package is installed."""
    clip = need(CLIP)
    out, res = tmp_path / "out", tmp_path / "res.mcap"
    mcap_args = ["--mcap-out", str(res)] if HAVE_MCAP else []
    first = run_cli("perception.run", "--video", str(clip), "--output", str(out), "--max-frames", "3",
                    *mcap_args, "--no-progress")
    assert first.returncode == 0, first.stderr
    second = run_cli("perception.run", "--video", str(clip), "--output", str(out), "--max-frames", "6",
                     *mcap_args, "--no-progress", "--resume")
    assert second.returncode == 0, second.stderr
    assert "resumed at frame 3" in second.stderr
    recs = records(out)
    assert [r["frame"] for r in recs] == list(range(6))
    assert [r["timestamp_s"] for r in recs] == pytest.approx([i / 25 for i in range(6)])
    assert video_frames(out / "annotated.mp4") == 3, "the first part is never rewritten"
    assert video_frames(out / "annotated.part2.mp4") == 3
    summary = json.loads((out / "summary.json").read_text())
    assert summary["frames_read"] == summary["frames_processed"] == 6 and summary["frames_failed"] == 0
    assert summary["resumed_from_frame"] == 3 and summary["state"] == "finished"
    assert [(p["first_frame"], p["frames_read"]) for p in summary["parts"]] == [(0, 3), (3, 3)]
    assert summary["outputs"]["annotated_video_parts"] == [str(out / "annotated.mp4"), str(out / "annotated.part2.mp4")]
    if HAVE_MCAP:
        from mcap.reader import make_reader

        assert summary["outputs"]["mcap_parts"] == [str(res), str(tmp_path / "res.part2.mcap")]
        for path, first_frame in ((res, 0), (tmp_path / "res.part2.mcap", 3)):
            with open(path, "rb") as f:
                frames = [json.loads(m.data)["frame"]
                          for _, _, m in make_reader(f).iter_messages(topics=["/perception/frame"])]
            assert frames == [first_frame, first_frame + 1, first_frame + 2]

    # Resuming a finished run does nothing and adds no empty part.
    third = run_cli("perception.run", "--video", str(clip), "--output", str(out), "--max-frames", "6",
                    *mcap_args, "--no-progress", "--resume")
    assert third.returncode == 0, third.stderr
    assert not (out / "annotated.part3.mp4").exists() and not (tmp_path / "res.part3.mcap").exists()
    assert len(records(out)) == 6
    summary = json.loads((out / "summary.json").read_text())
    assert summary["frames_read"] == 6 and len(summary["parts"]) == 2


def test_resume_after_a_hard_kill(tmp_path):
    """SIGKILL can leave half a line in frames.jsonl and no summary.json: the cut line is dropped, the run goes on."""
    clip = need(CLIP)
    out = tmp_path / "out"
    first = run_cli("perception.run", "--video", str(clip), "--output", str(out), "--max-frames", "2",
                    "--no-video", "--no-progress")
    assert first.returncode == 0, first.stderr
    with open(out / "frames.jsonl", "a") as f:
        f.write('{"frame":2,"timestamp_s":0.08,"status":"o')
    (out / "summary.json").unlink()
    second = run_cli("perception.run", "--video", str(clip), "--output", str(out), "--max-frames", "4",
                     "--no-video", "--no-progress", "--resume")
    assert second.returncode == 0, second.stderr
    assert [r["frame"] for r in records(out)] == [0, 1, 2, 3]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["frames_read"] == 4 and summary["resumed_from_frame"] == 2
    assert summary["frames_jsonl_bytes_dropped"] > 0


def test_resume_user_errors(tmp_path):
    clip = need(CLIP)
    proc = run_cli("perception.run", "--video", str(clip), "--output", str(tmp_path / "empty"), "--resume")
    assert proc.returncode == 2 and "--resume" in proc.stderr and "Traceback" not in proc.stderr
    out = tmp_path / "other"
    out.mkdir()
    (out / "frames.jsonl").write_text('{"frame":0}\n')
    (out / "summary.json").write_text(json.dumps({"input": {"path": str(tmp_path / "another.mp4")}}))
    proc = run_cli("perception.run", "--video", str(clip), "--output", str(out), "--resume")
    assert proc.returncode == 2 and "holds results for" in proc.stderr
    assert len([line for line in proc.stderr.splitlines() if line.strip()]) == 1


def test_read_resume_state_stops_at_the_first_bad_line(tmp_path):
    good = [json.dumps({"frame": i, "status": "failed" if i == 1 else "ok"}) for i in range(3)]
    (tmp_path / "frames.jsonl").write_text("\n".join(good + ["{broken", json.dumps({"frame": 9})]) + "\n")
    state = read_resume_state(tmp_path)
    assert (state.next_frame, state.frames_read, state.frames_processed, state.frames_failed) == (3, 3, 2, 1)
    assert state.bytes_dropped == len("{broken\n") + len(json.dumps({"frame": 9})) + 1
    assert state.parts == [] and state.previous_input is None
    drop_cut_tail(tmp_path, state)
    assert (tmp_path / "frames.jsonl").read_text() == "\n".join(good) + "\n"


def test_next_part_path(tmp_path):
    assert next_part_path(tmp_path / "a.mp4") == tmp_path / "a.mp4"
    assert next_part_path(tmp_path / "a.mp4", always_part=True) == tmp_path / "a.part2.mp4"
    (tmp_path / "a.mp4").touch()
    (tmp_path / "a.part2.mp4").touch()
    assert next_part_path(tmp_path / "a.mp4") == tmp_path / "a.part3.mp4"
