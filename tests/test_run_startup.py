"""Start-up: a run of the published weights from a warm cache starts without torch (about 1.7 s of imports here)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from conftest import CLIP, REPO, need

pytest.importorskip("onnxruntime")

# Runs perception.run in this process, then reports whether torch was ever imported.
LAUNCH = """
import runpy, sys
sys.argv = ["perception.run"] + sys.argv[1:]
try:
    runpy.run_module("perception.run", run_name="__main__", alter_sys=True)
except SystemExit as e:
    print(json.dumps({"code": e.code, "torch": "torch" in sys.modules}))
"""


def _run(tmp_path, out: str) -> dict:
    env = dict(os.environ, PYTHONPATH=str(REPO), PERCEPTION_CACHE_DIR=str(tmp_path / "cache"))
    proc = subprocess.run([sys.executable, "-c", "import json\n" + LAUNCH, "--source", str(need(CLIP)),
                           "--output", str(tmp_path / out), "--max-frames", "8", "--no-progress", "--no-report"],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_a_warm_start_loads_neither_torch_nor_the_checkpoint(tmp_path):
    cold = _run(tmp_path, "cold")
    assert cold == {"code": 0, "torch": True}  # first run: checkpoint read, graph exported, policy copied
    warm = _run(tmp_path, "warm")
    assert warm == {"code": 0, "torch": False}
    summaries = [json.loads((tmp_path / d / "summary.json").read_text()) for d in ("cold", "warm")]
    assert summaries[1]["backend"]["onnx_graph"]["how"] == "cache hit"
    assert summaries[0]["backend"]["onnx_graph"]["how"] == "exported"
    assert summaries[1]["weights"] == summaries[0]["weights"]  # the same record, hash and checkpoint metadata
    frames = [[json.loads(line) for line in (tmp_path / d / "frames.jsonl").read_text().splitlines()]
              for d in ("cold", "warm")]
    assert [f["plan"] for f in frames[1]] == [f["plan"] for f in frames[0]]  # the numpy policy decides the same
    assert [len(f["detections"]) for f in frames[1]] == [len(f["detections"]) for f in frames[0]]
