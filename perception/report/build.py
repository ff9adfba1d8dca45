"""Read a run folder (frames.jsonl, summary.json, the annotated video or the input) and write report.html.

The page is self-contained: plots are inline SVG (``perception.report.plots``), thumbnails inline base64 JPEG.
A damaged frames.jsonl line (a run killed mid-write) is skipped and counted, never fatal.
"""

from __future__ import annotations

import base64
import html
import json
import os
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from perception.errors import UserInputError
from perception.report.plots import detections_svg, lanes_svg, latency_svg, plan_svg
from perception.report.template import PAGE

THUMBNAILS = 6  # how many frames get a thumbnail
THUMB_WIDTH_PX = 320
MIN_THUMB_GAP = 10  # thumbnails at least this many frames apart (neighbouring frames look alike)


class ReportError(UserInputError):
    """A folder that holds no run (no readable frames.jsonl)."""


@dataclass
class RunData:
    """What a run folder says: the records in frame order, the summary (``{}`` when absent or unreadable)."""

    run_dir: Path
    records: list[dict[str, Any]]
    summary: dict[str, Any]
    bad_lines: int = 0  # frames.jsonl lines that were not a JSON object (cut by a kill, damaged)
    notes: list[str] = field(default_factory=list)


def read_run(run_dir: str | Path) -> RunData:
    """Read ``run_dir``; raise ReportError (one line) when it is not a run folder."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise ReportError(f"{run_dir}: not a folder")
    frames = run_dir / "frames.jsonl"
    if not frames.is_file():
        raise ReportError(f"{run_dir}: no frames.jsonl (not an output folder of perception.run)")
    records, bad = [], 0
    try:
        with frames.open("rb") as f:
            for line in f:
                if not line.strip():
                    continue
                try:
                    rec = json.loads(line)
                except ValueError:
                    bad += 1
                    continue
                if isinstance(rec, dict) and isinstance(rec.get("frame"), int):
                    records.append(rec)
                else:
                    bad += 1
    except OSError as e:
        raise ReportError(f"{frames}: {e.strerror or e}") from None
    records.sort(key=lambda r: r["frame"])
    notes = []
    summary: dict[str, Any] = {}
    try:
        summary = json.loads((run_dir / "summary.json").read_text())
        if not isinstance(summary, dict):
            summary, notes = {}, ["summary.json is not a JSON object"]
    except FileNotFoundError:
        notes.append("no summary.json")
    except (OSError, ValueError) as e:
        notes.append(f"summary.json unreadable: {e}")
    return RunData(run_dir, records, summary, bad, notes)


def _ok(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for r in records if r.get("status", "ok") != "failed"]


def _latency(records: list[dict[str, Any]]) -> tuple[list[int], dict[str, list[float]]]:
    rows = [r for r in _ok(records) if isinstance(r.get("latency_ms"), dict)]
    names: list[str] = []
    for r in rows:
        names += [n for n in r["latency_ms"] if n not in names]
    return [r["frame"] for r in rows], {n: [float(r["latency_ms"].get(n) or 0.0) for r in rows] for n in names}


def _detections(records: list[dict[str, Any]]) -> tuple[list[int], dict[str, list[int]]]:
    rows = _ok(records)
    labels = sorted({str(d.get("label")) for r in rows for d in r.get("detections") or []})
    counts = {label: [0] * len(rows) for label in labels}
    for i, r in enumerate(rows):
        for d in r.get("detections") or []:
            counts[str(d.get("label"))][i] += 1
    return [r["frame"] for r in rows], counts


def _vetoed(rec: dict[str, Any]) -> bool:
    return bool((rec.get("plan") or {}).get("vetoed"))


def _pick_thumbnails(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Frames with the most vetoes, then detections; apart by MIN_THUMB_GAP frames (less in a short run); in
    frame order."""
    ok = _ok(records)
    gap = min(MIN_THUMB_GAP, max(1, len(ok) // (2 * THUMBNAILS)))
    ranked = sorted(ok, key=lambda r: (_vetoed(r), len(r.get("detections") or []), -r["frame"]), reverse=True)
    chosen: list[dict[str, Any]] = []
    for r in ranked:
        if all(abs(r["frame"] - c["frame"]) >= gap for c in chosen):
            chosen.append(r)
            if len(chosen) == THUMBNAILS:
                break
    return sorted(chosen, key=lambda r: r["frame"])


def _video_frames(path: Path, wanted: set[int]) -> dict[int, np.ndarray]:
    """{frame index: BGR image} for ``wanted`` indices of a video file (seeks across long gaps)."""
    cap = cv2.VideoCapture(str(path))
    out: dict[int, np.ndarray] = {}
    try:
        if not cap.isOpened():
            return out
        pos = 0
        for index in sorted(wanted):
            if index - pos > 250:
                cap.set(cv2.CAP_PROP_POS_FRAMES, index)
                pos = index
            while pos < index and cap.grab():
                pos += 1
            ok, image = cap.read()
            pos += 1
            if not ok:
                break
            out[index] = image
    finally:
        cap.release()
    return out


def _source_frames(summary: dict[str, Any], wanted: set[int]) -> dict[int, np.ndarray]:
    """The input's frames (images, logs, videos) through perception.sources, when the input is still there."""
    from perception.sources import FailedFrame, open_source

    info = summary.get("input") or {}
    path = (info.get("identity") or {}).get("path") or info["path"]  # absolute where recorded
    source = open_source(path, fps=float(info.get("fps") or 10.0), topic=info.get("topic"), ego_speed=False)
    out: dict[int, np.ndarray] = {}
    try:
        for item in source.iter_frames(0):
            if item.index > max(wanted):
                break
            if item.index in wanted and not isinstance(item, FailedFrame):
                out[item.index] = item.image_bgr
    finally:
        source.close()
    return out


def _thumbnail_images(data: RunData, wanted: set[int]) -> tuple[dict[int, np.ndarray], str]:
    """Images for ``wanted`` frames and where they came from: the annotated stills (``annotated/<image>``), the
    annotated video of a run in one part (its frame i is input frame i), else the input."""
    if not wanted:
        return {}, ""
    stills = {r["frame"]: data.run_dir / "annotated" / r["image"] for r in data.records
              if r["frame"] in wanted and isinstance(r.get("image"), str)}
    images = {i: img for i, p in stills.items() if p.is_file() and (img := cv2.imread(str(p))) is not None}
    if images:
        return images, "annotated/"
    video = data.run_dir / "annotated.mp4"
    if video.is_file() and "parts" not in data.summary:
        images = _video_frames(video, wanted)
        if images:
            return images, "annotated.mp4"
    if (data.summary.get("input") or {}).get("path"):
        try:
            return _source_frames(data.summary, wanted), "the input"
        except Exception as e:  # noqa: BLE001  (an input moved away or unreadable: the report goes on without)
            data.notes.append(f"thumbnails: input not readable ({str(e).splitlines()[0] if str(e) else type(e).__name__})")
    return {}, ""


def _jpeg_data_uri(image: np.ndarray) -> str:
    h, w = image.shape[:2]
    small = cv2.resize(image, (THUMB_WIDTH_PX, max(1, round(h * THUMB_WIDTH_PX / w))), interpolation=cv2.INTER_AREA)
    ok, buf = cv2.imencode(".jpg", small, [cv2.IMWRITE_JPEG_QUALITY, 75])
    if not ok:
        raise ValueError("JPEG encoding failed")
    return "data:image/jpeg;base64," + base64.b64encode(buf.tobytes()).decode("ascii")


def _esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _note(text: str) -> str:
    return f'<p class="note">{_esc(text)}</p>'


def _table(rows: list[tuple[str, Any]]) -> str:
    return "<table>" + "".join(f"<tr><th>{_esc(k)}</th><td><code>{_esc(v)}</code></td></tr>"
                               for k, v in rows if v not in (None, "", {})) + "</table>"


def _settings(summary: dict[str, Any]) -> str:
    if not summary:
        return _note("no summary.json")
    inp, backend = summary.get("input") or {}, summary.get("backend") or {}
    weights = summary.get("weights")
    w = weights if isinstance(weights, dict) else {"name": weights}
    cal, lanes, plan = summary.get("calibration") or {}, summary.get("lanes") or {}, summary.get("planning") or {}
    rows = [("input", inp.get("path")), ("input kind", inp.get("kind")),
            ("input size", f"{inp.get('width_px')}x{inp.get('height_px')} @ {inp.get('fps')} fps"),
            ("state", summary.get("state")),
            ("frames read / processed / failed",
             f"{summary.get('frames_read')} / {summary.get('frames_processed')} / {summary.get('frames_failed')}"),
            ("wall time (start-up + processing)",
             f"{summary.get('wall_time_s')} s ({summary.get('startup_s')} + {summary.get('processing_s')})"),
            ("backend", " ".join(str(backend.get(k)) for k in ("name", "device", "precision") if backend.get(k))),
            ("backend reason", backend.get("reason")),
            ("weights", w.get("name")), ("weights file", w.get("path")), ("weights SHA-256", w.get("sha256")),
            ("score threshold", w.get("score_threshold")),
            ("model input (w, h)", (summary.get("model") or {}).get("input_size_wh")),
            ("calibration", cal.get("note") or cal.get("source") or cal.get("camera_file")),
            ("lanes", lanes.get("source")),
            ("planner policy", plan.get("policy")), ("planner veto", plan.get("veto")),
            ("ego speed assumed (m/s)", plan.get("ego_speed_mps_assumed")),
            ("ego speed from", _ego_speed_from(inp.get("ego_speed"), plan.get("ego_speed_frames"))),
            ("annotated video", (summary.get("outputs") or {}).get("annotated_video"))]
    lat = summary.get("latency_ms") or {}
    lat_rows = "".join(f"<tr><th>{_esc(k)}</th>" + "".join(f'<td class="num">{_esc(v.get(p))}</td>'
                                                          for p in ("p50", "p90", "p99", "mean"))
                       + "</tr>" for k, v in lat.items() if isinstance(v, dict))
    lat_html = (f"<h3>Latency (ms)</h3><table><tr><th>stage</th><th>p50</th><th>p90</th><th>p99</th><th>mean</th>"
                f"</tr>{lat_rows}</table>") if lat_rows else ""
    raw = html.escape(json.dumps(summary, indent=1))
    return (_table(rows) + lat_html
            + f"<details><summary>summary.json</summary><pre>{raw}</pre></details>")


def _ego_speed_from(log_speed: dict | None, frames: dict | None) -> str | None:
    """"the log's /odom (nav_msgs/msg/Odometry): 180 frames, lane-marking flow: 15 frames, assumed: 5 frames", or
    None without a planner."""
    if not frames:
        return None
    where = f"the log's {log_speed.get('topic')} ({log_speed.get('type')})" if log_speed else "the log"
    return (f"{where}: {frames.get('log', 0)} frames, lane-marking flow: {frames.get('lane_flow', 0)} frames, "
            f"assumed: {frames.get('assumed', 0)} frames")


def build_report(data: RunData) -> str:
    """The report page for ``data`` (an HTML string)."""
    t0 = time.perf_counter()
    s, records = data.summary, data.records
    ok = _ok(records)
    frames_lat, latency = _latency(records)
    latency_html = latency_svg(frames_lat, latency) if frames_lat else \
        _note("no per-frame latency in frames.jsonl (a run from before it was recorded)")
    frames_det, counts = _detections(records)
    detections_html = detections_svg(frames_det, counts) if counts else _note("no detections in this run")

    egos = [(r["frame"], r["ego"]) for r in ok if isinstance(r.get("ego"), dict)]
    changes = [(f, str(e["lane_change"])) for f, e in egos if e.get("lane_change")]
    if any(e.get("lane_offset_m") is not None or e.get("lane_width_m") is not None for _, e in egos):
        lanes_html = lanes_svg([f for f, _ in egos], [e.get("lane_offset_m") for _, e in egos],
                                     [e.get("lane_width_m") for _, e in egos], changes)
        lanes_html += _note(f"{len(changes)} lane change(s)" + (": " + ", ".join(f"frame {f} {d}" for f, d in changes)
                                                              if changes else ""))
    else:
        lanes_html = _note("no ego lane in this run (--lanes off, or no lane seen)")

    planned = [r for r in ok if isinstance(r.get("plan"), dict)]
    if planned:
        plan_html = plan_svg([r["frame"] for r in planned], [r["plan"].get("action") for r in planned],
                                   [_vetoed(r) for r in planned])
        reasons = Counter(f"{r['plan'].get('policy_action')} -> {r['plan'].get('action')}: {r['plan'].get('reason')}"
                          for r in planned if _vetoed(r))
        if reasons:
            plan_html += "<table><tr><th>veto</th><th>frames</th></tr>" + "".join(
                f'<tr><td>{_esc(k)}</td><td class="num">{n}</td></tr>' for k, n in reasons.most_common()) + "</table>"
    else:
        plan_html = _note("no planner in this run (--planner off)")

    picks = _pick_thumbnails(records)
    images, origin = _thumbnail_images(data, {r["frame"] for r in picks})
    thumbs = []
    for r in picks:
        if r["frame"] not in images:
            continue
        n_det, veto = len(r.get("detections") or []), _vetoed(r)
        where = r["image"] if isinstance(r.get("image"), str) else f"t={r.get('timestamp_s', 0):.2f} s"
        caption = f"frame {r['frame']} · {where} · {n_det} detections" + \
                  (f" · VETO ({r['plan'].get('reason')})" if veto else "")
        img = f'<img src="{_jpeg_data_uri(images[r["frame"]])}" alt="frame {r["frame"]}">'
        if origin == "annotated.mp4" and isinstance(r.get("timestamp_s"), (int, float)):
            img = f'<a href="annotated.mp4#t={r["timestamp_s"]:.3f}">{img}</a>'
        elif origin == "annotated/":
            img = f'<a href="annotated/{_esc(r["image"])}">{img}</a>'
        thumbs.append(f'<figure id="frame-{r["frame"]}">{img}<figcaption>{_esc(caption)}</figcaption></figure>')
    thumbnails_html = (f'<div class="thumbs">{"".join(thumbs)}</div>' + _note(f"from {origin}")) if thumbs else \
        _note("no frames to show (no annotated video, and the input is not readable)")

    n_det = sum(len(r.get("detections") or []) for r in ok)
    offsets = [e["lane_offset_m"] for _, e in egos if e.get("lane_offset_m") is not None]
    figures = [("frames", f"{s.get('frames_processed', len(ok))} / {s.get('frames_read', len(records))}"),
               ("failed", s.get("frames_failed", len(records) - len(ok))),
               ("FPS", s.get("fps", "?")), ("wall time", f"{s.get('wall_time_s', '?')} s"),
               ("detections", n_det), ("vetoes", sum(map(_vetoed, ok))),
               ("ego lane", f"{100 * len(offsets) / max(1, len(ok)):.0f}% of frames"),
               ("state", s.get("state", "?"))]
    warnings = list(data.notes)
    if data.bad_lines:
        warnings.append(f"{data.bad_lines} line(s) of frames.jsonl could not be read and were skipped")
    name = Path(str((s.get("input") or {}).get("path") or data.run_dir)).name
    return PAGE.substitute(
        title=_esc(f"Run report: {name}"),
        figures="".join(f'<div class="figure">{_esc(k)}<b>{_esc(v)}</b></div>' for k, v in figures),
        warnings="".join(f'<p class="warn">{_esc(w)}</p>' for w in warnings),
        latency=latency_html, detections=detections_html, lanes=lanes_html, plan=plan_html,
        thumbnails=thumbnails_html, settings=_settings(s), source=_esc(data.run_dir),
        build_s=f"{time.perf_counter() - t0:.2f}")


def write_report(run_dir: str | Path, output: str | Path | None = None) -> Path:
    """Build the report of ``run_dir`` and write it (atomically) to ``output`` (default ``run_dir/report.html``)."""
    data = read_run(run_dir)
    page = build_report(data)
    path = Path(output) if output is not None else data.run_dir / "report.html"
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        tmp.write_text(page, encoding="utf-8")
        os.replace(tmp, path)
    except OSError as e:
        tmp.unlink(missing_ok=True)
        raise ReportError(f"{path}: {e.strerror or e}") from None
    return path
