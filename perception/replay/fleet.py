"""Fleet replay on Ray: plan the inputs, run each through ``perception.run.main`` in a Ray task, write fleet.json
and index.html.

Each task runs the normal pipeline with ``--output OUT/<stem> --no-progress --threads cores//workers``; it never
raises: a failed input (bad file, crash) comes back as ``state: failed`` with its one-line error. A re-run skips
inputs whose summary.json says ``finished``; with ``--resume`` an interrupted one continues (``perception.run
--resume``). Ctrl-C cancels the tasks (each run stops after its current frame, its outputs valid) and still writes
fleet.json and index.html.
"""

from __future__ import annotations

import argparse
import contextlib
import glob
import io
import json
import os
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from perception import run as run_job
from perception.cli import EXIT_BAD_INPUT, OneLineArgumentParser, exit_with, positive_int
from perception.errors import UserInputError, clean_message
from perception.replay.index import index_html
from perception.report import ReportError, read_run
from perception.sinks import write_json_atomic
from perception.sources.logs import LOG_SUFFIXES

VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".m4v", ".webm", ".mpg", ".mpeg", ".ts")
INPUT_SUFFIXES = VIDEO_SUFFIXES + tuple(LOG_SUFFIXES)  # what a folder given to --inputs contributes
POLL_S = 1.0  # how often the driver looks at the tasks (and the progress bar at frames.jsonl)
OWN_FLAGS = ("--source", "--video", "--output", "--resume", "--no-progress", "--threads")  # replay sets these


def get_args_parser() -> argparse.ArgumentParser:
    p = OneLineArgumentParser(prog="python -m perception.replay", allow_abbrev=False,
                              description="Replay many inputs through perception.run in parallel on Ray; every "
                                          "other flag goes to perception.run.")
    p.add_argument("--inputs", nargs="+", required=True, metavar="DIR|GLOB|FILE",
                   help="inputs: files, quoted globs, or folders (their videos, .mcap and .bag files, ROS 2 bag "
                        "folders; a folder holding none of them is one image-folder input)")
    p.add_argument("--output", required=True, metavar="OUT", help="OUT/<input stem>/ per input, fleet.json, index.html")
    p.add_argument("--workers", type=positive_int, default=os.cpu_count() or 1, metavar="N",
                   help="inputs run at once (each with cores // N threads)")
    p.add_argument("--address", default=None, metavar="ADDR",
                   help="join this Ray cluster (e.g. auto, or ray://host:10001) instead of starting a local Ray; "
                        "OUT must then be a folder every node can write")
    p.add_argument("--resume", action="store_true",
                   help="continue interrupted runs (perception.run --resume) instead of starting them again")
    return p


@dataclass(frozen=True)
class Job:
    """One input and its run folder (``OUT/<stem>``, a suffix ``-2``, ``-3``, ... where stems clash)."""

    input: str
    out_dir: Path


def expand_inputs(items: list[str]) -> list[str]:
    """Files, globs and folders -> input paths, in a stable order, duplicates dropped."""
    found: list[str] = []
    for item in items:
        path = Path(item)
        if path.is_dir() and not (path / "metadata.yaml").is_file():
            entries = sorted(p for p in path.iterdir() if not p.name.startswith("."))
            inside = [str(p) for p in entries if (p.is_file() and p.suffix.lower() in INPUT_SUFFIXES)
                      or (p.is_dir() and (p / "metadata.yaml").is_file())]
            found += inside or [str(path)]  # no videos or logs: an image folder
        elif glob.has_magic(item) and not path.exists():
            matches = sorted(glob.glob(item))
            if not matches:
                raise UserInputError(f"--inputs {item}: matches no file")
            found += matches
        else:
            found.append(item)  # a file (a missing one fails in its own task, recorded in fleet.json)
    seen: set[str] = set()
    return [f for f in found if not (f in seen or seen.add(f))]


def plan_jobs(inputs: list[str], out: Path) -> list[Job]:
    """One job per input; clashing stems get ``-2``, ``-3``, ... in input order (stable across re-runs)."""
    used: Counter[str] = Counter()
    jobs = []
    for item in inputs:
        stem = run_job._input_stem(item)
        used[stem] += 1
        jobs.append(Job(item, out / (stem if used[stem] == 1 else f"{stem}-{used[stem]}")))
    return jobs


def run_stats(out_dir: Path) -> dict[str, Any]:
    """Key figures of a run folder for fleet.json (empty when it holds no run)."""
    try:
        data = read_run(out_dir)
    except ReportError:
        return {}
    s = data.summary
    ok = [r for r in data.records if r.get("status", "ok") != "failed"]
    classes = Counter(str(d.get("label")) for r in ok for d in r.get("detections") or [])
    egos = [r["ego"] for r in ok if isinstance(r.get("ego"), dict)]  # none with --lanes off
    ego = sum(1 for e in egos if e.get("lane_offset_m") is not None)
    return {"run_state": s.get("state"), "frames_read": s.get("frames_read", len(data.records)),
            "frames_processed": s.get("frames_processed", len(ok)), "frames_failed": s.get("frames_failed"),
            "fps": s.get("fps"), "wall_time_s": s.get("wall_time_s"),
            "detections_per_class": dict(sorted(classes.items())),
            "ego_lane_fraction": round(ego / len(ok), 3) if egos else None,
            "lanes_source": (s.get("lanes") or {}).get("source"),
            "plan_actions": (s.get("planning") or {}).get("actions"),
            "report": f"{out_dir.name}/report.html" if (out_dir / "report.html").is_file() else None}


