"""Per-stage latency of the main job on the real dashcam clip, per backend; prints a table, writes JSON.

    python benchmarks/pipeline.py [--video PATH] [--frames 200] [--backends torch,onnxruntime] [--threads 2]
                                  [--output benchmarks/out/pipeline.json]

Two measurements per backend:
  * network only: the exported/eager network on one 640x384 uint8 frame, after warm-up (p50/p90/p99 ms);
  * end to end: perception.run's loop over the clip (decode -> preprocess -> inference -> postprocess ->
    draw -> write), per-stage p50/p90/p99 ms and overall FPS.
Numbers depend on the machine; the JSON records the CPU count, thread setting and date.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from perception.backends.onnx_export import export_onnx  # noqa: E402
from perception.backends.onnxruntime_runner import OnnxRuntimeRunner  # noqa: E402
from perception.backends.torch_runner import TorchRunner  # noqa: E402
from perception.cli import OneLineArgumentParser  # noqa: E402
from perception.model import build_multitask_lite, default_weights, load_checkpoint  # noqa: E402
from perception.pipeline import PipelineOutputs, run_pipeline  # noqa: E402
from perception.postprocess import Postprocessor  # noqa: E402
from perception.preprocess import Preprocessor  # noqa: E402
from perception.sources import open_source  # noqa: E402

DEFAULT_CLIP = REPO.parent / "shared" / "data" / "udacity_lanelines_p1" / "solidWhiteRight.mp4"


def percentiles(values_ms: list[float]) -> dict[str, float]:
    v = np.asarray(values_ms)
    return {k: round(float(np.percentile(v, q)), 2) for k, q in (("p50", 50), ("p90", 90), ("p99", 99))}


def network_latency(runner, size_wh, iters: int, warmup: int = 10) -> dict[str, float]:
    x = np.random.default_rng(0).integers(0, 256, (1, 3, size_wh[1], size_wh[0]), dtype=np.uint8)
    for _ in range(warmup):
        runner(x)
    times = []
    for _ in range(iters):
        t0 = time.perf_counter()
        runner(x)
        times.append((time.perf_counter() - t0) * 1000)
    return percentiles(times)


def main() -> int:
    p = OneLineArgumentParser(prog="python benchmarks/pipeline.py", description=__doc__.split("\n\n")[0])
    p.add_argument("--video", default=str(DEFAULT_CLIP))
    p.add_argument("--frames", type=int, default=200)
    p.add_argument("--backends", default="torch,onnxruntime")
    p.add_argument("--threads", type=int, default=2, help="intra-op threads for torch and onnxruntime")
    p.add_argument("--iters", type=int, default=100, help="network-only iterations")
    p.add_argument("--output", default=str(REPO / "benchmarks" / "out" / "pipeline.json"))
    args = p.parse_args()
    if not Path(args.video).exists():
        print(f"error: video not found: {args.video}", file=sys.stderr)
        return 2
    torch.set_num_threads(args.threads)
    record = default_weights()
    model = load_checkpoint(record.path, expected_sha256=record.sha256).model if record else build_multitask_lite()
    cfg = model.config
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for backend in args.backends.split(","):
            if backend == "torch":
                runner = TorchRunner(model, "cpu")
            elif backend == "onnxruntime":
                runner = OnnxRuntimeRunner(export_onnx(model, Path(tmp) / "model.onnx"), threads=args.threads)
            else:
                print(f"error: unknown backend {backend}", file=sys.stderr)
                return 2
            net = network_latency(runner, cfg.input_size_wh, args.iters)
            pre = Preprocessor(cfg.input_size_wh)
            report = run_pipeline(open_source(args.video), runner, pre, Postprocessor(cfg, pre),
                                  PipelineOutputs(Path(tmp) / backend), max_frames=args.frames,
                                  weights_info="benchmark", progress=False)
            stages = report.timer.summary()
            rows.append({"backend": backend, "network_ms": net, "frames": report.frames_processed,
                         "fps": round(report.frames_processed / report.wall_time_s, 2),
                         "stages_ms": {k: {q: v[q] for q in ("p50", "p90", "p99")} for k, v in stages.items()}})
    stage_names = list(rows[0]["stages_ms"]) if rows else []
    header = f"{'backend':<12} {'net p50/p90/p99 ms':>20} " + " ".join(f"{s + ' p50':>15}" for s in stage_names) \
        + f" {'FPS':>7}"
    print(header)
    print("-" * len(header))
    for r in rows:
        n = r["network_ms"]
        print(f"{r['backend']:<12} {n['p50']:>7.1f}/{n['p90']:.1f}/{n['p99']:.1f}".ljust(34) + " "
              + " ".join(f"{r['stages_ms'][s]['p50']:>15.2f}" for s in stage_names) + f" {r['fps']:>7.1f}")
    result = {"date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"), "machine": platform.machine(),
              "cpu_count": os.cpu_count(), "threads": args.threads, "input_size_wh": list(cfg.input_size_wh),
              "video": args.video, "weights": record.name if record else "untrained", "rows": rows}
    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
