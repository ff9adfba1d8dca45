"""Frames per second of the whole default job (``perception.run``) on real clips, per backend and thread count.

    python benchmarks/pipeline.py [--video PATH] [--frames 220] [--backends auto,torch] [--threads 1,2]
                                  [--sizes native,720p] [--configs default,lanes-off,no-video]
                                  [--int8 MODEL_INT8.onnx] [--repeat N] [--output benchmarks/out/pipeline.json]

Each row is one ``python -m perception.run`` process, as a user runs it: network, lanes, tracking, planner and
the annotated video, report off. ``--configs`` adds rows with ``--lanes off`` or ``--no-video`` (default backend,
default threads); ``--int8 FILE`` a row with that INT8 graph (``deploy.export --format onnx --int8``). ``720p`` is the clip scaled to 1280x720 first (written once, losslessly enough:
MJPG quality 95), so decoding, lanes, drawing and encoding work at that size. FPS and the per-stage medians come
from the run's own summary.json (FPS counts processing only, start-up apart). ``--repeat N`` runs every row N
times and shows the run with the median FPS, with the range of all N (runs of one command spread by several FPS
on two shared cores). Prints a table and writes JSON; the numbers depend on the machine and on what else runs on
it (the JSON records the CPU count and load).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import cv2

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from perception.cli import OneLineArgumentParser, positive_int  # noqa: E402

DEFAULT_CLIP = REPO.parent / "shared" / "data" / "udacity_lanelines_p1" / "solidWhiteRight.mp4"
STAGES = ("decode", "preprocess", "inference", "postprocess", "lanes", "enrich", "draw", "write")


def scaled_copy(video: Path, size_wh: tuple[int, int], out: Path) -> Path:
    """``video`` resized to ``size_wh`` (MJPG .avi, quality 95)."""
    cap = cv2.VideoCapture(str(video))
    fps = cap.get(cv2.CAP_PROP_FPS) or 25.0
    writer = cv2.VideoWriter(str(out), cv2.VideoWriter_fourcc(*"MJPG"), fps, size_wh)
    writer.set(cv2.VIDEOWRITER_PROP_QUALITY, 95)
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        writer.write(cv2.resize(frame, size_wh, interpolation=cv2.INTER_LINEAR))
    cap.release()
    writer.release()
    return out


CONFIG_FLAGS = {"default": [], "lanes-off": ["--lanes", "off"], "no-video": ["--no-video"]}


def run_row(video: Path, backend: str, threads: int | None, frames: int, workdir: Path,
            extra: list[str] = ()) -> dict:
    out = workdir / f"{video.stem}_{backend}_{threads}_{len(list(workdir.iterdir()))}"
    cmd = [sys.executable, "-m", "perception.run", "--source", str(video), "--output", str(out), "--backend", backend,
           "--max-frames", str(frames), "--no-progress", "--no-report", *extra]
    if threads is not None:
        cmd += ["--threads", str(threads)]
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)
    if proc.returncode != 0:
        return {"status": f"exit {proc.returncode}: {proc.stderr.strip().splitlines()[-1:]}"}
    summary = json.loads((out / "summary.json").read_text())
    return {"status": "ok", "backend_ran": summary["backend"]["name"], "frames": summary["frames_processed"],
            "fps": summary["fps"], "startup_s": summary["startup_s"],
            "p50_ms": {k: v["p50"] for k, v in summary["latency_ms"].items()},
            "size_wh": [summary["input"]["width_px"], summary["input"]["height_px"]]}


def repeated(run: Callable[[], dict], times: int) -> dict:
    """The run with the median FPS of ``times`` calls of ``run`` (the upper one of two middles), with
    ``fps_runs``: every successful run's FPS in run order. A row whose runs all failed is the first failure."""
    runs = [run() for _ in range(times)]
    ok = sorted((r for r in runs if r["status"] == "ok"), key=lambda r: r["fps"])
    if not ok:
        return runs[0]
    return {**ok[len(ok) // 2], "fps_runs": [r["fps"] for r in runs if r["status"] == "ok"]}


def main() -> int:
    p = OneLineArgumentParser(prog="python benchmarks/pipeline.py", description=__doc__.split("\n\n")[0])
    p.add_argument("--video", default=str(DEFAULT_CLIP))
    p.add_argument("--frames", type=int, default=220)
    p.add_argument("--backends", default="auto,torch")
    p.add_argument("--threads", default="1,2", help="comma-separated perception.run --threads values")
    p.add_argument("--sizes", default="native,720p", help="native and/or 720p")
    p.add_argument("--configs", default="default,lanes-off,no-video",
                   help="extra rows on the native input with the machine's threads: " + ", ".join(CONFIG_FLAGS))
    p.add_argument("--int8", default=None, metavar="FILE", help="also a row with this INT8 ONNX graph")
    p.add_argument("--repeat", type=positive_int, default=1, metavar="N",
                   help="run every row N times; the table shows the median run and the FPS range")
    p.add_argument("--output", default=str(REPO / "benchmarks" / "out" / "pipeline.json"))
    args = p.parse_args()
    video = Path(args.video)
    if not video.exists():
        print(f"error: video not found: {video}", file=sys.stderr)
        return 2
    rows = []
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        inputs = {"native": video}
        if "720p" in args.sizes.split(","):
            inputs["720p"] = scaled_copy(video, (1280, 720), tmp / f"{video.stem}_720p.avi")
        for size in [x for x in args.sizes.split(",") if x]:
            for backend in args.backends.split(","):
                for threads in [int(t) for t in args.threads.split(",")]:
                    row = {"input": size, "backend": backend, "threads": threads,
                           **repeated(lambda: run_row(inputs[size], backend, threads, args.frames, tmp), args.repeat)}
                    rows.append(row)
                    print(json.dumps(row), file=sys.stderr)
        configs = [c for c in args.configs.split(",") if c]
        unknown = [c for c in configs if c not in CONFIG_FLAGS]
        if unknown:
            print(f"error: unknown --configs {unknown}; known: {', '.join(CONFIG_FLAGS)}", file=sys.stderr)
            return 2
        extras = [(c, CONFIG_FLAGS[c]) for c in configs]
        if args.int8:
            extras.append(("int8", ["--weights", str(Path(args.int8).resolve())]))
        for name, flags in extras:
            backend = "onnxruntime" if name == "int8" else "auto"
            row = {"input": "native", "backend": backend, "threads": None, "config": name,
                   **repeated(lambda: run_row(video, backend, None, args.frames, tmp, flags), args.repeat)}
            rows.append(row)
            print(json.dumps(row), file=sys.stderr)
    header = f"{'input':<8} {'config':<10} {'size':>9} {'backend':<12} {'threads':>7} {'FPS':>6} {'FPS range':>11} " \
        f"{'start s':>7} " + " ".join(f"{s[:8]:>8}" for s in STAGES)
    print(header + "\n" + "-" * len(header))
    for r in rows:
        if r["status"] != "ok":
            print(f"{r['input']:<8} {r.get('config', 'default'):<10} {'':>9} {r['backend']:<12} "
                  f"{r['threads'] or 'auto':>7} {r['status']}")
            continue
        size = "x".join(map(str, r["size_wh"]))
        runs = r.get("fps_runs", [r["fps"]])
        spread = f"{min(runs):.1f}-{max(runs):.1f}" if len(runs) > 1 else "-"
        print(f"{r['input']:<8} {r.get('config', 'default'):<10} {size:>9} {r['backend_ran']:<12} "
              f"{r['threads'] or 'auto':>7} {r['fps']:>6.1f} {spread:>11} "
              f"{r['startup_s']:>7.1f} " + " ".join(f"{r['p50_ms'].get(s, float('nan')):>8.1f}" for s in STAGES))
    print("(stage columns: median ms per frame; with threads >= 2 the stages overlap, so they add up to more "
          "than 1000 / FPS)")
    result = {"date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"), "machine": platform.machine(),
              "cpu_count": os.cpu_count(), "load_avg_1m": round(os.getloadavg()[0], 2), "video": str(video),
              "frames": args.frames, "repeat": args.repeat, "rows": rows}
    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
