"""Fault cases of the main job, run as a user would, against the real dashcam clip; prints a table, writes JSON.

    python benchmarks/faults.py [--cases a,b] [--list] [--video PATH] [--timeout 300] [--keep]
                                [--output benchmarks/out/faults.json]

Each case runs ``python -m perception.run`` (and the recovery tools) in subprocesses on the clip, or on a copy of it
damaged the way a user's file gets damaged (``dd`` of random bytes, cut short, a log cut short, a killed run), and
checks what a user can observe: the exit code, one ``error:`` line on stderr and no traceback, what is left in the
output folder, the fields of ``summary.json`` and ``frames.jsonl``. Table: case, expected, observed, ok (yes, no, or
skipped with the reason in the observed column). Exit code 0 when every case that ran is ok, 1 otherwise.

The ONNX cache of these runs is a temporary folder (``PERCEPTION_CACHE_DIR``), never the user's; every file goes to
a temporary folder removed at the end (``--keep`` keeps it). The whole set takes about 8 minutes on 2 cores.

Frame identity after damage is checked on what the run wrote: the per-class segmentation fractions of an ``ok``
record must be those of the undamaged clip's frame at the same index (a clean run of the whole clip is made once);
exactly another frame's means a shifted frame, no clean frame's means damaged pixels reported as ``ok``.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from perception.cli import OneLineArgumentParser  # noqa: E402

DEFAULT_CLIP = REPO.parent / "shared" / "data" / "udacity_lanelines_p1" / "solidWhiteRight.mp4"
CLIP_FRAMES, CLIP_FPS = 221, 25  # solidWhiteRight.mp4: 960x540, H.264, key frames every 30, index before the data
FAST = ("--no-video", "--no-progress", "--lanes", "off", "--planner", "off")
LOCK = ".lock"
SAME_FRAME = 1e-3  # summed |difference| of the per-class segmentation fractions of one image decoded twice


class Skip(Exception):
    """A case that cannot be staged here; the message says why."""


@dataclass
class Proc:
    returncode: int
    stdout: str
    stderr: str

    @property
    def lines(self) -> list[str]:
        return [line for line in self.stderr.splitlines() if line.strip()]


@dataclass
class Ctx:
    clip: Path
    root: Path
    timeout: float
    env: dict[str, str]
    _shared: dict[str, object] = field(default_factory=dict)

    def folder(self, name: str) -> Path:
        path = self.root / name
        path.mkdir(parents=True)
        return path

    def cmd(self, module: str, *args: str) -> list[str]:
        return [sys.executable, "-m", module, *map(str, args)]

    def run(self, module: str, *args: str, cwd: Path = REPO, timeout: float | None = None) -> Proc:
        return self.run_argv(self.cmd(module, *args), cwd=cwd, timeout=timeout)

    def run_argv(self, argv: list[str], cwd: Path = REPO, timeout: float | None = None) -> Proc:
        try:
            done = subprocess.run(argv, cwd=cwd, env=self.env, capture_output=True, text=True,
                                  timeout=timeout or self.timeout)
        except subprocess.TimeoutExpired as e:
            raise CaseTimeout(f"timed out after {e.timeout:.0f} s: {' '.join(argv[2:5])} ...") from None
        return Proc(done.returncode, done.stdout, done.stderr)

    def start(self, module: str, *args: str, cwd: Path = REPO) -> subprocess.Popen:
        return subprocess.Popen(self.cmd(module, *args), cwd=cwd, env=self.env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)

    def finish(self, proc: subprocess.Popen, timeout: float | None = None) -> Proc:
        try:
            out, err = proc.communicate(timeout=timeout or self.timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
            raise CaseTimeout(f"timed out after {timeout or self.timeout:.0f} s") from None
        return Proc(proc.returncode, out, err)

    def shared(self, key: str, make: Callable[[], object]) -> object:
        """What several cases start from (a clean reference run, a killed run), made once per script run."""
        if key not in self._shared:
            self._shared[key] = make()
        return self._shared[key]


class CaseTimeout(Exception):
    pass


# ---------------------------------------------------------------------------------------------------------------
# What a user can observe.

def one_line_error(p: Proc, *needles: str, warnings_too: bool = False) -> tuple[bool, str]:
    """Exit 2, exactly one 'error:' line naming every needle, no traceback, no terminal escape codes.
    ``warnings_too``: 'warning:' lines may come before it (e.g. a stale lock taken over)."""
    lines = [ln for ln in p.lines if not (warnings_too and ln.startswith("warning:"))]
    first = lines[0] if lines else "(no stderr)"
    problems = []
    if p.returncode != 2:
        problems.append(f"exit {p.returncode}")
    if "Traceback" in p.stderr:
        problems.append("traceback")
    if len(lines) != 1:
        problems.append(f"{len(lines)} stderr lines")
    if not first.startswith("error:"):
        problems.append("no 'error:' line")
    if "\x1b" in p.stderr:
        problems.append("escape codes")
    problems += [f"{n!r} not named" for n in needles if n not in first]
    return not problems, (f"exit {p.returncode}: {short(first)}" if not problems
                          else "; ".join(problems) + f" | {short(first)}")


TMP_NAMES: dict[str, str] = {}  # the cases' temporary folder -> "$TMP" in what the table shows


def short(text: str, n: int = 160) -> str:
    for long, name in TMP_NAMES.items():
        text = text.replace(long, name)
    text = " ".join(text.split())
    return text if len(text) <= n else text[: n - 3] + "..."


def no_traceback(p: Proc) -> str | None:
    return "traceback on stderr" if "Traceback" in p.stderr else None


def read_jsonl(path: Path) -> tuple[list[dict], int, bool]:
    """(records of the whole lines, lines that are not JSON, whether a cut line without newline ends the file)."""
    if not path.exists():
        return [], 0, False
    parts = path.read_bytes().decode("utf-8", "replace").split("\n")
    tail = parts.pop()
    recs, bad = [], 0
    for line in parts:
        try:
            recs.append(json.loads(line))
        except ValueError:
            bad += 1
    return recs, bad, tail != ""


def summary(out: Path) -> dict:
    path = out / "summary.json"
    return json.loads(path.read_text()) if path.exists() else {}


def consecutive(recs: list[dict], first: int = 0) -> bool:
    return [r.get("frame") for r in recs] == list(range(first, first + len(recs)))


def count_video_frames(path: Path) -> int:
    import cv2

    cap = cv2.VideoCapture(str(path))
    n = 0
    while cap.read()[0]:
        n += 1
    cap.release()
    return n


def wait_for(cond: Callable[[], bool], proc: subprocess.Popen, timeout: float, what: str) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if cond():
            return
        if proc.poll() is not None:
            _, err = proc.communicate()
            raise RuntimeError(f"the run ended before {what}: {short(err, 80)}")
        time.sleep(0.02)
    proc.kill()
    proc.communicate()
    raise CaseTimeout(f"no {what} within {timeout:.0f} s")


def n_lines(path: Path) -> int:
    return path.read_bytes().count(b"\n") if path.exists() else 0


def nothing_in(folder: Path) -> bool:
    return not folder.exists() or not any(folder.iterdir())


def verdict(problems: list[str], observed: str) -> tuple[bool, str]:
    """(ok, what the table shows): the observation, after what is wrong when something is."""
    if not problems:
        return True, observed
    wrong = "; ".join(problems)
    return False, wrong if observed in wrong else f"{wrong} | {observed}"


def spans(indices: list[int]) -> str:
    """[3, 4, 5, 9] -> '3-5, 9'."""
    out, start = [], None
    for i, v in enumerate(indices):
        if start is None:
            start = v
        if i + 1 == len(indices) or indices[i + 1] != v + 1:
            out.append(f"{start}-{v}" if v != start else f"{v}")
            start = None
    return ", ".join(out) or "none"


# ---------------------------------------------------------------------------------------------------------------
# Inputs a user might have: damaged copies of the clip, stills, logs, camera files, weights.

def dd_copy(ctx: Ctx, name: str, *, seek_kib: int, count_kib: int, seed: int = 0) -> Path:
    """``dd if=/dev/urandom of=COPY bs=1024 count=COUNT seek=SEEK conv=notrunc``, with a seeded RNG."""
    import numpy as np

    data = bytearray(ctx.clip.read_bytes())
    data[seek_kib * 1024:(seek_kib + count_kib) * 1024] = np.random.default_rng(seed).bytes(count_kib * 1024)
    path = ctx.folder(name) / "damaged.mp4"
    path.write_bytes(bytes(data))
    return path


def cut_copy(ctx: Ctx, folder: Path, fraction: float = 0.5) -> Path:
    data = ctx.clip.read_bytes()
    path = folder / "cut.mp4"
    path.write_bytes(data[: int(len(data) * fraction)])
    return path


def seg_vector(rec: dict, classes: list[str]) -> list[float]:
    return [rec["segmentation"].get(c, 0.0) for c in classes]


def clean_reference(ctx: Ctx) -> list[dict]:
    """frames.jsonl of an undamaged run over the whole clip (the per-frame segmentation is a fingerprint)."""
    def make() -> list[dict]:
        out = ctx.root / "reference" / "out"
        p = ctx.run("perception.run", "--source", ctx.clip, "--output", out, *FAST)
        if p.returncode != 0:
            raise RuntimeError(f"the clean reference run failed: {short(p.stderr, 80)}")
        return read_jsonl(out / "frames.jsonl")[0]
    return ctx.shared("reference", make)  # type: ignore[return-value]


def identity_check(recs: list[dict], ref: list[dict]) -> tuple[int, list[int], list[int]]:
    """(ok records checked, those showing another frame: their segmentation is exactly that of the clean clip's
    frame at another index, those matching no clean frame: damaged pixels reported ok).

    The same decoded image gives the same per-class fractions (5 decimals); a damaged image gives other ones,
    which may happen to lie nearer another frame's, so only an exact match elsewhere counts as another frame."""
    import numpy as np

    classes = sorted(ref[0]["segmentation"])
    clean = np.array([seg_vector(r, classes) for r in ref])
    checked, wrong, differs = 0, [], []
    for r in recs:
        if r.get("status") != "ok":
            continue
        checked += 1
        dist = np.abs(clean - np.array(seg_vector(r, classes))).sum(axis=1)
        if dist[r["frame"]] <= SAME_FRAME:
            continue
        (wrong if dist.min() <= SAME_FRAME else differs).append(r["frame"])
    return checked, wrong, differs


