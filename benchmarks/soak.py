"""Long-run soak of the main job: loop the real clip for thousands of frames and watch memory.

    python benchmarks/soak.py [--frames 3000] [--no-video] [--mcap] [--backend onnxruntime|torch]
                              [--threads 2] [--video PATH] [--output benchmarks/out/soak.json]

Replays the clip end to end (decode -> preprocess -> inference -> postprocess -> draw -> write) through
``run_pipeline`` until ``--frames`` frames have been processed, looping the clip (frame indices and
timestamps keep increasing across loops). Resident memory (psutil when installed, else VmRSS from
/proc/self/status) is sampled at the start (models loaded, before the first frame), after a warm-up,
every ``--sample-every`` frames, and at the end. Prints a table and writes JSON. Target: growth
< 50 MB from after the warm-up to the end. Outputs go to a temporary folder that is deleted.
The pipeline has no queues between stages: each frame goes through every stage before the next is read.
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
from typing import Iterator

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from perception.cli import OneLineArgumentParser  # noqa: E402
from perception.sources import FailedFrame, Frame, SourceInfo, open_source  # noqa: E402

DEFAULT_CLIP = REPO.parent / "shared" / "data" / "udacity_lanelines_p1" / "solidWhiteRight.mp4"
TARGET_GROWTH_MB = 50.0


def rss_mb() -> float:
    """Resident set size of this process in MiB (psutil if installed, else /proc/self/status VmRSS)."""
    try:
        import psutil

        return psutil.Process().memory_info().rss / 2**20
    except ImportError:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024  # kB -> MiB
    return float("nan")


def rss_method() -> str:
    try:
        import psutil  # noqa: F401

        return "psutil"
    except ImportError:
        return "/proc/self/status VmRSS"


class LoopedSource:
    """The clip played ``n_frames`` frames long, looping; indices and timestamps keep counting up.

    ``samples`` collects (frame index, RSS MiB) every ``sample_every`` frames as the pipeline pulls frames.
    """

    def __init__(self, path: str, n_frames: int, sample_every: int):
        self.path = path
        first = open_source(path)
        self.clip = first.info
        first.close()
        self.n_frames, self.sample_every = n_frames, sample_every
        self.samples: list[tuple[int, float]] = []
        c = self.clip
        self.info = SourceInfo(path=c.path, kind="video (looped)", fps=c.fps, frame_count=n_frames,
                               width_px=c.width_px, height_px=c.height_px, extra={"loop_of": c.frame_count})

    def iter_frames(self, start_index: int = 0) -> Iterator[Frame | FailedFrame]:
        index = 0
        loop = 0
        while index < self.n_frames:
            source = open_source(self.path)
            offset_s = loop * (self.clip.frame_count or 0) / self.clip.fps
            try:
                for item in source.iter_frames():
                    if index >= self.n_frames:
                        return
                    if index % self.sample_every == 0:
                        self.samples.append((index, round(rss_mb(), 1)))
                    if index >= start_index:
                        if isinstance(item, FailedFrame):
                            yield FailedFrame(index=index, timestamp_s=offset_s + item.timestamp_s, reason=item.reason)
                        else:
                            yield Frame(index=index, timestamp_s=offset_s + item.timestamp_s,
                                        image_bgr=item.image_bgr, source=self.info)
                    index += 1
            finally:
                source.close()
            loop += 1

    def close(self) -> None:
        pass


def _runner(backend: str, model, tmp: Path, threads: int):
    from perception.backends.onnxruntime_runner import OnnxRuntimeRunner
    from perception.backends.torch_runner import TorchRunner

    if backend == "torch":
        import torch

        torch.set_num_threads(threads)
        return TorchRunner(model, "cpu")
    from perception.backends.onnx_export import export_onnx

    return OnnxRuntimeRunner(export_onnx(model, tmp / "model.onnx"), threads=threads)


def main() -> int:
    p = OneLineArgumentParser(prog="python benchmarks/soak.py", description=__doc__.split("\n\n")[0])
    p.add_argument("--video", default=str(DEFAULT_CLIP))
    p.add_argument("--frames", type=int, default=3000, help="frames to process (the clip is looped)")
    p.add_argument("--no-video", action="store_true", help="skip the annotated video")
    p.add_argument("--mcap", action="store_true", help="also write the --mcap-out MCAP file")
    p.add_argument("--backend", choices=("onnxruntime", "torch"), default="onnxruntime",
                   help="several times faster than torch on CPU (benchmarks/RESULTS.md): the soak fits in minutes")
    p.add_argument("--threads", type=int, default=2, help="intra-op threads of the backend")
    p.add_argument("--warmup", type=int, default=200, help="frames before the 'after warm-up' memory sample")
    p.add_argument("--sample-every", type=int, default=250, help="memory sample interval (frames)")
    p.add_argument("--output", default=str(REPO / "benchmarks" / "out" / "soak.json"))
    args = p.parse_args()
    if not Path(args.video).exists():
        print(f"error: video not found: {args.video}", file=sys.stderr)
        return 2
    if args.frames <= args.warmup:
        print(f"error: --frames must be larger than --warmup ({args.warmup})", file=sys.stderr)
        return 2

    from perception.model import build_multitask_lite, default_weights, load_checkpoint
    from perception.pipeline import PipelineOutputs, run_pipeline
    from perception.postprocess import Postprocessor
    from perception.preprocess import Preprocessor

    record = default_weights()
    model = load_checkpoint(record.path, expected_sha256=record.sha256).model if record else build_multitask_lite()
    cfg = model.config
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        runner = _runner(args.backend, model, tmp, args.threads)
        pre = Preprocessor(cfg.input_size_wh)
        post = Postprocessor(cfg, pre)
        source = LoopedSource(args.video, args.frames, args.sample_every)
        source.sample_every = min(args.sample_every, args.warmup)  # make sure the warm-up point is sampled
        outputs = PipelineOutputs(tmp / "out", write_video=not args.no_video, mcap=tmp / "soak.mcap" if args.mcap
                                  else None)
        rss_start = rss_mb()
        t0 = time.perf_counter()
        report = run_pipeline(source, runner, pre, post, outputs, weights_info="soak", progress=False)
        wall = time.perf_counter() - t0
        rss_end = rss_mb()
        sizes = {f.name: f.stat().st_size for f in (tmp / "out").iterdir()}
        if args.mcap:
            sizes["soak.mcap"] = (tmp / "soak.mcap").stat().st_size
    samples = source.samples
    after_warmup = next((mb for i, mb in samples if i >= args.warmup), rss_start)
    later = [(i, mb) for i, mb in samples if i >= args.warmup] + [(report.frames_read, rss_end)]
    slope = float(np.polyfit([i for i, _ in later], [mb for _, mb in later], 1)[0] * 1000) if len(later) > 2 else 0.0
    peak = max([rss_start, rss_end] + [mb for _, mb in samples])
    growth = rss_end - after_warmup
    result = {
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"), "machine": platform.machine(),
        "cpu_count": os.cpu_count(), "load_avg_1m": round(os.getloadavg()[0], 2), "rss_method": rss_method(),
        "backend": args.backend, "threads": args.threads, "video": args.video, "annotated_video": not args.no_video,
        "mcap": args.mcap, "weights": record.name if record else "untrained",
        "frames_processed": report.frames_processed, "frames_failed": report.frames_failed,
        "wall_time_s": round(wall, 1), "fps": round(report.frames_processed / wall, 2),
        "rss_mb": {"start": round(rss_start, 1), "after_warmup": round(after_warmup, 1), "end": round(rss_end, 1),
                   "peak_sampled": round(peak, 1)},
        "growth_mb": {"start_to_end": round(rss_end - rss_start, 1), "warmup_to_end": round(growth, 1),
                      "slope_per_1000_frames": round(slope, 2), "target": TARGET_GROWTH_MB,
                      "within_target": bool(growth < TARGET_GROWTH_MB)},
        "rss_samples": [{"frame": i, "rss_mb": mb} for i, mb in samples],
        "latency_ms": {k: {q: v[q] for q in ("p50", "p90", "p99")} for k, v in report.timer.summary().items()},
        "output_bytes": sizes,
    }
    rows = [("frames", f"{report.frames_processed} ({report.frames_failed} failed)"),
            ("wall time", f"{wall:.1f} s"), ("FPS", f"{result['fps']:.2f}"),
            ("backend / threads", f"{args.backend} / {args.threads}"),
            ("outputs", "jsonl" + ("" if args.no_video else " + video") + (" + mcap" if args.mcap else "")),
            ("RSS start", f"{rss_start:.1f} MiB"), (f"RSS after {args.warmup} frames", f"{after_warmup:.1f} MiB"),
            ("RSS end", f"{rss_end:.1f} MiB"), ("RSS peak (sampled)", f"{peak:.1f} MiB"),
            ("growth start -> end", f"{rss_end - rss_start:+.1f} MiB"),
            ("growth warm-up -> end", f"{growth:+.1f} MiB (target < {TARGET_GROWTH_MB:.0f})"),
            ("slope after warm-up", f"{slope:+.2f} MiB / 1000 frames"), ("RSS via", rss_method())]
    width = max(len(k) for k, _ in rows)
    for k, v in rows:
        print(f"{k:<{width}}  {v}")
    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {out}")
    return 0 if growth < TARGET_GROWTH_MB else 1


if __name__ == "__main__":
    raise SystemExit(main())
