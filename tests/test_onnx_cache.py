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


def test_found_from_the_weights_hash_alone_once_recorded(tmp_path, shipped):
    """``find_cached_onnx`` (the start-up without torch) needs the checkpoint record; damage sends it back to the
    checkpoint path, which repairs the entry."""
    from perception.backends.onnx_cache import find_cached_onnx

    cached_onnx(shipped.model, shipped.sha256, "lite", folder=tmp_path)
    assert find_cached_onnx(shipped.sha256, folder=tmp_path) is None  # graph, but no record of the checkpoint
    made = cached_onnx(shipped.model, shipped.sha256, "lite", folder=tmp_path, native_size_wh=(640, 384),
                       checkpoint_metadata={"epoch": 4})
    found = find_cached_onnx(shipped.sha256, folder=tmp_path)
    assert found is not None and found.graph == made and found.checkpoint_metadata == {"epoch": 4}
    assert found.config == shipped.model.config
    assert find_cached_onnx(shipped.sha256, (960, 576), folder=tmp_path) is None  # no graph at that size yet
    assert find_cached_onnx("0" * 64, folder=tmp_path) is None
    data = made.path.read_bytes()
    made.path.write_bytes(data[:-10])
    assert find_cached_onnx(shipped.sha256, folder=tmp_path) is None
    repaired = cached_onnx(shipped.model, shipped.sha256, "lite", folder=tmp_path, native_size_wh=(640, 384),
                           checkpoint_metadata={"epoch": 4})
    assert repaired.how.startswith("rebuilt") and find_cached_onnx(shipped.sha256, folder=tmp_path) is not None