def finished_before(out_dir: Path) -> bool:
    try:
        return json.loads((out_dir / "summary.json").read_text()).get("state") == "finished"
    except (OSError, ValueError, AttributeError):
        return False


# The model and runner a worker process loaded for its previous input: Ray reuses its worker processes for the
# tasks of one fleet, so each worker loads the model once (perception.run.ModelCache; one model per process).
WORKER_MODELS = run_job.ModelCache()


def run_one(input_path: str, out_dir: str, run_flags: list[str], threads: int,
            models: run_job.ModelCache | None = None) -> dict[str, Any]:
    """A Ray task (also callable in-process): ``perception.run.main`` on one input. Never raises.

    ``models``: where loaded models are kept between inputs (default: this process's ``WORKER_MODELS``).
    Returns {"state": finished|interrupted|failed, "exit_code", "error" (one line) or None, "model_reused",
    **run_stats}."""
    models = WORKER_MODELS if models is None else models
    hits = models.hits
    argv = ["--source", input_path, "--output", out_dir, "--no-progress", "--threads", str(threads), *run_flags]
    if run_flags.count("--resume") and not (Path(out_dir) / "frames.jsonl").is_file():
        argv.remove("--resume")  # nothing to resume: a fresh run
    stderr = io.StringIO()
    t0 = time.perf_counter()
    try:
        with contextlib.redirect_stderr(stderr):
            code = run_job.main(run_job.get_args_parser().parse_args(argv), models=models)
    except KeyboardInterrupt:  # cancelled before the run's own handlers took over
        code = 130
    except SystemExit as e:  # a flag perception.run refuses (checked by the driver, so rare)
        code = e.code if isinstance(e.code, int) else EXIT_BAD_INPUT
    except Exception as e:  # noqa: BLE001  (a crash in one input must not stop the fleet)
        code = 1
        print(f"error: crashed: {type(e).__name__}: {clean_message(str(e))}", file=stderr)
    lines = [line for line in stderr.getvalue().splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("error")]
    state = {0: "finished", 130: "interrupted"}.get(code, "failed")
    error = (errors[-1] if errors else (lines[-1] if lines else f"exit code {code}")) if state == "failed" else None
    return {"state": state, "exit_code": code, "error": error, "task_s": round(time.perf_counter() - t0, 3),
            "model_reused": models.hits > hits, **run_stats(Path(out_dir))}


class FrameCounter:
    """Frames written over the whole fleet, from the run folders' frames.jsonl (new bytes only, each poll)."""

    def __init__(self, jobs: list[Job]):
        self.offsets = {job.out_dir / "frames.jsonl": 0 for job in jobs}
        self.frames = 0

    def poll(self) -> int:
        for path, offset in self.offsets.items():
            try:
                with path.open("rb") as f:
                    if os.fstat(f.fileno()).st_size < offset:  # a fresh run replaced the file
                        offset = 0
                    f.seek(offset)
                    chunk = f.read()
            except OSError:
                continue
            self.frames += chunk.count(b"\n")
            self.offsets[path] = offset + len(chunk)
        return self.frames


def _totals(entries: list[dict[str, Any]]) -> dict[str, Any]:
    states = Counter(e["state"] for e in entries)
    classes: Counter[str] = Counter()
    for e in entries:
        classes.update(e.get("detections_per_class") or {})
    return {"inputs": len(entries), **{k: states.get(k, 0) for k in ("finished", "skipped", "failed",
                                                                      "interrupted", "not_started")},
            "frames_read": sum(e.get("frames_read") or 0 for e in entries),
            "frames_processed": sum(e.get("frames_processed") or 0 for e in entries),
            "frames_failed": sum(e.get("frames_failed") or 0 for e in entries),
            "detections": sum(classes.values()), "detections_per_class": dict(sorted(classes.items()))}


def write_fleet(out: Path, jobs: list[Job], results: dict[Job, dict[str, Any]], *, wall_s: float, workers: int,
                threads: int, address: str | None, run_flags: list[str], interrupted: bool) -> dict[str, Any]:
    entries = [{"input": job.input, "output_dir": str(job.out_dir),
                **results.get(job, {"state": "not_started"})} for job in jobs]
    fleet = {"output": str(out), "state": "interrupted" if interrupted else "finished", "workers": workers,
             "threads_per_worker": threads, "address": address, "run_flags": run_flags,
             "wall_time_s": round(wall_s, 3), "totals": _totals(entries), "inputs": entries}
    write_json_atomic(out / "fleet.json", fleet)
    tmp = out / ".index.html.tmp"
    tmp.write_text(index_html(fleet), encoding="utf-8")
    os.replace(tmp, out / "index.html")
    return fleet


