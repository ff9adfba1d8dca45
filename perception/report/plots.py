"""The report's plots: matplotlib figures rendered to inline SVG strings (x axis: frame number).

Every function takes plain lists read from frames.jsonl and returns one ``<svg ...>...</svg>`` string.
"""

from __future__ import annotations

import io
import re
from typing import Any, Sequence

import numpy as np

MAX_POINTS = 1500  # longer series are thinned (every k-th frame) so that a long run's page stays small
ACTION_COLOURS = {"KEEP_LANE": "#4c72b0", "IDLE": "#4c72b0", "FASTER": "#55a868", "SLOWER": "#dd8452",
                  "LANE_LEFT": "#8172b3", "LANE_RIGHT": "#937860"}


def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    plt.rcParams.update({"svg.fonttype": "none", "font.size": 9, "axes.grid": True, "grid.alpha": 0.3})
    return plt


def _svg(fig: Any) -> str:
    """The figure as an inline ``<svg>`` element (no XML prolog, no fixed pixel size: it scales with the page)."""
    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight")
    _plt().close(fig)
    text = buf.getvalue()
    text = text[text.index("<svg"):]
    return re.sub(r'<svg([^>]*?) width="[^"]*" height="[^"]*"', r'<svg\1 style="width:100%;height:auto"', text, 1)


def _thin(n: int) -> slice:
    return slice(None, None, max(1, -(-n // MAX_POINTS)))


def latency_svg(frames: Sequence[int], latency: dict[str, list[float]]) -> str:
    """Stacked per-stage latency (ms) per frame, and the FPS those stages allow (1000 / sum, median of 9)."""
    plt = _plt()
    x = np.asarray(frames)
    k = _thin(len(x))
    fig, (ax, ax_fps) = plt.subplots(2, 1, figsize=(10, 4.6), sharex=True, height_ratios=(2, 1))
    names = list(latency)
    ys = np.array([np.nan_to_num(np.asarray(latency[n], float)) for n in names])  # (stages, frames)
    ax.stackplot(x[k], ys[:, k], labels=names, alpha=0.85)
    ax.set_ylabel("latency per stage (ms)")
    ax.legend(loc="upper left", ncol=min(len(names), 8), fontsize=7, framealpha=0.8)
    total = ys.sum(axis=0)
    fps = np.where(total > 0, 1000.0 / np.maximum(total, 1e-6), np.nan)
    if len(fps) >= 9:
        pad = np.pad(fps, 4, mode="edge")
        fps = np.nanmedian(np.lib.stride_tricks.sliding_window_view(pad, 9), axis=1)
    ax_fps.plot(x[k], fps[k], color="#333", lw=1.2)
    ax_fps.set_ylabel("FPS")
    ax_fps.set_xlabel("frame")
    ax_fps.set_ylim(bottom=0)
    return _svg(fig)


def detections_svg(frames: Sequence[int], counts: dict[str, list[int]]) -> str:
    """Detections per class per frame (step lines)."""
    plt = _plt()
    x = np.asarray(frames)
    k = _thin(len(x))
    fig, ax = plt.subplots(figsize=(10, 2.8))
    for label, values in sorted(counts.items(), key=lambda kv: -sum(kv[1])):
        ax.step(x[k], np.asarray(values)[k], where="mid", lw=1.2, label=f"{label} ({sum(values)})")
    ax.set_ylabel("detections")
    ax.set_xlabel("frame")
    ax.set_ylim(bottom=0)
    ax.legend(loc="upper left", ncol=4, fontsize=7, framealpha=0.8)
    return _svg(fig)


def lanes_svg(frames: Sequence[int], offset_m: Sequence[float | None], width_m: Sequence[float | None],
              changes: Sequence[tuple[int, str]]) -> str:
    """Ego lane offset and lane width (m) per frame; lane changes as vertical lines (gaps where unknown)."""
    plt = _plt()
    x = np.asarray(frames)
    k = _thin(len(x))
    off = np.array([np.nan if v is None else v for v in offset_m], float)
    wid = np.array([np.nan if v is None else v for v in width_m], float)
    fig, (a1, a2) = plt.subplots(2, 1, figsize=(10, 3.8), sharex=True)
    a1.plot(x[k], off[k], color="#4c72b0", lw=1.2)
    a1.axhline(0.0, color="#999", lw=0.8)
    a1.set_ylabel("offset (m, + left)")
    a2.plot(x[k], wid[k], color="#55a868", lw=1.2)
    a2.set_ylabel("lane width (m)")
    a2.set_xlabel("frame")
    for frame, direction in changes:
        for a in (a1, a2):
            a.axvline(frame, color="#c44e52", lw=1.2, ls="--")
        a1.annotate(f"change {direction}", (frame, 1.0), xycoords=("data", "axes fraction"), color="#c44e52",
                    fontsize=7, va="top", ha="left")
    return _svg(fig)


def plan_svg(frames: Sequence[int], actions: Sequence[str | None], vetoed: Sequence[bool]) -> str:
    """The planner's action per frame as coloured bars on one row per action; vetoed frames marked below."""
    plt = _plt()
    names = sorted({a for a in actions if a})
    fig, ax = plt.subplots(figsize=(10, 0.5 + 0.35 * (len(names) + 1)))
    row = {name: i + 1 for i, name in enumerate(names)}
    start = 0
    for i in range(1, len(actions) + 1):  # run-length: one bar per stretch of the same action
        if i == len(actions) or actions[i] != actions[start]:
            if actions[start]:
                ax.broken_barh([(frames[start] - 0.5, frames[i - 1] - frames[start] + 1)],
                               (row[actions[start]] - 0.4, 0.8),
                               color=ACTION_COLOURS.get(actions[start], "#777"))
            start = i
    vx = [f for f, v in zip(frames, vetoed) if v]
    ax.plot(vx, [0] * len(vx), "v", color="#c44e52", ms=5, ls="none")
    ax.set_yticks([0] + [row[n] for n in names], [f"veto ({len(vx)})"] + names)
    ax.set_ylim(-0.6, len(names) + 0.6)
    ax.set_xlabel("frame")
    ax.grid(axis="y", visible=False)
    return _svg(fig)
