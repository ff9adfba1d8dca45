"""benchmarks/faults.py: lists its cases, runs a chosen one against the clip, prints the table and writes JSON."""

from __future__ import annotations

import json
import subprocess
import sys

from conftest import CLIP, REPO, need

SCRIPT = REPO / "benchmarks" / "faults.py"


def run_script(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *args], cwd=REPO, capture_output=True, text=True, timeout=120)


def test_list_names_the_cases():
    proc = run_script("--list")
    assert proc.returncode == 0, proc.stderr
    names = [line.split()[0] for line in proc.stdout.splitlines() if line.strip()]
    assert len(names) >= 25 and len(set(names)) == len(names)
    for name in ("damage_mid_dd", "lock_one_folder", "flag_fps_nan", "resume_killed_other_input", "device_tpu",
                 "sigkill_join_video", "sigkill_recover_mcap", "ros2_sqlite_cut", "onnx_cache_corrupted",
                 "engine_wrong_hash", "camera_other_size"):
        assert name in names


def test_one_case_prints_the_table_and_writes_json(tmp_path):
    need(CLIP)
    out = tmp_path / "faults.json"
    proc = run_script("--cases", "flag_fps_nan", "--output", str(out))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].split() == ["case", "expected", "observed", "ok"]
    row = next(line for line in lines if line.startswith("flag_fps_nan"))
    assert row.rstrip().endswith("yes"), row
    result = json.loads(out.read_text())
    assert result["all_ok"] is True and [c["case"] for c in result["cases"]] == ["flag_fps_nan"]
    case = result["cases"][0]
    assert case["ok"] == "yes" and "--fps" in case["observed"] and case["expected"]


def test_unknown_case_is_one_line():
    proc = run_script("--cases", "no_such_case")
    assert proc.returncode == 2
    assert [line for line in proc.stderr.splitlines() if line.strip()] == [
        "error: unknown case(s) no_such_case (python benchmarks/faults.py --list)"]