def _check_run_flags(run_flags: list[str]) -> None:
    """Refuse perception.run flags that the replay sets itself, and typos, before anything starts."""
    for flag in run_flags:
        if flag.split("=")[0] in OWN_FLAGS:
            raise UserInputError(f"{flag}: perception.replay sets it for each input (--resume is a replay flag)")
    run_job.get_args_parser().parse_args(["--source", "x", *run_flags])  # one line and exit 2 on a bad flag


def replay(args: argparse.Namespace, run_flags: list[str]) -> int:
    """The fleet job; returns the exit code (0 every input finished or skipped, 1 some failed, 130 Ctrl-C)."""
    try:
        import ray
    except ImportError:
        raise UserInputError("perception.replay needs ray: pip install -c constraints.txt -e '.[fleet]'") from None
    from tqdm import tqdm

    t0 = time.perf_counter()
    out = Path(args.output)
    jobs = plan_jobs(expand_inputs(args.inputs), out)
    if not jobs:
        raise UserInputError("--inputs: no input found")
    out.mkdir(parents=True, exist_ok=True)
    workers = min(args.workers, len(jobs))
    threads = max(1, (os.cpu_count() or 1) // workers)
    flags = run_flags + (["--resume"] if args.resume else [])
    results: dict[Job, dict[str, Any]] = {}
    todo = []
    for job in jobs:
        if finished_before(job.out_dir):
            results[job] = {"state": "skipped", "error": None, **run_stats(job.out_dir)}
        else:
            todo.append(job)
    print(f"{len(jobs)} inputs: {len(jobs) - len(todo)} finished before (skipped), {len(todo)} to run on "
          f"{workers} workers x {threads} threads", file=sys.stderr)
    interrupted = False
    if todo:
        if args.address:
            ray.init(address=args.address, log_to_driver=False)
        else:
            ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False)
        task = ray.remote(num_cpus=1, max_retries=0)(run_one).options(
            runtime_env={"env_vars": {"OMP_NUM_THREADS": str(threads)}})
        counter = FrameCounter(todo)
        max_frames = run_job.get_args_parser().parse_args(["--source", "x", *run_flags]).max_frames
        bar = tqdm(total=max_frames * len(todo) if max_frames else None, unit="frame", file=sys.stderr,
                   dynamic_ncols=True, desc="fleet")
        pending: dict[Any, Job] = {}
        queue = list(todo)
        try:
            while queue or pending:
                while queue and len(pending) < workers:  # at most N in flight, also on a bigger cluster
                    job = queue.pop(0)
                    pending[task.remote(job.input, str(job.out_dir), flags, threads)] = job
                done, _ = ray.wait(list(pending), num_returns=1, timeout=POLL_S)
                for ref in done:
                    job = pending.pop(ref)
                    try:
                        results[job] = ray.get(ref)
                    except Exception as e:  # noqa: BLE001  (the worker died: out of memory, killed)
                        results[job] = {"state": "failed", "error": f"error: task lost: {clean_message(str(e))[:300]}",
                                        **run_stats(job.out_dir)}
                    if results[job]["state"] == "failed":
                        bar.write(f"{job.input}: {results[job]['error']}")
                bar.update(counter.poll() - bar.n)
        except KeyboardInterrupt:
            interrupted = True
            bar.write("interrupted: stopping the runs after their current frame ...")
            for ref in pending:
                ray.cancel(ref)  # KeyboardInterrupt in the task: the run closes its outputs (state interrupted)
            for ref, job in pending.items():
                try:
                    results[job] = ray.get(ref, timeout=30)
                except Exception:  # noqa: BLE001  (cancelled before it started, or did not stop in time)
                    results[job] = {"state": "interrupted", "error": None, **run_stats(job.out_dir)}
        finally:
            bar.close()
            ray.shutdown()
    fleet = write_fleet(out, jobs, results, wall_s=time.perf_counter() - t0, workers=workers, threads=threads,
                        address=args.address, run_flags=flags, interrupted=interrupted)
    t = fleet["totals"]
    print(f"{t['finished']} finished, {t['skipped']} skipped, {t['failed']} failed, {t['interrupted']} interrupted; "
          f"{t['frames_processed']} frames in {fleet['wall_time_s']:.1f} s | {out / 'fleet.json'} | "
          f"{out / 'index.html'}", file=sys.stderr)
    if interrupted:
        return 130
    return 1 if t["failed"] else 0


def main(argv: list[str] | None = None) -> int:
    args, run_flags = get_args_parser().parse_known_args(argv)
    try:
        _check_run_flags(run_flags)
        return replay(args, run_flags)
    except UserInputError as e:
        print(f"error: {clean_message(str(e))}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("interrupted before any run started", file=sys.stderr)
        return 130


def cli() -> None:
    exit_with(main())
