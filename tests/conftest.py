"""Shared fixtures: where the real driving data lives, and a helper to run the CLI."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("PERCEPTION_SHARED_DATA", REPO.parent / "shared" / "data"))
CLIP = SHARED_DATA / "udacity_lanelines_p1" / "solidWhiteRight.mp4"
KITTI_IMAGES = SHARED_DATA / "kitti_object_6frames" / "training" / "image_2"
# Runs export their ONNX graph into a cache (perception/backends/onnx_cache.py): the tests get their own, never the
# user's. Each test process (each pytest-xdist worker) has one, shared by its tests' CLI subprocesses.
os.environ["PERCEPTION_CACHE_DIR"] = tempfile.mkdtemp(
    prefix=f"perception-test-cache-{os.environ.get('PYTEST_XDIST_WORKER', 'main')}-")


def need(path: Path) -> Path:
    """Return ``path`` or skip the test with the reason when the shared data is absent."""
    if not path.exists():
        pytest.skip(f"real data not available: {path} (the ../shared/data folder is absent on this machine)")
    return path


def run_cli(*args: str, timeout: float = 300, cwd: Path = REPO, **kwargs) -> subprocess.CompletedProcess:
    """Run ``python -m <args>`` (from the repo root unless ``cwd``) and capture text output."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    return subprocess.run([sys.executable, "-m", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, env=env, **kwargs)
