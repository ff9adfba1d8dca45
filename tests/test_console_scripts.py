"""The console scripts registered in pyproject.toml are installed and point at real entry points."""

from __future__ import annotations

import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest

from conftest import REPO

tomllib = pytest.importorskip("tomllib", reason="tomllib needs Python 3.11+")

SCRIPTS = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]


def test_every_script_is_installed_and_its_function_exists():
    installed = {ep.name: ep for ep in metadata.entry_points(group="console_scripts") if ep.name in SCRIPTS}
    if not installed:
        pytest.skip("the project is not installed in this environment (pip install -e .)")
    assert set(installed) == set(SCRIPTS)
    for name, ep in installed.items():
        assert ep.value == SCRIPTS[name]
        assert callable(ep.load()), name   # imports the module and finds the function
        assert (Path(sys.executable).parent / name).exists(), name


@pytest.mark.parametrize("name", ["perception-run", "perception-evaluate"])
def test_console_script_answers_help(name):
    exe = Path(sys.executable).parent / name
    if not exe.exists():
        pytest.skip(f"{name} is not installed in this environment (pip install -e .)")
    proc = subprocess.run([str(exe), "--help"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "usage" in proc.stdout.lower() and "--" in proc.stdout