def write_stills(folder: Path, clip: Path, sizes: list[tuple[int, int]]) -> Path:
    import cv2

    folder.mkdir(parents=True)
    cap = cv2.VideoCapture(str(clip))
    for i, size in enumerate(sizes):
        ok, frame = cap.read()
        if not ok:
            raise RuntimeError("could not read the clip")
        cv2.imwrite(str(folder / f"{i:04d}.png"), cv2.resize(frame, size) if frame.shape[1::-1] != size else frame)
    cap.release()
    return folder


def camera_file(path: Path, width_px: int, height_px: int) -> Path:
    import math

    from calibration import default_camera, save_camera_opencv

    cam = default_camera(width_px, height_px).with_mounting(height_m=1.5, pitch_rad=math.radians(2.0), yaw_rad=0.0,
                                                            roll_rad=0.0)
    save_camera_opencv(cam, path)
    return path


def log_from_clip(ctx: Ctx, out: Path, *extra: str) -> Proc:
    return ctx.run("perception.tools.video_to_log", "--video", ctx.clip, "--output", out, *extra)


def need_module(name: str, why: str) -> None:
    import importlib.util

    if importlib.util.find_spec(name) is None:
        raise Skip(f"the {name} package is not installed ({why})")


# ---------------------------------------------------------------------------------------------------------------
# The cases. Each returns (ok, observed) or raises Skip.

def case_damage_mid_dd(ctx: Ctx):
    damaged = dd_copy(ctx, "damage_mid", seek_kib=1289, count_kib=200)
    out = damaged.parent / "out"
    p = ctx.run("perception.run", "--source", damaged, "--output", out, *FAST)
    recs, bad, cut = read_jsonl(out / "frames.jsonl")
    ref = clean_reference(ctx)
    problems = [x for x in (no_traceback(p),) if x]
    if p.returncode != 0:
        problems.append(f"exit {p.returncode}")
    if not consecutive(recs) or len(recs) != CLIP_FRAMES or bad or cut:
        problems.append(f"{len(recs)} records, frames not 0..{CLIP_FRAMES - 1} once")
    if any(abs(r.get("timestamp_s", -1) - r.get("frame", 0) / CLIP_FPS) > 1e-3 for r in recs):
        problems.append("timestamp_s != frame/25")
    failed = [r["frame"] for r in recs if r.get("status") == "failed"]
    flagged = [r["frame"] for r in recs if r.get("status") == "damaged"]
    if not failed or failed != list(range(failed[0], failed[-1] + 1)) or failed[-1] >= CLIP_FRAMES - 1:
        problems.append("lost frames not one block in the middle")
    if recs and recs[-1].get("status") != "ok":
        problems.append(f"last record {recs[-1].get('status')}")
    checked, wrong, differs = identity_check(recs, ref)
    if wrong or not checked:
        problems.append(f"ok records showing another frame: {spans(wrong)}")
    if differs:
        problems.append(f"ok records matching no clean frame (damaged pixels, unflagged): {spans(differs)}")
    if not summary(out).get("input_damage"):
        problems.append("no input_damage in summary.json")
    return verdict(problems, f"exit {p.returncode}; failed {spans(failed)}, damaged {spans(flagged)}; "
                             f"{checked - len(wrong) - len(differs)}/{checked} ok records are the clean frame of "
                             f"their index")


def case_damage_4kib(ctx: Ctx):
    damaged = dd_copy(ctx, "damage_4kib", seek_kib=500, count_kib=4)
    out = damaged.parent / "out"
    p = ctx.run("perception.run", "--source", damaged, "--output", out, "--max-frames", "90", *FAST)
    recs, bad, cut = read_jsonl(out / "frames.jsonl")
    ref = clean_reference(ctx)
    problems = [x for x in (no_traceback(p),) if x]
    if p.returncode != 0:
        problems.append(f"exit {p.returncode}")
    if not consecutive(recs) or len(recs) != 90 or bad or cut:
        problems.append(f"{len(recs)} records, not frames 0..89")
    flagged = [r["frame"] for r in recs if r.get("status") == "damaged"]
    failed = [r["frame"] for r in recs if r.get("status") == "failed"]
    if not flagged:
        problems.append("no frame flagged 'damaged'")
    if any(not r.get("warning") for r in recs if r.get("status") == "damaged"):
        problems.append("a damaged record without a warning")
    checked, wrong, differs = identity_check(recs, ref)
    if wrong:
        problems.append(f"ok records showing another frame: {spans(wrong)}")
    if differs:
        problems.append(f"ok records matching no clean frame (damaged pixels, unflagged): {spans(differs)}")
    return verdict(problems, f"exit {p.returncode}; damaged (with warning) {spans(flagged)}, failed {spans(failed)}; "
                             f"{checked - len(wrong) - len(differs)}/{checked} ok records match the clean clip")


def case_video_cut_short(ctx: Ctx):
    folder = ctx.folder("cut_short")
    cut = cut_copy(ctx, folder)
    out = folder / "out"
    p = ctx.run("perception.run", "--source", cut, "--output", out, *FAST)
    recs, bad, tail = read_jsonl(out / "frames.jsonl")
    s = summary(out)
    failed = [r["frame"] for r in recs if r.get("status") == "failed"]
    problems = [x for x in (no_traceback(p),) if x]
    if p.returncode != 0:
        problems.append(f"exit {p.returncode}")
    if "warning: input damaged" not in p.stderr:
        problems.append("no 'warning: input damaged'")
    if not s.get("input_damage"):
        problems.append("no input_damage in summary.json")
    if not consecutive(recs) or len(recs) != CLIP_FRAMES or bad or tail:
        problems.append(f"{len(recs)} records")
    if not failed or failed != list(range(failed[0], CLIP_FRAMES)):
        problems.append("the lost frames are not the tail")
    note = short((s.get("input_damage") or ["-"])[0], 50)
    return verdict(problems, f"exit {p.returncode}; {len(recs)} records, tail {spans(failed)} failed; "
                             f"input_damage: {note}")


