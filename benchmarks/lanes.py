"""Lane stage accuracy and stability: TuSimple stills, the real clip, synthetic drives; prints a table, writes JSON.

    python benchmarks/lanes.py [--weights FILE] [--data DIR] [--output benchmarks/out/lanes.json] [--fade 0.3,0.15]

Rows (definitions in perception/lanes/metrics.py):
  * TuSimple accuracy / FP / FN (perception.metrics.lanes.LaneEvaluator) per still, no tracking, with the
    benchmark's own row accounting (every row of the label's h_samples grid counts; the LaneNet frames get
    TuSimple's 56-row grid); the JSON also holds ``labelled_points`` (only labelled rows count: the
    project's accounting before 2026-12-02, kept for comparison):
      - tusimple_sample_512x288 (10 frames): never used to pick a threshold (its score was looked at
        during development, see docs/history.md);
      - tusimple_lanenet (6 frames): the classical thresholds were TUNED on these (and on the Udacity
        test images), and the network was TRAINED on them: not a held-out score for either source.
  * solidWhiteRight.mp4 (221 frames, no labels), default mounting: share of frames with both ego lines,
    std of the frame-to-frame change of lane_offset_m, id flips, lane-change events, ms per frame.
  * synthetic drives (known camera, known truth): offset and curvature errors, lane-change detection, flips;
    plus the same drive seen through the default mounting (intrinsics known, height and pitch guessed).
``--weights`` (a perception.train checkpoint or last.pt) adds the network's lane head as a second source.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from calibration import default_camera  # noqa: E402
from perception.backends.torch_runner import TorchRunner  # noqa: E402
from perception.cli import OneLineArgumentParser  # noqa: E402
from perception.lanes import detect_image_lanes, make_lane_stage  # noqa: E402
from perception.lanes.metrics import run_stage, synthetic_errors, tusimple_accuracy, video_stats  # noqa: E402
from perception.lanes.synthetic import drive, fade  # noqa: E402
from perception.model import MultiTaskNet, load_checkpoint  # noqa: E402
from perception.postprocess import Postprocessor  # noqa: E402
from perception.preprocess import Preprocessor  # noqa: E402
from perception.results import LaneLine  # noqa: E402
from perception.training.config import load_train_config  # noqa: E402

DATA = REPO.parent / "shared" / "data"


def get_args_parser() -> argparse.ArgumentParser:
    p = OneLineArgumentParser(prog="python benchmarks/lanes.py", description=__doc__.split("\n\n")[0])
    p.add_argument("--weights", default=None, help="network checkpoint (or perception.train last.pt) for the "
                                                   "network source; without it only the classical source runs")
    p.add_argument("--data", default=str(DATA), help="the shared data folder")
    p.add_argument("--output", default=str(REPO / "benchmarks" / "out" / "lanes.json"))
    p.add_argument("--fade", default="", help="comma-separated contrasts (e.g. 0.3,0.15,0.1): the clip again with "
                                              "every frame faded (perception.lanes.synthetic.fade)")
    p.add_argument("--synthetic-frames", type=int, default=125, help="frames per synthetic drive (25 fps)")
    return p


def network_lane_detector(weights: str, device: str = "cpu") -> Callable[[np.ndarray], list[LaneLine]]:
    """A function BGR frame (H, W, 3) -> the lane head's per-frame polylines (as the pipeline decodes them).

    ``weights``: a checkpoint (``best.pt`` / ``final.pt`` of perception.train) or a training state
    (``last.pt``, whose ``model`` entry is used). The network source of this benchmark.
    """
    model = _load_model(weights)
    runner = TorchRunner(model, device=device)
    pre = Preprocessor(model.config.input_size_wh)
    post = Postprocessor(model.config, pre)

    def detect(image_bgr: np.ndarray) -> list[LaneLine]:
        rgb, params = pre(image_bgr)
        raw = runner(rgb.transpose(2, 0, 1)[None])  # (1, 3, H, W) uint8 in
        return post({k: v[0] for k, v in raw.items()}, params, 0, 0.0).lanes

    return detect


def _load_model(path: str):
    """The network of a checkpoint or of a perception.train ``last.pt`` training state (eval mode)."""
    state = torch.load(path, map_location="cpu", weights_only=True)
    if isinstance(state, dict) and "model" in state and "config" in state:  # a training state (last.pt)
        model = MultiTaskNet(load_train_config(None, state["config"]).model)
        model.load_state_dict(state["model"])
        return model.eval()
    return load_checkpoint(path).model


def _ramp(t: float, t0: float, t1: float) -> float:
    return min(max((t - t0) / (t1 - t0), 0.0), 1.0)


SCENARIOS = {
    # name: (car lateral position p(t) in metres (left +), road curvature(t) in 1/m (left +))
    "curve_400m_drift": (lambda t: 0.5 * math.sin(2 * math.pi * t / 4), lambda t: _ramp(t, 1.0, 2.5) / 400),
    "curve_250m_right": (lambda t: 0.3, lambda t: -_ramp(t, 0.5, 2.0) / 250),
    "lane_change_right": (lambda t: -3.6 * _ramp(t, 0.8, 3.3), lambda t: -1 / 1000),
    "lane_change_left": (lambda t: 3.6 * _ramp(t, 1.0, 3.0), lambda t: 0.0),
}


def tusimple_rows(data: Path, network) -> list[dict]:
    from datasets import open_dataset

    sets = [("tusimple_sample_512x288", "tusimple", data / "tusimple_sample_512x288",
             "not tuned on (score seen during development, see docs/history.md)"),
            ("tusimple_lanenet", "tusimple_lanenet", data / "tusimple_lanenet_masks" / "data" / "training_data_example",
             "classical TUNED on it; network TRAINED on it")]
    rows = []
    for name, kind, path, note in sets:
        if not path.exists():
            rows.append({"data": name, "skipped": f"{path} not found"})
            continue
        reader = open_dataset(kind, path, "train")
        samples = [reader[i] for i in range(len(reader))]
        sources = [("classical", detect_image_lanes)]
        if network is not None:
            sources += [("network (raw lane head)", network),
                        ("network (fitted on road)", lambda im: detect_image_lanes(im, network_lanes=network(im)))]
        for source, detect in sources:
            t0 = time.perf_counter()
            res = tusimple_accuracy(samples, detect)
            rows.append({"data": name, "source": source, "note": note, "ms_per_image":
                         round(1000 * (time.perf_counter() - t0) / len(samples), 1), **res})
    return rows


def video_rows(data: Path, network, fades: list[float] = ()) -> list[dict]:
    clip = data / "udacity_lanelines_p1" / "solidWhiteRight.mp4"
    if not clip.exists():
        return [{"data": "solidWhiteRight.mp4", "skipped": f"{clip} not found"}]
    cap = cv2.VideoCapture(str(clip))
    fps = cap.get(cv2.CAP_PROP_FPS) or 25.0
    frames = []
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        frames.append(frame)
    cap.release()
    h, w = frames[0].shape[:2]
    rows = []
    runs = [("classical", None)] + ([("network", None)] if network is not None else [])
    runs += [("classical", c) for c in fades]  # the classical finder on the faded clip
    for source, contrast in runs:
        clip_frames = frames if contrast is None else [fade(f, contrast, seed=i) for i, f in enumerate(frames)]
        stage = make_lane_stage(None, (w, h), source=source, calibration_frames=clip_frames[:50])
        t0 = time.perf_counter()
        records = run_stage(stage, [(i / fps, f) for i, f in enumerate(clip_frames)],
                            network_lanes=network if source == "network" else None)
        elapsed = time.perf_counter() - t0
        rows.append({"data": "solidWhiteRight.mp4", "source": source, "fade_contrast": contrast,
                     **video_stats(records), "ms_per_frame_stage": stage.summary()["mean_ms"],
                     "ms_per_frame_total": round(1000 * elapsed / len(frames), 1),
                     "mounting": stage.summary()["mounting"]})
    return rows


def synthetic_rows(n_frames: int) -> list[dict]:
    true_cam = default_camera(960, 540).with_mounting(height_m=1.4, pitch_rad=math.radians(2.0))
    rows = []
    for name, (car_y, curvature) in SCENARIOS.items():
        frames = list(drive(true_cam, n_frames, car_y_m=car_y, curvature_1pm=curvature))
        truth = [{"lane_offset_m": f.lane_offset_m, "curvature_1pm": f.curvature_1pm, "lane_change": f.lane_change}
                 for f in frames]
        pairs = [(f.timestamp_s, f.image_bgr) for f in frames]
        for geometry, camera in (("camera_file", true_cam),
                                 ("default_mounting", default_camera(960, 540))):  # height 1.5 m, pitch from VP
            stage = make_lane_stage(camera, (960, 540), calibration_frames=[f.image_bgr for f in frames[:50]])
            records = run_stage(stage, pairs)
            rows.append({"data": f"synthetic:{name}", "source": "classical", "geometry": geometry,
                         "frames": n_frames, **synthetic_errors(records, truth)})
    return rows


def _fmt(v, spec: str) -> str:
    return "-" if v is None else format(v, spec)


def print_table(results: dict) -> None:
    print("\nTuSimple (per still, no tracking; acc/FP/FN with the benchmark's row accounting, 'pts acc' on the"
          " labelled points only)")
    print(f"  {'data':<26}{'source':<27}{'acc':>7}{'FP':>7}{'FN':>7}{'F1':>7}{'pts acc':>8}  note")
    for r in results["tusimple"]:
        if "skipped" in r:
            print(f"  {r['data']:<26}skipped: {r['skipped']}")
            continue
        print(f"  {r['data']:<26}{r['source']:<27}{r['tusimple_accuracy']:>7.3f}{r['tusimple_fp']:>7.3f}"
              f"{r['tusimple_fn']:>7.3f}{r['culane_f1']:>7.3f}{r['labelled_points']['tusimple_accuracy']:>8.3f}"
              f"  {r['note']}")
    print("\nReal clip, default mounting (no labels)")
    print(f"  {'source':<16}{'both ego':>9}{'jitter m':>10}{'id flips':>9}{'changes':>8}{'width m':>8}{'ms/frame':>9}")
    for r in results["video"]:
        if "skipped" in r:
            print(f"  skipped: {r['skipped']}")
            continue
        name = r["source"] if r.get("fade_contrast") is None else f"{r['source']} x{r['fade_contrast']}"
        print(f"  {name:<16}{r['both_ego_share']:>9.3f}{_fmt(r['offset_jitter_m'], '.4f'):>10}"
              f"{r['id_flips']:>9}{len(r['lane_changes']):>8}{_fmt(r['lane_width_median_m'], '.2f'):>8}"
              f"{r['ms_per_frame_stage']:>9.1f}")
    print("\nSynthetic drives (truth known)")
    print(f"  {'drive':<30}{'geometry':<18}{'offset err m mean/max':>22}{'curv err 1/m mean':>19}"
          f"{'changes exp/det':>17}{'flips':>6}")
    for r in results["synthetic"]:
        o, c = r["offset_abs_err_m"], r["curvature_abs_err_1pm"]
        changes = f"{[d for _, d in r['lane_changes_expected']]}/{[d for _, d in r['lane_changes_detected']]}"
        print(f"  {r['data']:<30}{r['geometry']:<18}"
              f"{(_fmt(o and o['mean'], '.3f') + ' / ' + _fmt(o and o['max'], '.3f')):>22}"
              f"{_fmt(c and c['mean'], '.2e'):>19}{changes:>17}{r['id_flips']:>6}")


def main(args: argparse.Namespace) -> int:
    try:
        fades = [float(c) for c in args.fade.split(",") if c.strip()]
    except ValueError:
        print(f"error: --fade {args.fade!r}: expected comma-separated numbers in (0, 1]", file=sys.stderr)
        return 2
    if any(not 0 < c <= 1 for c in fades):
        print(f"error: --fade {args.fade!r}: contrasts must be in (0, 1]", file=sys.stderr)
        return 2
    network = None
    if args.weights:
        network = network_lane_detector(args.weights)
    data = Path(args.data)
    results = {"date": dt.datetime.now().isoformat(timespec="seconds"), "machine": platform.machine(),
               "cpus": os.cpu_count(), "python": platform.python_version(), "weights": args.weights,
               "tusimple": tusimple_rows(data, network), "video": video_rows(data, network, fades),
               "synthetic": synthetic_rows(args.synthetic_frames)}
    print_table(results)
    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=1))
    print(f"\nwrote {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(get_args_parser().parse_args()))
