"""Reliability of ``python -m perception.run``: bad numbers, two runs into one folder, --resume of a changed input.

The contract: a user mistake gives one line on stderr starting with ``error:``, exit code 2, and creates nothing.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import CLIP, KITTI_IMAGES, need, run_cli

import perception.run
from perception.run import get_args_parser
from perception.run import main as run_main
from perception.sinks.lock import LOCK_NAME, OutputLock, OutputLocked


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
