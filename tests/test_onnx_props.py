"""ONNX metadata read without the onnx package: the same props as onnx's reader, a clear error on a damaged
file, and a run whose graph comes from the cache does not import onnx (about a second of every start)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from conftest import CLIP, REPO, need, run_cli
from perception.backends.metadata import read_onnx_metadata
from perception.backends.onnx_export import export_onnx
from perception.backends.onnx_props import OnnxFormatError, read_metadata_props
from perception.errors import UserInputError
from perception.model import build_multitask_lite


def test_props_match_onnx_and_damage_is_an_error(tmp_path):
    onnx = pytest.importorskip("onnx")
    path = export_onnx(build_multitask_lite(), tmp_path / "m.onnx", weights_sha256="ab" * 32, weights_name="w.pt")
    expected = {p.key: p.value for p in onnx.load(str(path)).metadata_props}
    assert read_metadata_props(path) == expected and expected["weights_sha256"] == "ab" * 32
    cut = tmp_path / "cut.onnx"
    cut.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(OnnxFormatError):
        read_metadata_props(cut)
    with pytest.raises(UserInputError, match="cannot read ONNX file"):
        read_onnx_metadata(cut)


def test_a_run_from_the_graph_cache_does_not_import_onnx(tmp_path):
    clip = need(CLIP)
    flags = ["--source", str(clip), "--max-frames", "2", "--no-progress", "--no-report", "--backend", "onnxruntime"]
    assert run_cli("perception.run", *flags, "--output", str(tmp_path / "a")).returncode == 0  # fills the cache
    code = ("import sys; from perception import run; "
            f"c = run.main(run.get_args_parser().parse_args({flags + ['--output', str(tmp_path / 'b')]!r})); "
            "print('exit', c, 'onnx imported:', 'onnx' in sys.modules)")
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert "exit 0 onnx imported: False" in proc.stdout, proc.stdout + proc.stderr
