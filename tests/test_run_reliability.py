"""Reliability of ``python -m perception.run``: bad numbers, two runs into one folder, --resume of a changed input.

The contract: a user mistake gives one line on stderr starting with ``error:``, exit code 2, and creates nothing.
"""

from __future__ import annotations

import pytest

from conftest import KITTI_IMAGES, need, run_cli

from perception.run import get_args_parser


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
