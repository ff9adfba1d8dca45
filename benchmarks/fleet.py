"""Fleet replay speed-up: the same N inputs replayed with 1 worker and with 2 (or --workers), on this machine.

    python benchmarks/fleet.py [--copies 4] [--max-frames 120] [--workers 1,2] [--video PATH]
                               [--output benchmarks/out/fleet.json]

Each row runs ``python -m perception.replay --inputs DIR --output OUT --workers W --max-frames M --no-report``
on N links to the clip, in a fresh temporary folder, and watches the whole process tree (psutil) every 0.2 s:
the wall time, the frames written (fleet.json), frames per second over the fleet, the speed-up against the first
row, and the peak resident memory of each Ray worker process (``ray::`` in its name) and of the whole tree.
Prints a table and writes JSON.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from perception.cli import OneLineArgumentParser, parse_positive_ints, positive_int  # noqa: E402

DEFAULT_CLIP = REPO.parent / "shared" / "data" / "udacity_lanelines_p1" / "solidWhiteRight.mp4"


def get_args_parser() -> OneLineArgumentParser:
    p = OneLineArgumentParser(prog="python benchmarks/fleet.py", description=__doc__.split("\n\n")[0])
    p.add_argument("--copies", type=positive_int, default=4, help="inputs in the fleet (links to the clip)")
    p.add_argument("--max-frames", type=positive_int, default=120, help="frames per input")
    p.add_argument("--workers", type=parse_positive_ints, default=[1, 2], help="worker counts, one row each")
    p.add_argument("--video", type=Path, default=DEFAULT_CLIP)
    p.add_argument("--output", type=Path, default=REPO / "benchmarks" / "out" / "fleet.json")
    return p


def _watch(proc: subprocess.Popen) -> dict[str, float]:
    """Peak RSS (MiB) of the tree under ``proc`` and of its largest Ray worker, sampled until it exits."""
    import psutil

    root = psutil.Process(proc.pid)
    peak_tree = peak_worker = 0.0
    while proc.poll() is None:
        try:
            procs = [root] + root.children(recursive=True)
        except psutil.NoSuchProcess:
            break
        total = 0.0
        for p in procs:
            try:
                rss = p.memory_info().rss / 2**20
                name = " ".join(p.cmdline()[:1]) or p.name()
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                continue
            total += rss
            if name.startswith("ray::"):
                peak_worker = max(peak_worker, rss)
        peak_tree = max(peak_tree, total)
        time.sleep(0.2)
    return {"peak_tree_mib": round(peak_tree, 1), "peak_worker_mib": round(peak_worker, 1)}


def run_row(video: Path, copies: int, workers: int, max_frames: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="fleet-bench-") as tmp:
        inputs = Path(tmp) / "inputs"
        inputs.mkdir()
        for i in range(copies):
            (inputs / f"drive{i:02d}{video.suffix}").symlink_to(video.resolve())
        out = Path(tmp) / "out"
        cmd = [sys.executable, "-m", "perception.replay", "--inputs", str(inputs), "--output", str(out),
               "--workers", str(workers), "--max-frames", str(max_frames), "--no-report"]
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        memory = _watch(proc)
        _, err = proc.communicate()
        wall = time.perf_counter() - t0
        if proc.returncode != 0:
            raise SystemExit(f"error: replay with {workers} workers failed: {err.strip().splitlines()[-1:]}")
        fleet = json.loads((out / "fleet.json").read_text())
        frames = sum(int(r.get("frames_processed") or 0) for r in fleet["inputs"])
        return {"workers": workers, "inputs": copies, "frames": frames, "wall_s": round(wall, 1),
                "fleet_fps": round(frames / wall, 2), **memory}


def main(args) -> int:
    if not args.video.is_file():
        print(f"error: clip not found: {args.video}", file=sys.stderr)
        return 2
    rows = [run_row(args.video, args.copies, w, args.max_frames) for w in args.workers]
    for row in rows:
        row["speedup"] = round(row["fleet_fps"] / rows[0]["fleet_fps"], 2)
    print(f"{'workers':>7} {'inputs':>6} {'frames':>6} {'wall s':>7} {'fleet FPS':>9} {'speed-up':>8} "
          f"{'peak worker MiB':>15} {'peak tree MiB':>13}")
    for r in rows:
        print(f"{r['workers']:>7} {r['inputs']:>6} {r['frames']:>6} {r['wall_s']:>7} {r['fleet_fps']:>9} "
              f"{r['speedup']:>8} {r['peak_worker_mib']:>15} {r['peak_tree_mib']:>13}")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps({
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"), "machine": platform.platform(),
        "cpus": os.cpu_count(), "video": str(args.video), "max_frames": args.max_frames, "rows": rows}, indent=2))
    print(f"wrote {args.output}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(get_args_parser().parse_args()))
