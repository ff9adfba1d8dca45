"""Reliability of ``python -m perception.run``: bad numbers, two runs into one folder, --resume of a changed input.

The contract: a user mistake gives one line on stderr starting with ``error:``, exit code 2, and creates nothing.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import CLIP, KITTI_IMAGES, need, run_cli

import perception.run
from perception.run import get_args_parser
from perception.run import main as run_main
from perception.sinks.lock import LOCK_NAME, OutputLock, OutputLocked
from perception.sinks.resume import identity_mismatch, input_identity, read_resume_state


def assert_one_line_error(proc, *needles: str) -> str:
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), proc.stderr
    for n in needles:
        assert n in lines[0], lines[0]
    return lines[0]


# ---------------------------------------------------------------------------------------------------------------
# 1. Numeric flags: finite and in range, checked while parsing, before any output exists.

BAD_NUMBERS = [("--fps", v) for v in ("inf", "nan", "-inf", "0", "-5", "1e9", "ten")] + \
              [("--conf", v) for v in ("nan", "inf", "-0.1", "1.5")] + \
              [("--ego-speed-mps", v) for v in ("nan", "inf", "-1", "61")] + \
              [("--max-frames", v) for v in ("0", "-3", "1.5", "nan", "inf")]


@pytest.mark.parametrize("flag,value", BAD_NUMBERS)
def test_bad_numeric_flag_is_a_parse_error(flag, value, capsys):
    with pytest.raises(SystemExit) as exit_info:
        get_args_parser().parse_args(["--source", "drive.mp4", flag, value])
    assert exit_info.value.code == 2
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:") and flag in lines[0], lines


def test_good_numeric_flags_parse():
    args = get_args_parser().parse_args(["--source", "d.mp4", "--fps", "12.5", "--conf", "0", "--ego-speed-mps", "0",
                                         "--max-frames", "7"])
    assert (args.fps, args.conf, args.ego_speed_mps, args.max_frames) == (12.5, 0.0, 0.0, 7)
    args = get_args_parser().parse_args(["--source", "d.mp4", "--conf", "1", "--ego-speed-mps", "60", "--fps", "1000"])
    assert (args.conf, args.ego_speed_mps, args.fps) == (1.0, 60.0, 1000.0)


@pytest.mark.parametrize("flag,value", [("--fps", "inf"), ("--fps", "nan"), ("--ego-speed-mps", "nan")])
def test_non_finite_flag_creates_nothing(tmp_path, flag, value):
    """Was: --fps inf hung in cv2.VideoWriter, --fps nan left an empty frames.jsonl, --ego-speed-mps nan
    crashed writing summary.json and left .summary.json.tmp."""
    out = tmp_path / "out"
    proc = run_cli("perception.run", "--source", str(need(KITTI_IMAGES)), "--output", str(out), "--max-frames", "1",
                   "--no-progress", flag, value, timeout=120)
    assert_one_line_error(proc, flag)
    assert not out.exists()
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------------------------------------------------------
# 2. One run per output folder: DIR/.lock (pid@host), created atomically, removed at the end; stale locks taken over.

def _hostname() -> str:
    return socket.gethostname()


def _write_lock(folder, pid: int, host: str | None = None) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / LOCK_NAME).write_text(json.dumps({"pid": pid, "host": host or _hostname()}))


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def run_in_process(*argv: str) -> int:
    return run_main(get_args_parser().parse_args(list(argv)))


def test_output_lock_unit(tmp_path):
    with OutputLock(tmp_path) as lock:
        held = json.loads((tmp_path / LOCK_NAME).read_text())
        assert held == {"pid": os.getpid(), "host": _hostname()}
        with pytest.raises(OutputLocked, match=f"{os.getpid()}@{_hostname()}"):
            OutputLock(tmp_path).acquire()
        assert lock.took_over is None
    assert not (tmp_path / LOCK_NAME).exists()
    _write_lock(tmp_path, os.getpid(), host="some-other-machine")  # liveness unknown: never taken over
    with pytest.raises(OutputLocked, match="some-other-machine"):
        OutputLock(tmp_path).acquire()
    dead = _dead_pid()
    _write_lock(tmp_path, dead)
    lock = OutputLock(tmp_path).acquire()
    assert lock.took_over == f"{dead}@{_hostname()}"
    assert json.loads((tmp_path / LOCK_NAME).read_text())["pid"] == os.getpid()
    lock.release()
    assert not (tmp_path / LOCK_NAME).exists()


def test_second_run_into_a_locked_folder_is_refused(tmp_path):
    """Was: both runs exited 0 and wrote into the same frames.jsonl and summary.json."""
    out = tmp_path / "out"
    _write_lock(out, os.getpid())  # a live process (this test) holds the folder
    (out / "frames.jsonl").write_text('{"frame": 0}\n')
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    proc = run_cli("perception.run", "--source", str(need(CLIP)), "--output", str(out), "--max-frames", "2",
                   "--no-video", "--no-progress")
    assert_one_line_error(proc, str(out), f"{os.getpid()}@{_hostname()}")
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before, "the holder's files are untouched"


def test_stale_lock_is_taken_over_and_released(tmp_path, capsys):
    out = tmp_path / "out"
    dead = _dead_pid()
    _write_lock(out, dead)
    code = run_in_process("--source", str(need(CLIP)), "--output", str(out), "--max-frames", "1", "--no-video",
                          "--no-progress")
    assert code == 0, capsys.readouterr().err
    assert f"{dead}@{_hostname()}" in capsys.readouterr().err
    assert (out / "frames.jsonl").exists() and not (out / LOCK_NAME).exists()


def test_failed_start_releases_the_lock_and_creates_nothing(tmp_path, capsys):
    bad = tmp_path / "weights.pt"
    bad.write_bytes(b"not a checkpoint")
    out = tmp_path / "new" / "out"
    code = run_in_process("--source", str(need(CLIP)), "--output", str(out), "--weights", str(bad), "--no-progress")
    assert code == 2 and "weights.pt" in capsys.readouterr().err
    assert not (tmp_path / "new").exists()
    existing = tmp_path / "existing"
    existing.mkdir()
    code = run_in_process("--source", str(need(CLIP)), "--output", str(existing), "--resume", "--no-progress")
    assert code == 2 and "--resume" in capsys.readouterr().err
    assert list(existing.iterdir()) == [], "no lock left behind"


def test_resume_into_a_locked_default_folder_is_refused(tmp_path, monkeypatch, capsys):
    """--resume without --output continues runs/<stem>: refused while another run holds it."""
    shutil.copy(need(CLIP), tmp_path / "drive.mp4")
    folder = tmp_path / "runs" / "drive"
    _write_lock(folder, os.getpid())
    (folder / "frames.jsonl").write_text('{"frame": 0, "status": "ok"}\n')
    monkeypatch.chdir(tmp_path)
    code = run_in_process("--source", "drive.mp4", "--resume", "--max-frames", "2", "--no-video", "--no-progress")
    err = capsys.readouterr().err
    assert code == 2 and "runs/drive" in err and f"{os.getpid()}@" in err, err
    assert (folder / "frames.jsonl").read_text() == '{"frame": 0, "status": "ok"}\n'


def test_default_folder_taken_meanwhile_moves_to_the_next_number(tmp_path, monkeypatch):
    """Two runs without --output may both pick runs/<stem>: the one that loses the lock takes runs/<stem>-2."""
    monkeypatch.chdir(tmp_path)
    taken = tmp_path / "runs" / "drive"
    _write_lock(taken, os.getpid())
    picks = iter([Path("runs/drive")])  # what the loser computed before the winner created the folder
    real = perception.run._default_output_dir
    monkeypatch.setattr(perception.run, "_default_output_dir", lambda video: next(picks, None) or real(video))
    args = get_args_parser().parse_args(["--source", "drive.mp4"])
    out_dir, lock, created = perception.run._lock_output_dir(args)
    try:
        assert out_dir == Path("runs/drive-2") and created == [Path("runs/drive-2")]
        assert (out_dir / LOCK_NAME).exists()
    finally:
        lock.release()
    assert json.loads((taken / LOCK_NAME).read_text())["pid"] == os.getpid(), "the winner's lock is untouched"


# ---------------------------------------------------------------------------------------------------------------
# 3. --resume: track ids continue; the input must be the same file (path, size, mtime, SHA-256 of both ends).

def _track_ids(out, frames: range) -> set[int]:
    recs = [json.loads(line) for line in (out / "frames.jsonl").read_text().splitlines()]
    return {d["track_id"] for r in recs if r["frame"] in frames for d in r["detections"] if d["track_id"] is not None}


def test_resume_keeps_track_ids_unique_and_works_from_another_folder(tmp_path, monkeypatch, capsys):
    """Was: the resumed part numbered its tracks from 1 again (one id, two cars), and a relative --source from
    another working directory was refused."""
    shutil.copy(need(CLIP), tmp_path / "drive.mp4")
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path)
    first_summary = []
    real_make_runner = perception.run._make_runner

    def probing_runner(args, model, weights_info):  # looks at summary.json when the first frame reaches the network
        runner = real_make_runner(args, model, weights_info)
        out_dir = tmp_path / "out"

        class Probe:
            name, device, precision = runner.name, runner.device, runner.precision

            def __call__(self, batch):
                if not first_summary:
                    first_summary.append(json.loads((out_dir / "summary.json").read_text()))
                return runner(batch)
        return Probe()

    monkeypatch.setattr(perception.run, "_make_runner", probing_runner)
    common = ("--output", str(tmp_path / "out"), "--no-video", "--no-progress")
    assert run_in_process("--source", "drive.mp4", "--max-frames", "6", *common) == 0, capsys.readouterr().err
    identity = first_summary[0]["input"]["identity"]
    assert first_summary[0]["state"] == "running", "recorded before the first frame"
    assert identity["path"] == str(tmp_path / "drive.mp4") and identity["size_bytes"] == CLIP.stat().st_size
    out = tmp_path / "out"
    first_ids = _track_ids(out, range(0, 6))
    next_id = json.loads((out / "summary.json").read_text())["tracking"]["next_track_id"]
    assert first_ids and next_id > max(first_ids)

    monkeypatch.chdir(tmp_path / "elsewhere")
    code = run_in_process("--source", "../drive.mp4", "--max-frames", "12", "--resume", *common)
    assert code == 0, capsys.readouterr().err
    second_ids = _track_ids(out, range(6, 12))
    assert second_ids, "the resumed part tracks objects too"
    assert min(second_ids) >= next_id, (first_ids, second_ids)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["frames_read"] == 12 and summary["input"]["identity"] == identity


def test_resume_refuses_a_changed_input(tmp_path, capsys):
    """Was: --resume checked only the path, so a different recording at the same path was appended to the run."""
    drive = tmp_path / "drive.mp4"
    shutil.copy(need(CLIP), drive)
    out = tmp_path / "out"
    common = ("--source", str(drive), "--output", str(out), "--no-video", "--no-progress")
    assert run_in_process(*common, "--max-frames", "2") == 0, capsys.readouterr().err
    capsys.readouterr()
    kept = {p.name: p.read_bytes() for p in out.iterdir()}
    original = drive.read_bytes()
    stat = drive.stat()

    def refused(*needles: str) -> None:
        assert run_in_process(*common, "--max-frames", "4", "--resume") == 2
        lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
        assert len(lines) == 1 and lines[0].startswith("error: --resume:"), lines
        for n in needles:
            assert n in lines[0], lines[0]
        assert {p.name: p.read_bytes() for p in out.iterdir()} == kept, "nothing written"

    changed = bytearray(original)
    changed[-100] ^= 0xFF  # same size, same mtime: only the hash of the last MiB tells
    drive.write_bytes(bytes(changed))
    os.utime(drive, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    refused("sha256_first_last_mib", str(drive))
    drive.write_bytes(original)  # same bytes, newer mtime: rewritten since, refused too
    refused("mtime_ns")
    os.utime(drive, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    other = tmp_path / "other.mp4"
    shutil.copy(drive, other)
    assert run_in_process("--source", str(other), "--output", str(out), "--no-video", "--no-progress",
                          "--resume") == 2
    assert "another input" in capsys.readouterr().err
    assert run_in_process(*common, "--max-frames", "4", "--resume") == 0, capsys.readouterr().err
    assert len((out / "frames.jsonl").read_text().splitlines()) == 4


def test_input_identity_of_files_folders_and_globs(tmp_path):
    small = tmp_path / "small.bin"
    small.write_bytes(b"x" * 1000)
    ident = input_identity(small)
    assert ident["path"] == str(small.resolve()) and ident["size_bytes"] == 1000
    assert ident["sha256_first_last_mib"] == hashlib.sha256(b"x" * 1000).hexdigest()
    big = tmp_path / "big.bin"
    data = bytes(range(256)) * (3 * 4096)  # 3 MiB: the middle MiB is not hashed
    big.write_bytes(data)
    mib = 1 << 20
    assert input_identity(big)["sha256_first_last_mib"] == hashlib.sha256(data[:mib] + data[-mib:]).hexdigest()
    assert identity_mismatch(input_identity(big), input_identity(big)) is None
    assert "another input" in identity_mismatch(input_identity(big), input_identity(small))

    folder = tmp_path / "images"
    folder.mkdir()
    for name in ("a.png", "b.png"):
        (folder / name).write_bytes(b"png")
    before = input_identity(folder)
    assert before["files"] == 2 and before["size_bytes"] == 6
    (folder / "out").mkdir()
    (folder / "out" / "frames.jsonl").write_text("{}\n")  # the run's own outputs inside the folder do not count
    assert identity_mismatch(before, input_identity(folder, exclude=folder / "out")) is None
    (folder / "c.png").write_bytes(b"png")
    assert "files" in identity_mismatch(before, input_identity(folder, exclude=folder / "out"))
    pattern = str(folder / "*.png")
    assert input_identity(pattern)["files"] == 3 and input_identity(pattern)["path"] == pattern


def test_read_resume_state_next_track_id(tmp_path):
    recs = [{"frame": 0, "detections": [{"track_id": None}]},
            {"frame": 1, "detections": [{"track_id": 3}, {"track_id": 7}]},
            {"frame": 2, "detections": [{"track_id": 4}]}]
    (tmp_path / "frames.jsonl").write_text("".join(json.dumps(r) + "\n" for r in recs) + '{"frame": 3, "detec')
    assert read_resume_state(tmp_path).next_track_id == 8  # above every id written
    (tmp_path / "summary.json").write_text(json.dumps({"tracking": {"next_track_id": 11}}))
    assert read_resume_state(tmp_path).next_track_id == 11  # tentative tracks used ids up to 10
    (tmp_path / "summary.json").write_text(json.dumps({"tracking": {"next_track_id": 2}}))  # stale summary
    assert read_resume_state(tmp_path).next_track_id == 8


def test_tracker_starts_at_first_id():
    from perception.tracking import ByteTracker, TrackerConfig

    tracker = ByteTracker(TrackerConfig(confirm_frames=1), first_id=42)
    tracks = tracker.update(np.array([[10.0, 10, 50, 50]]), np.array([0.9]), np.array([0]))
    assert [t.track_id for t in tracks] == [42] and tracker.next_id == 43


def test_a_fresh_run_removes_video_parts_an_earlier_resumed_run_left(tmp_path):
    """A rerun without --resume into an old folder must not leave annotated.part2.mp4 beside its new results."""
    out = tmp_path / "old_run"
    out.mkdir()
    (out / "annotated.part2.mp4").write_bytes(b"from an earlier, resumed run")
    (out / "results.part2.mcap").write_bytes(b"from an earlier, resumed run")
    (out / "notes.txt").write_text("the user's own file")
    proc = run_cli("perception.run", "--source", str(need(KITTI_IMAGES)), "--output", str(out), "--sequence",
                   "--max-frames", "1", "--no-progress", "--planner", "off", "--lanes", "off")
    assert proc.returncode == 0, proc.stderr
    names = sorted(p.name for p in out.iterdir())
    assert "annotated.part2.mp4" not in names and "annotated.mp4" in names
    assert "notes.txt" in names and "results.part2.mcap" in names  # not ours to remove without --mcap-out


def test_mcap_out_inside_a_new_output_folder(tmp_path):
    """Was: --mcap-out NEWDIR/r.mcap failed when NEWDIR was also the new --output (it did not exist yet)."""
    pytest.importorskip("mcap.writer", reason="the mcap package (extra 'logs') is not installed")
    out = tmp_path / "new"
    proc = run_cli("perception.run", "--source", str(need(KITTI_IMAGES)), "--output", str(out), "--mcap-out",
                   str(out / "r.mcap"), "--max-frames", "1", "--no-progress", "--planner", "off", "--lanes", "off")
    assert proc.returncode == 0, proc.stderr
    assert (out / "r.mcap").stat().st_size > 0 and (out / "frames.jsonl").is_file()