def case_lock_one_folder(ctx: Ctx):
    out = ctx.folder("lock_one") / "out"
    first = ctx.start("perception.run", "--source", ctx.clip, "--output", out, *FAST)
    try:
        wait_for(lambda: n_lines(out / "frames.jsonl") >= 1, first, ctx.timeout, "the first frame")
        second = ctx.run("perception.run", "--source", ctx.clip, "--output", out, "--max-frames", "2", *FAST)
        if first.poll() is None:
            first.send_signal(signal.SIGINT)
        a = ctx.finish(first)
    finally:
        if first.poll() is None:
            first.kill()
    ok, seen = one_line_error(second, str(out), f"{first.pid}@{socket.gethostname()}")
    recs, bad, cut = read_jsonl(out / "frames.jsonl")
    problems = [] if ok else [f"second run: {seen}"]
    valid = consecutive(recs) and not bad and not cut and summary(out).get("frames_read") == len(recs)
    if a.returncode not in (0, 130) or not valid:
        problems.append(f"first run: exit {a.returncode}, {len(recs)} records, {bad} bad lines")
    return verdict(problems, f"second run {seen}; first run exit {a.returncode}, {len(recs)} valid records")


def case_lock_default_folder(ctx: Ctx):
    cwd = ctx.folder("lock_default")
    shutil.copy(ctx.clip, cwd / "drive.mp4")
    procs = [ctx.start("perception.run", "--source", "drive.mp4", "--max-frames", "5", *FAST, cwd=cwd)
             for _ in range(2)]
    done = [ctx.finish(p) for p in procs]
    folders = sorted(p.name for p in (cwd / "runs").iterdir()) if (cwd / "runs").exists() else []
    problems = [f"exit {d.returncode}: {short(d.stderr, 60)}" for d in done if d.returncode != 0]
    if folders != ["drive", "drive-2"]:
        problems.append(f"folders {folders}")
    counts = []
    for name in folders:
        recs, bad, cut = read_jsonl(cwd / "runs" / name / "frames.jsonl")
        counts.append(len(recs))
        if len(recs) != 5 or not consecutive(recs) or bad or cut:
            problems.append(f"runs/{name}/frames.jsonl: {len(recs)} records, {bad} bad")
    return verdict(problems, f"exits {[d.returncode for d in done]}; runs/{', runs/'.join(folders)} with "
                             f"{counts} records")


def case_lock_stale(ctx: Ctx):
    out = ctx.folder("lock_stale") / "out"
    out.mkdir()
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (out / LOCK).write_text(json.dumps({"pid": dead.pid, "host": socket.gethostname()}))
    p = ctx.run("perception.run", "--source", ctx.clip, "--output", out, "--max-frames", "2", *FAST)
    recs = read_jsonl(out / "frames.jsonl")[0]
    problems = [x for x in (no_traceback(p),) if x]
    if p.returncode != 0:
        problems.append(f"exit {p.returncode}")
    if "took over" not in p.stderr:
        problems.append("no 'took over' warning")
    if (out / LOCK).exists():
        problems.append("lock left behind")
    if len(recs) != 2:
        problems.append(f"{len(recs)} records")
    warning = next((ln for ln in p.lines if "took over" in ln), "-")
    return verdict(problems, f"exit {p.returncode}; {short(warning, 70)}; lock removed, {len(recs)} records")


def _bad_flag(flag: str, value: str):
    def case(ctx: Ctx):
        tmp = ctx.folder(f"flag{flag}{value}")
        t0 = time.perf_counter()
        p = ctx.run("perception.run", "--source", ctx.clip, "--output", tmp / "new" / "out", flag, value,
                    "--max-frames", "1", "--no-progress", timeout=min(ctx.timeout, 120))
        ok, seen = one_line_error(p, flag)
        problems = [] if ok else [seen]
        if not nothing_in(tmp):
            problems.append("something was created")
        return verdict(problems, f"{seen} ({time.perf_counter() - t0:.1f} s), nothing created")
    return case


def case_flag_other_numbers(ctx: Ctx):
    tmp = ctx.folder("flag_others")
    values = [("--conf", "nan"), ("--conf", "1.5"), ("--ego-speed-mps", "61"), ("--max-frames", "0"),
              ("--fps", "0"), ("--fps", "-inf")]
    bad = []
    for flag, value in values:
        p = ctx.run("perception.run", "--source", ctx.clip, "--output", tmp / "out", flag, value, "--no-progress",
                    timeout=min(ctx.timeout, 120))
        if not one_line_error(p, flag)[0] or not nothing_in(tmp):
            bad.append(f"{flag} {value}")
    return verdict([f"not refused cleanly: {', '.join(bad)}"] if bad else [],
                   f"{len(values) - len(bad)}/{len(values)} refused in one line, exit 2, nothing created")


def case_resume_track_ids(ctx: Ctx):
    tmp = ctx.folder("resume_ids")
    shutil.copy(ctx.clip, tmp / "drive.mp4")
    (tmp / "elsewhere").mkdir()
    out = tmp / "out"
    first = ctx.run("perception.run", "--source", "drive.mp4", "--output", out, "--max-frames", "6", *FAST, cwd=tmp)
    s1 = summary(out)
    next_id = (s1.get("tracking") or {}).get("next_track_id")
    ident_path = ((s1.get("input") or {}).get("identity") or {}).get("path")
    second = ctx.run("perception.run", "--source", "../drive.mp4", "--output", out, "--max-frames", "12", "--resume",
                     *FAST, cwd=tmp / "elsewhere")
    recs = read_jsonl(out / "frames.jsonl")[0]
    ids = {part: {d["track_id"] for r in recs if r["frame"] in rng for d in r.get("detections", [])
                  if d.get("track_id") is not None} for part, rng in (("a", range(6)), ("b", range(6, 12)))}
    problems = [f"run {i} exit {p.returncode}: {short(p.stderr, 50)}" for i, p in ((1, first), (2, second))
                if p.returncode != 0]
    if ident_path != str(tmp / "drive.mp4"):
        problems.append(f"identity path {ident_path}")
    if not consecutive(recs) or len(recs) != 12:
        problems.append(f"{len(recs)} records")
    if not ids["b"] or next_id is None or min(ids["b"]) < next_id:
        problems.append(f"resumed part's ids {sorted(ids['b'])} vs next id {next_id}")
    return verdict(problems, f"part 1 ids {sorted(ids['a'])} (next {next_id}), resumed from another folder: "
                             f"ids {sorted(ids['b'])}; path stored absolute")


def case_resume_killed_other_input(ctx: Ctx):
    tmp = ctx.folder("resume_killed")
    out = tmp / "out"
    run = ctx.start("perception.run", "--source", ctx.clip, "--output", out, *FAST)
    try:
        wait_for(lambda: n_lines(out / "frames.jsonl") >= 1, run, ctx.timeout, "the first frame")
    finally:
        run.send_signal(signal.SIGKILL)
        run.communicate()
    s = summary(out)
    recorded = bool((s.get("input") or {}).get("identity"))
    before = (out / "frames.jsonl").read_bytes()
    other = cut_copy(ctx, tmp)
    p = ctx.run("perception.run", "--source", other, "--output", out, "--resume", *FAST)
    ok, seen = one_line_error(p, "--resume", warnings_too=True)  # the killed run's stale lock: a warning
    problems = [] if ok else [seen]
    if not recorded:
        problems.append("summary.json had no input identity at the kill")
    if (out / "frames.jsonl").read_bytes() != before:
        problems.append("frames.jsonl changed")
    return verdict(problems, f"identity recorded before frame 1: {'yes' if recorded else 'no'}; {seen}")


