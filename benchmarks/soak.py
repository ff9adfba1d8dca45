"""Long-run soak of the main job: loop the real clip for an hour (or N frames) and watch memory and FPS.

    python benchmarks/soak.py [--minutes 60 | --frames 3000] [--no-video] [--mcap] [--backend auto|onnxruntime|torch]
                              [--threads N] [--video PATH] [--output benchmarks/out/soak.json]

Runs ``perception.run``'s whole default job (network, lanes, tracking, planner, annotated video, MCAP with
``--mcap``) on the clip played over and over (frame indices and timestamps keep increasing across loops) until
``--minutes`` have passed or ``--frames`` frames were read, whichever comes first. Resident memory (psutil when
installed, else VmRSS from /proc/self/status) and the frame rate are sampled every ``--sample-every`` frames.
Prints a table (and FPS and memory over time) and writes JSON. Target: growth < 50 MB from after the warm-up to
the end. Outputs go to a temporary folder that is deleted.
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
    """The clip played ``n_frames`` frames long (or until ``deadline``, a ``time.perf_counter()``), looping;
    indices and timestamps keep counting up.

    ``samples`` collects (frame index, RSS MiB, perf_counter s) every ``sample_every`` frames as frames are pulled.
    """

    def __init__(self, path: str, n_frames: int | None, sample_every: int, deadline: float | None = None):
        self.path = path
        first = open_source(path)
        self.clip = first.info
        first.close()
        self.n_frames, self.sample_every, self.deadline = n_frames, sample_every, deadline
        self.samples: list[tuple[int, float, float]] = []
        c = self.clip
        self.info = SourceInfo(path=c.path, kind="video (looped)", fps=c.fps, frame_count=n_frames,
                               width_px=c.width_px, height_px=c.height_px, extra={"loop_of": c.frame_count})

    def _done(self, index: int) -> bool:
        return (self.n_frames is not None and index >= self.n_frames) or \
            (self.deadline is not None and time.perf_counter() >= self.deadline)

    def iter_frames(self, start_index: int = 0) -> Iterator[Frame | FailedFrame]:
        index = 0
        loop = 0
        while not self._done(index):
            source = open_source(self.path)
            offset_s = loop * (self.clip.frame_count or 0) / self.clip.fps
            try:
                for item in source.iter_frames():
                    if self._done(index):
                        return
                    if index % self.sample_every == 0:
                        self.samples.append((index, round(rss_mb(), 1), time.perf_counter()))
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


def main() -> int:
    p = OneLineArgumentParser(prog="python benchmarks/soak.py", description=__doc__.split("\n\n")[0])
    p.add_argument("--video", default=str(DEFAULT_CLIP))
    p.add_argument("--minutes", type=float, default=None, help="stop after this long (default: 60 without --frames)")
    p.add_argument("--frames", type=int, default=None, help="stop after this many frames")
    p.add_argument("--no-video", action="store_true", help="skip the annotated video")
    p.add_argument("--mcap", action="store_true", help="also write the --mcap-out MCAP file")
    p.add_argument("--backend", choices=("auto", "onnxruntime", "torch"), default="auto")
    p.add_argument("--threads", type=int, default=None, help="perception.run --threads (default: the machine's)")
    p.add_argument("--warmup", type=int, default=200, help="frames before the 'after warm-up' memory sample")
    p.add_argument("--sample-every", type=int, default=250, help="memory and FPS sample interval (frames)")
    p.add_argument("--output", default=str(REPO / "benchmarks" / "out" / "soak.json"))
    args = p.parse_args()
    if not Path(args.video).exists():
        print(f"error: video not found: {args.video}", file=sys.stderr)
        return 2
    minutes = args.minutes if args.minutes is not None else (None if args.frames else 60.0)
    if (args.frames is not None and args.frames <= args.warmup) or (minutes is not None and minutes <= 0):
        print(f"error: --frames must be larger than --warmup ({args.warmup}) and --minutes positive", file=sys.stderr)
        return 2

    import perception.sources
    from perception import run as run_job

    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        flags = ["--source", args.video, "--output", str(tmp / "out"), "--no-progress", "--no-report",
                 "--backend", args.backend] + (["--threads", str(args.threads)] if args.threads else []) \
            + (["--no-video"] if args.no_video else []) + (["--mcap-out", str(tmp / "soak.mcap")] if args.mcap else [])
        rss_start = rss_mb()
        t0 = time.perf_counter()
        deadline = t0 + 60.0 * minutes if minutes is not None else None
        source = LoopedSource(args.video, args.frames, args.sample_every, deadline)
        source.sample_every = min(args.sample_every, args.warmup)  # make sure the warm-up point is sampled
        opened = perception.sources.open_source
        # perception.run's own job, reading the looped clip instead of the file named by --source
        perception.sources.open_source = lambda *a, **k: source  # noqa: E731
        try:
            code = run_job.main(run_job.get_args_parser().parse_args(flags))
        finally:
            perception.sources.open_source = opened
        wall = time.perf_counter() - t0
        rss_end = rss_mb()
        if code != 0:
            print(f"error: perception.run exited {code}", file=sys.stderr)
            return 1
        summary = json.loads((tmp / "out" / "summary.json").read_text())
        sizes = {f.name: f.stat().st_size for f in (tmp / "out").iterdir() if f.is_file()}
        if args.mcap:
            sizes["soak.mcap"] = (tmp / "soak.mcap").stat().st_size
    samples = source.samples
    after_warmup = next((mb for i, mb, _ in samples if i >= args.warmup), rss_start)
    frames_read = summary["frames_read"]
    later = [(i, mb) for i, mb, _ in samples if i >= args.warmup] + [(frames_read, rss_end)]
    slope = float(np.polyfit([i for i, _ in later], [mb for _, mb in later], 1)[0] * 1000) if len(later) > 2 else 0.0
    peak = max([rss_start, rss_end] + [mb for _, mb, _ in samples])
    growth = rss_end - after_warmup
    over_time = [{"frame": i, "minute": round((t - t0) / 60, 2), "rss_mb": mb,
                  "fps": round((i - j) / (t - u), 2)}
                 for (i, mb, t), (j, _, u) in zip(samples[1:], samples[:-1]) if i > j]
    result = {
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"), "machine": platform.machine(),
        "cpu_count": os.cpu_count(), "load_avg_1m": round(os.getloadavg()[0], 2), "rss_method": rss_method(),
        "command": "python benchmarks/soak.py " + " ".join(sys.argv[1:]), "run_flags": flags[4:],
        "backend": summary["backend"], "video": args.video, "annotated_video": not args.no_video, "mcap": args.mcap,
        "weights": summary.get("weights"), "frames_processed": summary["frames_processed"],
        "frames_failed": summary["frames_failed"], "wall_time_s": round(wall, 1), "fps": summary["fps"],
        "rss_mb": {"start": round(rss_start, 1), "after_warmup": round(after_warmup, 1), "end": round(rss_end, 1),
                   "peak_sampled": round(peak, 1)},
        "growth_mb": {"start_to_end": round(rss_end - rss_start, 1), "warmup_to_end": round(growth, 1),
                      "slope_per_1000_frames": round(slope, 2), "target": TARGET_GROWTH_MB,
                      "within_target": bool(growth < TARGET_GROWTH_MB)},
        "over_time": over_time,
        "latency_ms": {k: {q: v[q] for q in ("p50", "p90", "p99")} for k, v in summary["latency_ms"].items()},
        "output_bytes": sizes,
    }
    print(f"{'minute':>7} {'frame':>8} {'FPS':>7} {'RSS MiB':>9}")
    for row in over_time[:: max(1, len(over_time) // 20)]:
        print(f"{row['minute']:>7.1f} {row['frame']:>8} {row['fps']:>7.1f} {row['rss_mb']:>9.1f}")
    rows = [("frames", f"{summary['frames_processed']} ({summary['frames_failed']} failed)"),
            ("wall time", f"{wall:.1f} s"), ("FPS", f"{summary['fps']:.2f}"),
            ("backend", f"{summary['backend']['name']} ({summary['backend'].get('reason')})"),
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
