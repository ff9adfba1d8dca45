"""The cache entries shipped with the package (perception/weights/cache/): the default network's ONNX graph and the
default policy's numpy copy. They must be of the current defaults, compute what a fresh export / the policy file
compute, and never be used when their bytes differ from the hashes recorded in code."""

from __future__ import annotations

import hashlib
import shutil

import numpy as np
import pytest

from conftest import CLIP, need

pytest.importorskip("onnxruntime")


def _graph_outputs(path, batch: np.ndarray) -> dict[str, np.ndarray]:
    from perception.backends.onnxruntime_runner import OnnxRuntimeRunner

    return OnnxRuntimeRunner(path)(batch)


def test_the_shipped_graph_is_the_default_weights_and_computes_what_a_fresh_export_computes(tmp_path):
    import cv2

    from perception.backends.onnx_cache import cached_onnx, find_shipped_onnx
    from perception.model import default_weights, load_checkpoint
    from perception.preprocess import Preprocessor

    record = default_weights()
    found = find_shipped_onnx(record.sha256, record.onnx_graph_sha256)
    assert found is not None, "shipped graph missing or stale: run python -m perception.tools.ship_cache"
    assert found.graph.how == "shipped" and tuple(found.config.input_size_wh) == record.input_size_wh
    loaded = load_checkpoint(record.path, expected_sha256=record.sha256)
    fresh = cached_onnx(loaded.model, record.sha256, record.name, folder=tmp_path)
    ok, frame = cv2.VideoCapture(str(need(CLIP))).read()
    assert ok
    rgb, _ = Preprocessor(found.config.input_size_wh)(frame)
    batch = rgb.transpose(2, 0, 1)[None]
    shipped_out, fresh_out = _graph_outputs(found.graph.path, batch), _graph_outputs(fresh.path, batch)
    assert set(shipped_out) == set(fresh_out)
    for name in shipped_out:
        np.testing.assert_allclose(shipped_out[name], fresh_out[name], rtol=1e-4, atol=1e-4)


def test_the_shipped_policy_copy_decides_as_the_policy_file():
    from perception.planning.policy import DEFAULT_POLICY, PUBLISHED_POLICIES, _from_cache, _from_torch_file

    record = PUBLISHED_POLICIES[DEFAULT_POLICY]
    data = record.path.read_bytes()
    shipped = _from_cache(record.sha256, str(record.path), shipped_sha256=record.numpy_sha256)
    assert shipped is not None, "shipped policy copy missing or stale: run python -m perception.tools.ship_cache"
    from_file = _from_torch_file(data, str(record.path), hashlib.sha256(data).hexdigest())
    observations = np.random.default_rng(0).uniform(-1, 1, (50, *from_file.observation_shape)).astype(np.float32)
    for obs in observations:
        np.testing.assert_array_equal(shipped.q_values(obs), from_file.q_values(obs))
    assert shipped.metadata == from_file.metadata


def test_shipped_entries_whose_bytes_changed_are_not_used(tmp_path, monkeypatch):
    import perception.cache
    from perception.backends import onnx_cache
    from perception.model import default_weights
    from perception.planning.policy import DEFAULT_POLICY, PUBLISHED_POLICIES, _from_cache

    copy = tmp_path / "shipped"
    shutil.copytree(perception.cache.SHIPPED_CACHE_DIR, copy)
    monkeypatch.setattr(perception.cache, "SHIPPED_CACHE_DIR", copy)  # one place, read by both loaders
    record, policy = default_weights(), PUBLISHED_POLICIES[DEFAULT_POLICY]
    assert onnx_cache.find_shipped_onnx(record.sha256, record.onnx_graph_sha256) is not None
    assert _from_cache(policy.sha256, "p", shipped_sha256=policy.numpy_sha256) is not None
    for entry in [*copy.glob("onnx/*.onnx"), *copy.glob("policies/*.npz")]:
        blob = bytearray(entry.read_bytes())
        blob[len(blob) // 2] ^= 0xFF
        entry.write_bytes(bytes(blob))
        # a consistent forgery: its hash record rewritten too; the hash in code still refuses it
        entry.with_name(entry.name + ".sha256").write_text(hashlib.sha256(blob).hexdigest() + "\n")
    assert onnx_cache.find_shipped_onnx(record.sha256, record.onnx_graph_sha256) is None
    assert _from_cache(policy.sha256, "p", shipped_sha256=policy.numpy_sha256) is None
