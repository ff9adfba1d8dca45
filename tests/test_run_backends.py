"""perception.run gives the same detections with onnxruntime as with torch on the real clip."""

from __future__ import annotations

import json

import numpy as np

from conftest import CLIP, need, run_cli

MARGIN = 0.01  # boxes this close to the threshold may fall on either side of it in one backend


def _detections(out_dir):
    return [json.loads(line)["detections"] for line in (out_dir / "frames.jsonl").read_text().splitlines()]


def _iou(a, b):
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def test_onnxruntime_and_torch_agree_on_detections(tmp_path):
    clip = need(CLIP)
    runs = {}
    for backend in ("torch", "onnxruntime"):
        out = tmp_path / backend
        proc = run_cli("perception.run", "--video", str(clip), "--backend", backend, "--output", str(out),
                       "--max-frames", "15", "--conf", "0.3", "--lanes", "off", "--no-video", "--no-progress")
        assert proc.returncode == 0, proc.stderr
        runs[backend] = _detections(out)
    compared = 0
    for dets_a, dets_b in zip(runs["torch"], runs["onnxruntime"]):
        for one, other in ((dets_a, dets_b), (dets_b, dets_a)):
            for d in one:
                if d["score"] < 0.3 + MARGIN:
                    continue
                match = [e for e in other if e["label"] == d["label"] and _iou(d["box_xyxy"], e["box_xyxy"]) > 0.99]
                assert match, (d, other)
                assert abs(match[0]["score"] - d["score"]) < 1e-3
                compared += 1
    assert compared > 0
    summary = json.loads((tmp_path / "onnxruntime" / "summary.json").read_text())
    assert summary["backend"]["name"] == "onnxruntime"
    assert np.isfinite(summary["fps"])


def test_imgsz_runs_the_network_at_another_input_size(tmp_path):
    clip = need(CLIP)
    out = tmp_path / "big"
    proc = run_cli("perception.run", "--source", str(clip), "--imgsz", "448x768", "--output", str(out),
                   "--max-frames", "3", "--lanes", "off", "--planner", "off", "--no-video", "--no-progress")
    assert proc.returncode == 0, proc.stderr
    summary = json.loads((out / "summary.json").read_text())
    assert summary["model"]["input_size_wh"] == [768, 448]
    assert "768x448" in summary["backend"]["onnx_graph"]["path"]  # its own cache entry
    assert all(d["box_xyxy"][2] <= 960 for dets in _detections(out) for d in dets)  # boxes in the clip's pixels
    graph = summary["backend"]["onnx_graph"]["path"]
    proc = run_cli("perception.run", "--source", str(clip), "--weights", graph, "--imgsz", "384x640",
                   "--output", str(tmp_path / "x"), "--max-frames", "1", "--no-progress")
    assert proc.returncode == 2 and "export it again" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1


def test_half_needs_a_gpu_and_an_fp16_graph_is_cached_on_its_own(tmp_path):
    """--half on the CPU is refused before anything is made; an fp16 graph has its own cache entry (exported here on
    the CPU, where it is never run: onnxruntime's CPU provider has no fast fp16 path)."""
    clip = need(CLIP)
    out = tmp_path / "out"
    proc = run_cli("perception.run", "--source", str(clip), "--half", "--output", str(out), "--no-progress")
    assert proc.returncode == 2 and "--device cuda" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    assert not out.exists()
    from perception.backends.metadata import read_onnx_metadata
    from perception.backends.onnx_cache import cached_onnx
    from perception.model import load_checkpoint, published_weights

    shipped = load_checkpoint(published_weights("lite").path)
    half = cached_onnx(shipped.model, shipped.sha256, "lite", folder=tmp_path, fp16=True)
    full = cached_onnx(shipped.model, shipped.sha256, "lite", folder=tmp_path)
    assert half.path.name.endswith("-fp16.onnx") and half.path != full.path and full.how == "exported"
    assert read_onnx_metadata(half.path)["precision"] == "fp16" and read_onnx_metadata(full.path)["precision"] == "fp32"
