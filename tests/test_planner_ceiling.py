"""benchmarks/planner_ceiling.py: the look-ahead planner's episodes, alone and behind the safety veto."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from conftest import REPO

SCRIPT = REPO / "benchmarks" / "planner_ceiling.py"


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=600)


def test_behind_the_veto_the_planner_is_overridden_and_slower(tmp_path):
    pytest.importorskip("highway_env", reason="highway-env not installed (pip install -e '.[rl]')")
    reports = {}
    for name, extra in (("alone", []), ("veto", ["--veto"])):
        out = tmp_path / f"{name}.json"
        done = _run("--episodes", "1", "--seed", "20004", "--horizon", "2", "--workers", "1", "--output", str(out),
                    *extra)
        assert done.returncode == 0, done.stderr
        reports[name] = json.loads(out.read_text())
    alone, veto = reports["alone"], reports["veto"]
    assert alone["veto"] is False and veto["veto"] is True
    assert alone["per_episode"][0]["veto_rate"] == 0.0
    assert veto["per_episode"][0]["veto_rate"] > 0.0  # the greedy planner proposes what the veto refuses
    assert veto["summary"]["mean_speed_mps"] < alone["summary"]["mean_speed_mps"]


@pytest.mark.parametrize("args", [["--depth", "3", "--horizon", "2"], ["--crash-cost", "0"], ["--episodes", "0"]])
def test_bad_input_is_one_line_and_exit_2(tmp_path, args):
    done = _run(*args, "--output", str(tmp_path / "x.json"))
    assert done.returncode == 2
    assert done.stderr.startswith("error:") and len(done.stderr.strip().splitlines()) == 1