def case_resume_changed_bytes(ctx: Ctx):
    tmp = ctx.folder("resume_changed")
    drive = tmp / "drive.mp4"
    shutil.copy(ctx.clip, drive)
    out = tmp / "out"
    first = ctx.run("perception.run", "--source", drive, "--output", out, "--max-frames", "2", *FAST)
    stat = drive.stat()
    data = bytearray(drive.read_bytes())
    data[-100] ^= 0xFF  # same size, same mtime: only the hash of the last MiB tells
    drive.write_bytes(bytes(data))
    os.utime(drive, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    kept = {f.name: f.read_bytes() for f in out.iterdir()}
    p = ctx.run("perception.run", "--source", drive, "--output", out, "--max-frames", "4", "--resume", *FAST)
    ok, seen = one_line_error(p, "--resume", "sha256_first_last_mib")
    problems = [] if ok else [seen]
    if first.returncode != 0:
        problems.append(f"first run exit {first.returncode}")
    if {f.name: f.read_bytes() for f in out.iterdir()} != kept:
        problems.append("the output folder changed")
    return verdict(problems, seen)


def case_resume_stale_parts(ctx: Ctx):
    out = ctx.folder("stale_parts") / "out"
    out.mkdir()
    (out / "annotated.part2.mp4").write_bytes(b"from an earlier, resumed run")
    (out / "notes.txt").write_text("the user's own file")
    p = ctx.run("perception.run", "--source", ctx.clip, "--output", out, "--max-frames", "1", "--no-progress",
                "--lanes", "off", "--planner", "off")
    names = sorted(f.name for f in out.iterdir())
    problems = [f"exit {p.returncode}"] if p.returncode else []
    if "annotated.part2.mp4" in names or "notes.txt" not in names or "annotated.mp4" not in names:
        problems.append("wrong files")
    return verdict(problems, f"exit {p.returncode}; left: {', '.join(names)}")


def case_resume_after_sigint(ctx: Ctx):
    tmp = ctx.folder("resume_sigint")
    out = tmp / "out"
    total = 16
    mcap = ["--mcap-out", str(tmp / "r.mcap")] if _has("mcap") else []
    args = ("--source", ctx.clip, "--output", out, "--max-frames", str(total), "--no-progress", "--lanes", "off",
            "--planner", "off", *mcap)
    run = ctx.start("perception.run", *args)
    wait_for(lambda: n_lines(out / "frames.jsonl") >= 4, run, ctx.timeout, "4 frames")
    run.send_signal(signal.SIGINT)
    a = ctx.finish(run)
    n_first = n_lines(out / "frames.jsonl")
    b = ctx.run("perception.run", *args, "--resume")
    recs, bad, cut = read_jsonl(out / "frames.jsonl")
    s = summary(out)
    v1, v2 = count_video_frames(out / "annotated.mp4"), count_video_frames(out / "annotated.part2.mp4")
    problems = []
    if a.returncode != 130 or b.returncode != 0:
        problems.append(f"exits {a.returncode}, {b.returncode}")
    if not consecutive(recs) or len(recs) != total or bad or cut:
        problems.append(f"{len(recs)} records")
    if (v1, v2) != (n_first, total - n_first):
        problems.append(f"video parts {v1}+{v2} frames")
    if [q.get("interrupted") for q in s.get("parts", [])] != [True, False]:
        problems.append("parts in summary.json")
    return verdict(problems, f"SIGINT at {n_first} (exit {a.returncode}), --resume exit {b.returncode}: frames "
                             f"0-{len(recs) - 1} once, annotated.mp4 {v1} + part2 {v2} frames")


def case_resume_half_line(ctx: Ctx):
    out = ctx.folder("resume_half") / "out"
    first = ctx.run("perception.run", "--source", ctx.clip, "--output", out, "--max-frames", "2", *FAST)
    with open(out / "frames.jsonl", "a") as f:
        f.write('{"frame":2,"timestamp_s":0.08,"status":"o')
    (out / "summary.json").unlink()
    p = ctx.run("perception.run", "--source", ctx.clip, "--output", out, "--max-frames", "4", "--resume", *FAST)
    recs, bad, cut = read_jsonl(out / "frames.jsonl")
    s = summary(out)
    problems = [f"exits {first.returncode}, {p.returncode}"] if first.returncode or p.returncode else []
    if [r["frame"] for r in recs] != [0, 1, 2, 3] or bad or cut:
        problems.append(f"frames {[r.get('frame') for r in recs]}")
    if not s.get("frames_jsonl_bytes_dropped"):
        problems.append("frames_jsonl_bytes_dropped missing")
    return verdict(problems, f"exit {p.returncode}; frames {[r.get('frame') for r in recs]}, "
                             f"{s.get('frames_jsonl_bytes_dropped')} bytes of the cut line dropped")


def _capsh_prefix() -> list[str]:
    if os.geteuid() != 0:
        return []
    capsh = shutil.which("capsh")
    drop = "--drop=cap_dac_override,cap_dac_read_search"
    if capsh is None or subprocess.run([capsh, drop, "--", "-c", "true"], capture_output=True).returncode != 0:
        raise Skip("running as root, which ignores file modes, and capsh cannot drop that here")
    return [capsh, drop, "--", "-c", 'exec "$0" "$@"']


def case_readonly_output(ctx: Ctx):
    prefix = _capsh_prefix()
    out = ctx.folder("readonly") / "out"
    out.mkdir()
    (out / "frames.jsonl").write_text('{"frame": 0}\n')
    out.chmod(0o555)
    try:
        p = ctx.run_argv([*prefix, *ctx.cmd("perception.run", "--source", ctx.clip, "--output", out,
                                            "--max-frames", "2", *FAST)])
        names = sorted(f.name for f in out.iterdir())
    finally:
        out.chmod(0o755)
    ok, seen = one_line_error(p, str(out), "ermission denied")
    return verdict([] if ok and names == ["frames.jsonl"] else [f"left {names}"] if ok else [seen], seen)


def _tmpfs_run(ctx: Ctx, name: str, size: str, build: Callable[[Path, Path], list[str]]) -> tuple[Proc, Path]:
    """Run perception.run with a ``size`` tmpfs mounted (a private mount namespace) at MNT; what the run left there
    is copied to COPY. ``build(MNT, HERE)`` gives the flags. Returns (the run, COPY)."""
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        raise Skip("a full disk is staged with a small tmpfs in a private mount namespace: needs root and unshare")
    here = ctx.folder(name)
    mnt, copy = here / "mnt", here / "copy"
    mnt.mkdir()
    copy.mkdir()
    probe = subprocess.run(["unshare", "-m", "sh", "-c", f"mount -t tmpfs -o size=64k tmpfs '{mnt}'"],
                           capture_output=True, text=True)
    if probe.returncode != 0:
        raise Skip(f"cannot mount a tmpfs here ({short(probe.stderr, 60)})")
    argv = " ".join(f"'{a}'" for a in ctx.cmd("perception.run", *build(mnt, here)))
    script = (f"mount -t tmpfs -o size={size} tmpfs '{mnt}' || exit 99; {argv}; rc=$?; "
              f"cp -a '{mnt}/.' '{copy}/'; exit $rc")
    return ctx.run_argv(["unshare", "-m", "sh", "-c", script]), copy


def case_disk_full_output(ctx: Ctx):
    p, copy = _tmpfs_run(ctx, "disk_full", "1m", lambda mnt, here: [
        "--source", str(ctx.clip), "--output", str(mnt / "out"), "--max-frames", "100", "--no-progress",
        "--lanes", "off", "--planner", "off"])
    out = copy / "out"
    recs, bad, cut = read_jsonl(out / "frames.jsonl")
    s = summary(out)
    ok, seen = one_line_error(p, "No space left", warnings_too=True)
    problems = [] if ok else [seen]
    if bad or not consecutive(recs):
        problems.append(f"frames.jsonl: {bad} bad lines")
    # No room is left for summary.json here: what it says is shown, not judged (disk_full_mcap judges it).
    state = ("with 'error'" if "error" in s
             else f"not updated (state {s.get('state')}, frames_read {s.get('frames_read')})")
    return verdict(problems, f"{seen}; {len(recs)} whole records{', a cut line at the end' if cut else ''}; "
                             f"summary.json {state}")


def case_disk_full_mcap(ctx: Ctx):
    need_module("mcap", "--mcap-out needs the 'logs' extra")
    p, _ = _tmpfs_run(ctx, "disk_full_mcap", "1m", lambda mnt, here: [
        "--source", str(ctx.clip), "--output", str(here / "out"), "--mcap-out", str(mnt / "r.mcap"),
        "--max-frames", "100", *FAST])
    out = ctx.root / "disk_full_mcap" / "out"
    recs, bad, cut = read_jsonl(out / "frames.jsonl")
    s = summary(out)
    ok, seen = one_line_error(p, "No space left", warnings_too=True)
    problems = [] if ok else [seen]
    if bad or cut or not consecutive(recs):
        problems.append(f"frames.jsonl: {bad} bad lines, cut {cut}")
    if "error" not in s or s.get("frames_read") != len(recs):
        problems.append(f"summary.json: no 'error', state {s.get('state')}, frames_read {s.get('frames_read')} "
                        f"of {len(recs)} records")
    return verdict(problems, f"{seen}; {len(recs)} records")


def case_device_tpu(ctx: Ctx):
    tmp = ctx.folder("device_tpu")
    p = ctx.run("perception.run", "--source", ctx.clip, "--output", tmp / "out", "--device", "tpu", "--max-frames",
                "2", *FAST)
    ok, seen = one_line_error(p, "--device", "tpu")
    return verdict([] if ok and nothing_in(tmp) else [seen if not ok else "something created"], seen)


def case_sigint_startup(ctx: Ctx):
    tmp = ctx.folder("sigint_startup")
    out = tmp / "out"
    run = ctx.start("perception.run", "--source", ctx.clip, "--output", out, "--max-frames", "2", *FAST)
    deadline = time.time() + ctx.timeout
    while time.time() < deadline and run.poll() is None and not (out / LOCK).exists():
        time.sleep(0.002)
    if run.poll() is None:
        run.send_signal(signal.SIGINT)
    p = ctx.finish(run)
    before_first = "before the first frame" in p.stderr
    problems = [x for x in (no_traceback(p),) if x]
    if p.returncode not in (130, 0):
        problems.append(f"exit {p.returncode}")
    if (out / LOCK).exists():
        problems.append("lock left")
    if before_first and (len(p.lines) != 1 or out.exists()):
        problems.append("more than one line, or the folder left behind")
    where = "before the first frame" if before_first else "after the first frame"
    return verdict(problems, f"exit {p.returncode} ({where}): {short(p.lines[-1] if p.lines else '-', 60)}; "
                             f"{'folder removed' if not out.exists() else 'folder kept'}, no lock")


def _signal_mid_run(sig: signal.Signals):
    def case(ctx: Ctx):
        out = ctx.folder(f"mid_{sig.name}") / "out"
        run = ctx.start("perception.run", "--source", ctx.clip, "--output", out, "--no-progress", "--lanes", "off",
                        "--planner", "off")
        wait_for(lambda: n_lines(out / "frames.jsonl") >= 10, run, ctx.timeout, "10 frames")
        run.send_signal(sig)
        p = ctx.finish(run)
        recs, bad, cut = read_jsonl(out / "frames.jsonl")
        s = summary(out)
        video = count_video_frames(out / "annotated.mp4")
        problems = [x for x in (no_traceback(p),) if x]
        if p.returncode != 130:
            problems.append(f"exit {p.returncode}")
        if not s.get("interrupted") or s.get("frames_read") != len(recs) or bad or cut or not consecutive(recs):
            problems.append(f"summary/frames.jsonl disagree ({s.get('frames_read')} vs {len(recs)})")
        if video != len(recs):
            problems.append(f"annotated.mp4 has {video} frames")
        if (out / LOCK).exists():
            problems.append("lock left")
        return verdict(problems, f"exit {p.returncode}; interrupted={s.get('interrupted')}, {len(recs)} records, "
                                 f"annotated.mp4 {video} frames, no lock")
    return case


def killed_run(ctx: Ctx) -> tuple[Path, int]:
    """(folder with out/ and r.mcap as SIGKILL left them after about 60 frames, records in frames.jsonl)."""
    need_module("mcap", "--mcap-out needs the 'logs' extra")

    def make():
        root = ctx.root / "killed"
        root.mkdir()
        out = root / "out"
        run = ctx.start("perception.run", "--source", ctx.clip, "--output", out, "--mcap-out", root / "r.mcap",
                        "--no-progress", "--lanes", "off", "--planner", "off")
        try:
            wait_for(lambda: n_lines(out / "frames.jsonl") >= 60, run, ctx.timeout, "60 frames")
        finally:
            run.send_signal(signal.SIGKILL)
            run.communicate()
        return root, n_lines(out / "frames.jsonl")
    root, n = ctx.shared("killed", make)  # type: ignore[misc]
    return root, n


def case_sigkill_join_video(ctx: Ctx):
    root, n = killed_run(ctx)
    here = ctx.root / "killed_join"
    shutil.copytree(root, here)
    out = here / "out"
    p = ctx.run("perception.tools.join_video", out)
    frames = count_video_frames(out / "annotated.mp4")
    lost_at_most = CLIP_FPS + 1
    problems = [f"exit {p.returncode}: {short(p.stderr, 60)}"] if p.returncode else []
    if not n - lost_at_most <= frames <= n:
        problems.append(f"{frames} frames of {n}")
    if list(out.glob(".*.segments")):
        problems.append("segments left")
    return verdict(problems, f"killed at {n} frames; join_video exit {p.returncode}: annotated.mp4 plays "
                             f"{frames} frames (lost {n - frames})")


def case_sigkill_recover_mcap(ctx: Ctx):
    root, n = killed_run(ctx)
    here = ctx.root / "killed_mcap"
    shutil.copytree(root, here)
    p = ctx.run("perception.tools.recover_mcap", here / "r.mcap")
    problems = [f"exit {p.returncode}: {short(p.stderr, 60)}"] if p.returncode else []
    counts, same = {}, False
    recovered = here / "r.recovered.mcap"
    if recovered.exists():
        from mcap.reader import make_reader

        with open(recovered, "rb") as f:  # an indexed reader: needs the summary
            reader = make_reader(f)
            summ = reader.get_summary()
            counts = {c.topic: summ.statistics.channel_message_counts.get(c.id, 0) for c in summ.channels.values()}
            msgs = [json.loads(m.data) for _, _, m in reader.iter_messages(topics=["/perception/frame"])]
        same = msgs == read_jsonl(here / "out" / "frames.jsonl")[0][:len(msgs)]
    if not counts or not all(n - CLIP_FPS - 1 <= c <= n for c in counts.values()):
        problems.append(f"message counts {sorted(set(counts.values()))} of {n}")
    if not same:
        problems.append("messages differ from frames.jsonl")
    return verdict(problems, f"killed at {n} frames; recover_mcap exit {p.returncode}: {len(counts)} topics, "
                             f"{min(counts.values(), default=0)}-{max(counts.values(), default=0)} messages each, "
                             f"indexed reader ok")


def case_mcap_out_new_dir(ctx: Ctx):
    need_module("mcap", "--mcap-out needs the 'logs' extra")
    out = ctx.folder("mcap_new") / "new"
    p = ctx.run("perception.run", "--source", ctx.clip, "--output", out, "--mcap-out", out / "r.mcap",
                "--max-frames", "2", *FAST)
    size = (out / "r.mcap").stat().st_size if (out / "r.mcap").exists() else 0
    problems = [f"exit {p.returncode}: {short(p.stderr, 60)}"] if p.returncode else []
    if not size or not (out / "frames.jsonl").is_file():
        problems.append("no r.mcap or frames.jsonl")
    return verdict(problems, f"exit {p.returncode}; r.mcap {size} bytes beside frames.jsonl")


def _policy_copy(tmp: Path) -> Path:
    from perception.planning.policy import DEFAULT_POLICY, PUBLISHED_POLICIES

    if DEFAULT_POLICY is None:
        raise Skip("no planner policy is shipped")
    copy = tmp / "policy.pt"
    shutil.copy(PUBLISHED_POLICIES[DEFAULT_POLICY].path, copy)
    return copy


def case_failed_start_leaves_nothing(ctx: Ctx):
    need_module("onnxruntime", "the case needs --backend onnxruntime")
    tmp = ctx.folder("failed_start")
    policy = _policy_copy(tmp)
    existing = tmp / "existing"
    existing.mkdir()
    (existing / "notes.txt").write_text("the user's own file")
    common = ("--source", ctx.clip, "--backend", "onnxruntime", "--planner-policy", policy,
              "--planner-policy-sha256", "0" * 64, "--max-frames", "1", "--no-video", "--no-progress")
    a = ctx.run("perception.run", *common, "--output", tmp / "new" / "out")
    b = ctx.run("perception.run", *common, "--output", existing)
    ok_a, seen = one_line_error(a, "SHA-256 mismatch")
    ok_b, _ = one_line_error(b, "SHA-256 mismatch")
    left = sorted(f.name for f in existing.iterdir())
    problems = [] if ok_a and ok_b else [seen]
    if (tmp / "new").exists():
        problems.append("new folder left behind")
    if left != ["notes.txt"]:
        problems.append(f"existing folder holds {left}")
    return verdict(problems, f"{seen}; no new folder; existing folder holds {left}")


def case_ros2_sqlite_cut(ctx: Ctx):
    need_module("rosbags", "ROS 2 bags need the 'logs' extra")
    tmp = ctx.folder("ros2_cut")
    made = log_from_clip(ctx, tmp / "bag", "--format", "ros2", "--storage", "sqlite3", "--max-frames", "8")
    if made.returncode != 0:
        raise RuntimeError(f"video_to_log failed: {short(made.stderr, 80)}")
    (db,) = (tmp / "bag").glob("*.db3")
    data = db.read_bytes()
    db.write_bytes(data[: int(len(data) * 0.7)])
    out = tmp / "out"
    p = ctx.run("perception.run", "--source", tmp / "bag", "--output", out, *FAST)
    recs, bad, cut = read_jsonl(out / "frames.jsonl")
    s = summary(out)
    warnings = [ln for ln in p.lines if ln.startswith("warning: input damaged")]
    problems = [x for x in (no_traceback(p),) if x]
    if p.returncode != 0:
        problems.append(f"exit {p.returncode}: {short(p.stderr, 60)}")
    if len(warnings) != 1:
        problems.append(f"{len(warnings)} damage warnings")
    if not 1 <= len(recs) < 8 or s.get("frames_read") != len(recs) or bad or cut:
        problems.append(f"{len(recs)} records, frames_read {s.get('frames_read')}")
    if not any("cut short" in note for note in s.get("input_damage") or []):
        problems.append("input_damage does not say 'cut short'")
    return verdict(problems, f"exit {p.returncode}; {len(recs)} of 8 frames recovered; "
                             f"{short(warnings[0] if warnings else '-', 70)}")


def case_messages_no_torch_advice(ctx: Ctx):
    import argparse

    import torch

    tmp = ctx.folder("evil_pickle")
    evil = tmp / "evil.pt"
    torch.save({"format": "perception.multitask", "obj": argparse.Namespace(payload=1)}, evil)
    p = ctx.run("perception.run", "--source", ctx.clip, "--output", tmp / "out", "--weights", evil, "--max-frames",
                "1", *FAST)
    ok, seen = one_line_error(p, "evil.pt")
    unsafe = [u for u in ("weights_only=False", "can still be loaded", "trust the source", "\x1b") if u in p.stderr]
    problems = ([] if ok else [seen]) + ([f"carries {unsafe}"] if unsafe else [])
    if (tmp / "out").exists():
        problems.append("output folder created")
    return verdict(problems, seen)


def case_fps_excludes_startup(ctx: Ctx):
    out = ctx.folder("fps") / "out"
    p = ctx.run("perception.run", "--source", ctx.clip, "--output", out, "--max-frames", "10", *FAST)
    s = summary(out)
    line = next((ln for ln in p.lines if ln.startswith("processed")), "")
    su, pr, wall, fps = (s.get(k) for k in ("startup_s", "processing_s", "wall_time_s", "fps"))
    problems = [f"exit {p.returncode}"] if p.returncode else []
    if None in (su, pr, wall, fps):
        problems.append("startup_s/processing_s missing")
    elif abs(wall - su - pr) > 0.02 or abs(fps - 10 / pr) > 0.05 * fps:
        problems.append(f"fps {fps} != 10 / processing_s {pr}")
    if "start-up" not in line:
        problems.append("the final line does not separate start-up")
    return verdict(problems, f"start-up {su} s + processing {pr} s = {wall} s; fps {fps} = 10 frames / processing")


def case_camera_other_size(ctx: Ctx):
    tmp = ctx.folder("camera_size")
    cam = camera_file(tmp / "full_hd.yaml", 1920, 1080)
    out = tmp / "out"
    p = ctx.run("perception.run", "--source", ctx.clip, "--camera", cam, "--output", out, "--max-frames", "2", *FAST)
    warnings = [ln for ln in p.lines if ln.startswith("warning:")]
    cal = summary(out).get("calibration", {})
    problems = [f"exit {p.returncode}: {short(p.stderr, 60)}"] if p.returncode else []
    if len(warnings) != 1 or not all(n in warnings[0] for n in ("1920x1080", "960x540", "scaled")):
        problems.append(f"warnings: {warnings}")
    if cal.get("intrinsics_scaled") is not True:
        problems.append("summary.json calibration.intrinsics_scaled is not true")
    return verdict(problems, f"exit {p.returncode}; {short(warnings[0] if warnings else '-', 70)}; "
                             f"intrinsics_scaled={cal.get('intrinsics_scaled')}")


def case_camera_other_aspect(ctx: Ctx):
    tmp = ctx.folder("camera_aspect")
    cam = camera_file(tmp / "four_three.yaml", 1280, 960)
    p = ctx.run("perception.run", "--source", ctx.clip, "--camera", cam, "--output", tmp / "out", "--max-frames", "1",
                *FAST)
    ok, seen = one_line_error(p, "1280x960", "960x540", "aspect ratio")
    return verdict([] if ok and not (tmp / "out").exists() else [seen], seen)


def case_mixed_image_sizes(ctx: Ctx):
    tmp = ctx.folder("mixed_sizes")
    stills = write_stills(tmp / "stills", ctx.clip, [(960, 540)] * 4 + [(1280, 720)] * 2)
    out = tmp / "out"
    p = ctx.run("perception.run", "--source", stills, "--output", out, "--no-video", "--no-progress", "--planner",
                "off")
    skipped = (summary(out).get("lanes") or {}).get("frames_skipped_other_size")
    warnings = [ln for ln in p.lines if ln.startswith("warning:") and "lanes" in ln]
    problems = [f"exit {p.returncode}: {short(p.stderr, 60)}"] if p.returncode else []
    if skipped != 2 or len(warnings) != 1 or "2 of 6" not in warnings[0]:
        problems.append(f"skipped {skipped}, warnings {len(warnings)}")
    return verdict(problems, f"exit {p.returncode}; {short(warnings[0] if warnings else '-', 70)}")


def case_weights_damaged(ctx: Ctx):
    import numpy as np

    tmp = ctx.folder("weights_damaged")
    bad = tmp / "weights.pt"
    bad.write_bytes(np.random.default_rng(0).bytes(4096))
    p = ctx.run("perception.run", "--source", ctx.clip, "--weights", bad, "--output", tmp / "new" / "out",
                "--max-frames", "1", *FAST)
    ok, seen = one_line_error(p, "weights.pt")
    return verdict([] if ok and not (tmp / "new").exists() else [seen if not ok else "folder created"], seen)


def case_weights_hash_mismatch(ctx: Ctx):
    from perception.model import default_weights

    record = default_weights()
    if record is None:
        raise Skip("no weights are shipped")
    tmp = ctx.folder("weights_hash")
    copy = tmp / "w.pt"
    shutil.copy(record.path, copy)
    p = ctx.run("perception.run", "--source", ctx.clip, "--weights", copy, "--weights-sha256", "0" * 64, "--output",
                tmp / "out", "--max-frames", "1", *FAST)
    ok, seen = one_line_error(p, "SHA-256 mismatch")
    return verdict([] if ok and not (tmp / "out").exists() else [seen if not ok else "folder created"], seen)


def case_onnx_cache_corrupted(ctx: Ctx):
    need_module("onnxruntime", "the ONNX cache serves --backend onnxruntime")
    tmp = ctx.folder("onnx_cache")
    # at an input size whose graph does not ship with the package, so that the first run exports into the cache
    common = ("--source", ctx.clip, "--backend", "onnxruntime", "--imgsz", "448x768", "--max-frames", "1", *FAST)
    first = ctx.run("perception.run", *common, "--output", tmp / "a")
    entries = sorted((Path(ctx.env["PERCEPTION_CACHE_DIR"]) / "onnx").glob("*.onnx"))
    if first.returncode != 0 or not entries:
        raise RuntimeError(f"no cache entry after a first run (exit {first.returncode})")
    for entry in entries:
        data = entry.read_bytes()
        entry.write_bytes(data[: len(data) // 2])  # cut short by a full disk or a kill
    p = ctx.run("perception.run", *common, "--output", tmp / "b")
    graph = (summary(tmp / "b").get("backend") or {}).get("onnx_graph") or {}
    how = str(graph.get("how"))
    healed = all(e.read_bytes() and (e.with_name(e.name + ".sha256").read_text().strip()
                                     == _sha256(e)) for e in entries)
    problems = [f"exit {p.returncode}: {short(p.stderr, 60)}"] if p.returncode else []
    if not how.startswith("rebuilt"):
        problems.append("not rebuilt")
    if not healed:
        problems.append("cache entry still damaged")
    return verdict(problems, f"exit {p.returncode}; backend.onnx_graph.how = {how!r}")


def _sha256(path: Path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()


def case_engine_wrong_hash(ctx: Ctx):
    from perception.backends.metadata import ENGINE_SHA256_KEY, ExportFacts, build_metadata, write_sidecar
    from perception.model import OUTPUT_NAMES, ModelConfig

    tmp = ctx.folder("engine")
    engine = tmp / "model.engine"
    engine.write_bytes(b"\x00not really an engine, and not what the sidecar says")
    meta = build_metadata(ExportFacts(ModelConfig(input_size_wh=(128, 64)), "ab" * 32, "w.pt", "fp16", 1),
                          input_name="images", output_names=OUTPUT_NAMES, opset=17)
    meta.update({"source_onnx_sha256": "cd" * 32, "tensorrt_version": "10.3.0", ENGINE_SHA256_KEY: "0" * 64})
    write_sidecar(engine, meta)
    p = ctx.run("perception.run", "--source", ctx.clip, "--backend", "tensorrt", "--weights", engine, "--output",
                tmp / "out", "--max-frames", "1", *FAST)
    ok, seen = one_line_error(p, str(engine), "--trust-engine")
    return verdict([] if ok and not (tmp / "out").exists() else [seen if not ok else "folder created"], seen)


def case_planner_policy_hash(ctx: Ctx):
    tmp = ctx.folder("policy_hash")
    policy = _policy_copy(tmp)
    p = ctx.run("perception.run", "--source", ctx.clip, "--planner-policy", policy, "--planner-policy-sha256",
                "0" * 64, "--output", tmp / "out", "--max-frames", "1", "--no-video", "--no-progress")
    ok, seen = one_line_error(p, "planner policy", "SHA-256 mismatch")
    return verdict([] if ok and not (tmp / "out").exists() else [seen if not ok else "folder created"], seen)


def case_missing_input(ctx: Ctx):
    tmp = ctx.folder("missing")
    p = ctx.run("perception.run", "--source", tmp / "nope.mp4", "--output", tmp / "out")
    ok, seen = one_line_error(p, "not found", "nope.mp4")
    return verdict([] if ok and not (tmp / "out").exists() else [seen], seen)


def case_not_a_video(ctx: Ctx):
    tmp = ctx.folder("not_video")
    (tmp / "notes.mp4").write_text("this is not a video\n" * 100)
    p = ctx.run("perception.run", "--source", tmp / "notes.mp4", "--output", tmp / "out")
    ok, seen = one_line_error(p, "notes.mp4")
    return verdict([] if ok and not (tmp / "out").exists() else [seen], seen)


def case_mp4_without_index(ctx: Ctx):
    """The clip with its index (moov, at the start) overwritten: nothing is readable."""
    tmp = ctx.folder("no_index")
    data = bytearray(ctx.clip.read_bytes())
    at = data.find(b"moov")
    if at < 0:
        raise Skip("the clip has no moov box where expected")
    data[at - 4:at + 4096] = bytes(4100)
    path = tmp / "noindex.mp4"
    path.write_bytes(bytes(data))
    p = ctx.run("perception.run", "--source", path, "--output", tmp / "out", *FAST)
    ok, seen = one_line_error(p, "noindex.mp4")
    return verdict([] if ok and not (tmp / "out").exists() else [seen], seen)


def case_empty_folder(ctx: Ctx):
    tmp = ctx.folder("empty")
    (tmp / "empty").mkdir()
    p = ctx.run("perception.run", "--source", tmp / "empty", "--output", tmp / "out")
    ok, seen = one_line_error(p, "no images")
    return verdict([] if ok else [seen], seen)


def case_mistyped_flag(ctx: Ctx):
    p = ctx.run("perception.run", "--source", ctx.clip, "--ouput", "runs/x")
    ok, seen = one_line_error(p, "--ouput", "python -m perception.run --help")
    return verdict([] if ok else [seen], seen)


def case_mcap_log_cut(ctx: Ctx):
    need_module("mcap", "MCAP logs need the 'logs' extra")
    tmp = ctx.folder("mcap_cut")
    made = log_from_clip(ctx, tmp / "log.mcap", "--max-frames", "8")
    if made.returncode != 0:
        raise RuntimeError(f"video_to_log failed: {short(made.stderr, 80)}")
    path = tmp / "log.mcap"
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * 0.7)])
    out = tmp / "out"
    p = ctx.run("perception.run", "--source", path, "--output", out, *FAST)
    recs, bad, cut = read_jsonl(out / "frames.jsonl")
    s = summary(out)
    problems = [x for x in (no_traceback(p),) if x]
    if p.returncode != 0 or "warning: input damaged" not in p.stderr:
        problems.append(f"exit {p.returncode}, no damage warning")
    if not 1 <= len(recs) < 8 or s.get("frames_read") != len(recs) or not s.get("input_damage") or bad or cut:
        problems.append(f"{len(recs)} records, frames_read {s.get('frames_read')}")
    return verdict(problems, f"exit {p.returncode}; {len(recs)} of 8 frames read; input_damage: "
                             f"{short((s.get('input_damage') or ['-'])[0], 50)}")


def _has(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


@dataclass(frozen=True)
class Case:
    name: str
    source: str  # where it comes from: issue 26's item, or the existing reliability tests
    expected: str
    fn: Callable[[Ctx], tuple[bool, str]]


ONE_LINE = "one 'error:' line naming {}, exit 2, nothing created"
CASES = [
    Case("damage_mid_dd", "26.1", "dd 200 KiB at 1289 KiB: exit 0; frames 0-220 once, t = frame/25; lost frames one "
         "block in the middle; every ok frame is the clean clip's frame of that index", case_damage_mid_dd),
    Case("damage_4kib", "26.1", "4 KiB of garbage at 500 KiB: exit 0; frames the decoder complains about are "
         "'damaged' with a warning; the ok ones match the clean clip", case_damage_4kib),
    Case("video_cut_short", "26.1", "the clip cut at half: exit 0, 'warning: input damaged', summary.json "
         "input_damage; 221 records, the lost tail 'failed'", case_video_cut_short),
    Case("lock_one_folder", "26.2", "a second run into a folder in use: " + ONE_LINE.format("the folder and "
         "pid@host") + "; the first run's files stay valid", case_lock_one_folder),
    Case("lock_default_folder", "26.2", "two runs at once without --output: both exit 0, into runs/drive and "
         "runs/drive-2, each with 5 valid records", case_lock_default_folder),
    Case("lock_stale", "26.2", "a .lock left by a dead process: taken over with a warning, exit 0, lock removed",
         case_lock_stale),
    Case("flag_fps_inf", "26.3", ONE_LINE.format("--fps") + ", at once (was: a hang)", _bad_flag("--fps", "inf")),
    Case("flag_fps_nan", "26.3", ONE_LINE.format("--fps"), _bad_flag("--fps", "nan")),
    Case("flag_ego_speed_nan", "26.3", ONE_LINE.format("--ego-speed-mps"), _bad_flag("--ego-speed-mps", "nan")),
    Case("flag_other_numbers", "26.3", "--conf nan/1.5, --ego-speed-mps 61, --max-frames 0, --fps 0/-inf: "
         + ONE_LINE.format("the flag"), case_flag_other_numbers),
    Case("resume_track_ids", "26.4", "--resume from another folder with a relative path: exit 0; track ids go on "
         "after the first part's; the input path stored absolute", case_resume_track_ids),
    Case("resume_killed_other_input", "26.4", "SIGKILL after the first frame, then --resume with another file: "
         "identity recorded before frame 1; " + ONE_LINE.format("--resume"), case_resume_killed_other_input),
    Case("resume_changed_bytes", "26.4", "--resume after the input's last MiB changed (same size, same mtime): "
         + ONE_LINE.format("sha256_first_last_mib"), case_resume_changed_bytes),
    Case("resume_stale_parts", "26.4", "a fresh run into an old resumed folder: annotated.part2.mp4 removed, the "
         "user's notes.txt kept", case_resume_stale_parts),
    Case("resume_after_sigint", "existing", "SIGINT mid-run, then --resume: frames 0-15 once; annotated.mp4 and "
         "annotated.part2.mp4 hold the two parts", case_resume_after_sigint),
    Case("resume_half_line", "existing", "half a line and no summary.json (a hard kill), then --resume: the cut "
         "line dropped, frames 0-3 once", case_resume_half_line),
    Case("readonly_output", "26.5", "a read-only existing output folder: one line naming it ('Permission "
         "denied'), exit 2, folder untouched", case_readonly_output),
    Case("disk_full_output", "26.5", "the output disk full mid-run: one line, exit 2; frames.jsonl valid up to "
         "its last whole line (summary.json shown, not judged: no room)", case_disk_full_output),
    Case("disk_full_mcap", "26.5", "--mcap-out's disk full mid-run (output folder has room): one line, exit 2; "
         "summary.json with 'error' and the frames written", case_disk_full_mcap),
    Case("device_tpu", "26.5", "--device tpu: " + ONE_LINE.format("--device tpu"), case_device_tpu),
    Case("sigint_startup", "26.5", "Ctrl-C during start-up (once the folder is locked): exit 130, one line, no "
         "traceback, no lock, no folder", case_sigint_startup),
    Case("sigint_mid_run", "existing", "SIGINT mid-run: exit 130; summary interrupted, frames.jsonl and "
         "annotated.mp4 complete to the last frame; no lock", _signal_mid_run(signal.SIGINT)),
    Case("sigterm_mid_run", "existing", "SIGTERM mid-run: as SIGINT", _signal_mid_run(signal.SIGTERM)),
    Case("sigkill_join_video", "26.6", "SIGKILL at ~60 frames, then perception.tools.join_video DIR: exit 0; "
         "annotated.mp4 loses at most ~1 s", case_sigkill_join_video),
    Case("sigkill_recover_mcap", "26.6", "SIGKILL at ~60 frames, then perception.tools.recover_mcap FILE: exit 0; "
         "an indexed reader reads the messages up to ~1 s before the kill", case_sigkill_recover_mcap),
    Case("mcap_out_new_dir", "26.7", "--mcap-out NEWDIR/r.mcap with --output NEWDIR: exit 0, r.mcap written",
         case_mcap_out_new_dir),
    Case("failed_start_leaves_nothing", "26.7", "a start that fails (wrong policy hash, onnxruntime): no new "
         "folder, no model.onnx in an existing one", case_failed_start_leaves_nothing),
    Case("ros2_sqlite_cut", "26.7", "a ROS 2 sqlite bag cut at 70 %: exit 0, one damage warning, the rows sqlite "
         "still holds are read, input_damage says 'cut short'", case_ros2_sqlite_cut),
    Case("messages_no_torch_advice", "26.7", "a pickle as --weights: one line, no escape codes, no "
         "'weights_only=False' advice", case_messages_no_torch_advice),
    Case("fps_excludes_startup", "26.7", "summary.json wall = startup_s + processing_s, fps = frames / "
         "processing_s; the final line names start-up apart", case_fps_excludes_startup),
    Case("camera_other_size", "26.7", "a 1920x1080 camera file for the 960x540 clip: exit 0, one warning, "
         "intrinsics scaled", case_camera_other_size),
    Case("camera_other_aspect", "26.7", "a 1280x960 camera file: " + ONE_LINE.format("both sizes"),
         case_camera_other_aspect),
    Case("mixed_image_sizes", "26.7", "stills of the clip at two sizes: exit 0, one warning that lanes were "
         "skipped on 2 of 6", case_mixed_image_sizes),
    Case("weights_damaged", "26.8", "random bytes as --weights: " + ONE_LINE.format("the file"),
         case_weights_damaged),
    Case("weights_hash_mismatch", "26.8", "--weights-sha256 not matching: " + ONE_LINE.format("'SHA-256 mismatch'"),
         case_weights_hash_mismatch),
    Case("onnx_cache_corrupted", "26.8", "the cached .onnx cut short: exit 0, rebuilt (backend.onnx_graph.how "
         "'rebuilt ...'), the entry sound again", case_onnx_cache_corrupted),
    Case("engine_wrong_hash", "26.8", "a .engine whose sidecar records another SHA-256, no --trust-engine: "
         + ONE_LINE.format("the engine and --trust-engine"), case_engine_wrong_hash),
    Case("planner_policy_hash", "26.8", "--planner-policy-sha256 not matching: " + ONE_LINE.format("the policy"),
         case_planner_policy_hash),
    Case("missing_input", "existing", "a path that does not exist: " + ONE_LINE.format("it"), case_missing_input),
    Case("not_a_video", "existing", "a text file named .mp4: " + ONE_LINE.format("it"), case_not_a_video),
    Case("mp4_without_index", "existing", "the clip with its index (moov) wiped: " + ONE_LINE.format("it"),
         case_mp4_without_index),
    Case("empty_folder", "existing", "an empty folder: one line 'no images', exit 2", case_empty_folder),
    Case("mistyped_flag", "existing", "--ouput: one line naming it and --help, exit 2", case_mistyped_flag),
    Case("mcap_log_cut", "existing", "an MCAP log cut at 70 %: exit 0, damage warning, the frames before the cut",
         case_mcap_log_cut),
]


# ---------------------------------------------------------------------------------------------------------------

def run_case(ctx: Ctx, case: Case) -> dict:
    t0 = time.perf_counter()
    try:
        ok, observed = case.fn(ctx)
        status = "yes" if ok else "no"
    except Skip as e:
        status, observed = "skipped", str(e)
    except CaseTimeout as e:
        status, observed = "no", str(e)
    except Exception as e:  # noqa: BLE001 - a case that cannot be staged is reported, the others still run
        status, observed = "no", f"could not run the case: {type(e).__name__}: {short(str(e), 90)}"
    return {"case": case.name, "from": case.source, "expected": case.expected, "observed": short(observed, 400),
            "ok": status,
            "seconds": round(time.perf_counter() - t0, 1)}


def print_row(row: dict, widths: tuple[int, int, int, int]) -> None:
    cells = [textwrap.wrap(str(row[k]), w) or [""] for k, w in zip(("case", "expected", "observed", "ok"), widths)]
    for i in range(max(map(len, cells))):
        print(" ".join((c[i] if i < len(c) else "").ljust(w) for c, w in zip(cells, widths)).rstrip(), flush=True)


def main() -> int:
    p = OneLineArgumentParser(prog="python benchmarks/faults.py", description=__doc__.split("\n\n")[0])
    p.add_argument("--video", default=str(DEFAULT_CLIP), help="the clip (solidWhiteRight.mp4: the cases know it)")
    p.add_argument("--cases", default=None, help="comma-separated case names (default: all; --list shows them)")
    p.add_argument("--list", action="store_true", help="list the cases and exit")
    p.add_argument("--timeout", type=float, default=300.0, help="seconds one command may take")
    p.add_argument("--keep", action="store_true", help="keep the temporary folder of the cases")
    p.add_argument("--output", default=str(REPO / "benchmarks" / "out" / "faults.json"))
    args = p.parse_args()
    if args.list:
        for c in CASES:
            print(f"{c.name:<28} {c.source:<9} {c.expected}")
        return 0
    chosen = CASES
    if args.cases:
        names = [n.strip() for n in args.cases.split(",") if n.strip()]
        unknown = [n for n in names if n not in {c.name for c in CASES}]
        if unknown:
            print(f"error: unknown case(s) {', '.join(unknown)} (python benchmarks/faults.py --list)", file=sys.stderr)
            return 2
        chosen = [c for c in CASES if c.name in names]
    clip = Path(args.video).resolve()
    if not clip.exists():
        print(f"error: video not found: {args.video}", file=sys.stderr)
        return 2

    root = Path(tempfile.mkdtemp(prefix="perception-faults-"))
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    env["PERCEPTION_CACHE_DIR"] = str(root / "cache")  # never the user's ONNX cache
    env.setdefault("OMP_NUM_THREADS", "1")
    os.environ["PERCEPTION_CACHE_DIR"] = env["PERCEPTION_CACHE_DIR"]
    ctx = Ctx(clip=clip, root=root, timeout=args.timeout, env=env)
    TMP_NAMES[str(root)] = "$TMP"
    widths = (28, 48, 60, 7)
    print_row({"case": "case", "expected": "expected", "observed": "observed", "ok": "ok"}, widths)
    print("-" * (sum(widths) + 3))
    t0 = time.perf_counter()
    rows = []
    try:
        for case in chosen:
            rows.append(run_case(ctx, case))
            print_row(rows[-1], widths)
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    wall = time.perf_counter() - t0
    failed = [r["case"] for r in rows if r["ok"] == "no"]
    skipped = [r["case"] for r in rows if r["ok"] == "skipped"]
    print("-" * (sum(widths) + 3))
    print(f"{len(rows) - len(failed) - len(skipped)} ok, {len(failed)} not ok, {len(skipped)} skipped of {len(rows)} "
          f"cases in {wall:.0f} s" + (f"; not ok: {', '.join(failed)}" if failed else "")
          + (f"; kept {root}" if args.keep else ""))
    result = {"date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"), "machine": platform.machine(),
              "cpu_count": os.cpu_count(), "python": platform.python_version(), "video": str(clip),
              "wall_time_s": round(wall, 1), "all_ok": not failed, "cases": rows}
    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {out}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
