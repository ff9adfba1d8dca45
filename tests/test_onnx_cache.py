"""The per-user ONNX cache: one export per weights/size/opset, damaged or foreign entries rebuilt."""

from __future__ import annotations

import pytest

pytest.importorskip("onnxruntime")

from perception.backends.onnx_cache import cache_dir, cached_onnx  # noqa: E402
from perception.model import load_checkpoint, published_weights  # noqa: E402


@pytest.fixture(scope="module")
def shipped():
    return load_checkpoint(published_weights("lite").path)


def test_export_once_then_reuse(tmp_path, shipped):
    first = cached_onnx(shipped.model, shipped.sha256, "lite", folder=tmp_path)
    assert first.how == "exported" and first.path.parent == tmp_path / "onnx"
    assert first.path.name.startswith(shipped.sha256[:16]) and "640x384" in first.path.name
    mtime = first.path.stat().st_mtime_ns
    again = cached_onnx(shipped.model, shipped.sha256, "lite", folder=tmp_path)
    assert (again.how, again.path, again.sha256) == ("cache hit", first.path, first.sha256)
    assert again.path.stat().st_mtime_ns == mtime
    assert [p.name for p in (tmp_path / "onnx").iterdir() if p.name.startswith(".")] == []  # no temporary files


def test_damaged_or_foreign_entries_are_rebuilt(tmp_path, shipped):
    good = cached_onnx(shipped.model, shipped.sha256, "lite", folder=tmp_path)
    data = good.path.read_bytes()
    good.path.write_bytes(data[: len(data) // 2])          # cut short by a full disk or a kill
    cut = cached_onnx(shipped.model, shipped.sha256, "lite", folder=tmp_path)
    assert cut.how == "rebuilt (bytes differ from their hash record)" and cut.path.read_bytes() == data
    cut.path.with_name(cut.path.name + ".sha256").unlink()
    assert cached_onnx(shipped.model, shipped.sha256, "lite", folder=tmp_path).how == "rebuilt (no hash record)"
    # same file name, but the graph inside records other weights (a prefix collision or a hand-copied file)
    other = "0" * 64
    foreign = tmp_path / "onnx" / good.path.name.replace(shipped.sha256[:16], other[:16])
    foreign.write_bytes(data)
    foreign.with_name(foreign.name + ".sha256").write_text(good.sha256)
    assert cached_onnx(shipped.model, other, "lite", folder=tmp_path).how == "rebuilt (made from other weights)"


def test_cache_folder_follows_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("PERCEPTION_CACHE_DIR", str(tmp_path / "mine"))
    assert cache_dir() == tmp_path / "mine"
    monkeypatch.delenv("PERCEPTION_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_dir() == tmp_path / "xdg" / "perception"
