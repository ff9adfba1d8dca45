"""Start-up: a run of the published weights from a warm cache, or from the entries shipped with the package, starts
without torch (about 1.7 s of imports here)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from conftest import CLIP, REPO, need

pytest.importorskip("onnxruntime")

# Runs perception.run in this process, then reports whether torch was ever imported. With NO_SHIPPED set, the
# entries shipped with the package are hidden, as in an install without them.
LAUNCH = """
import os, pathlib, runpy, sys
import perception.cache
if os.environ.get("NO_SHIPPED"):
    perception.cache.SHIPPED_CACHE_DIR = pathlib.Path(os.environ["NO_SHIPPED"])
sys.argv = ["perception.run"] + sys.argv[1:]
try:
    runpy.run_module("perception.run", run_name="__main__", alter_sys=True)
except SystemExit as e:
    print(json.dumps({"code": e.code, "torch": "torch" in sys.modules}))
"""


def _run(tmp_path, out: str, shipped: bool = True) -> dict:
    env = dict(os.environ, PYTHONPATH=str(REPO), PERCEPTION_CACHE_DIR=str(tmp_path / "cache"))
    if not shipped:
        env["NO_SHIPPED"] = str(tmp_path / "nothing shipped")
    proc = subprocess.run([sys.executable, "-c", "import json\n" + LAUNCH, "--source", str(need(CLIP)),
                           "--output", str(tmp_path / out), "--max-frames", "8", "--no-progress", "--no-report"],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_a_warm_start_loads_neither_torch_nor_the_checkpoint(tmp_path):
    """Without the shipped entries: the first run reads the checkpoint and exports, the next starts from the cache.
    With them (the installed package): even the first run, on an empty cache, imports no torch and decides the
    same."""
    cold = _run(tmp_path, "cold", shipped=False)
    assert cold == {"code": 0, "torch": True}  # first run: checkpoint read, graph exported, policy copied
    warm = _run(tmp_path, "warm", shipped=False)
    assert warm == {"code": 0, "torch": False}
    (tmp_path / "cache").rename(tmp_path / "used cache")  # an empty user cache again
    first = _run(tmp_path, "first")
    assert first == {"code": 0, "torch": False}
    assert not (tmp_path / "cache" / "onnx").exists()  # nothing exported
    runs = ("cold", "warm", "first")
    summaries = [json.loads((tmp_path / d / "summary.json").read_text()) for d in runs]
    assert [s["backend"]["onnx_graph"]["how"] for s in summaries] == ["exported", "cache hit", "shipped"]
    assert summaries[1]["weights"] == summaries[0]["weights"] == summaries[2]["weights"]  # record, hash, metadata
    frames = [[json.loads(line) for line in (tmp_path / d / "frames.jsonl").read_text().splitlines()] for d in runs]
    for other in frames[1:]:
        assert [f["plan"] for f in other] == [f["plan"] for f in frames[0]]  # the numpy policy decides the same
        assert [len(f["detections"]) for f in other] == [len(f["detections"]) for f in frames[0]]
