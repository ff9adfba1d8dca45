"""``deploy.benchmark --e2e``: the main job's loop (perception.pipeline.run_pipeline) per backend, timed per stage."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from deploy.model_source import SourceModel
from perception.pipeline import FrameProcessor, PipelineConfig, PipelineOutputs, open_sinks, run_pipeline
from perception.postprocess import Postprocessor
from perception.preprocess import Preprocessor
from perception.sources import open_source

STAGES = ("decode", "preprocess", "inference", "postprocess", "draw", "write")


def e2e_rows(prepared: list[Any], src: SourceModel, video: Path, size_wh: tuple[int, int],
             args: argparse.Namespace, workdir: Path) -> list[dict[str, Any]]:
    """One row per prepared backend: frames, FPS and p50/p90/p99 ms per pipeline stage (batch 1)."""
    from dataclasses import replace

    config = replace(src.model.config, input_size_wh=size_wh)
    rows = []
    for prep in prepared:
        row: dict[str, Any] = {"backend": prep.variant.backend, "precision": prep.variant.precision,
                               "status": prep.status}
        if prep.runner is not None:
            pre = Preprocessor(size_wh)
            source = open_source(video)
            outputs = PipelineOutputs(workdir / f"e2e_{prep.variant.backend}_{prep.variant.precision}",
                                      write_video=not args.no_video)
            sinks = open_sinks(outputs, source.info.fps, (source.info.width_px, source.info.height_px))
            report = run_pipeline(source, FrameProcessor(prep.runner, pre, Postprocessor(config, pre)), sinks,
                                  PipelineConfig(outputs, weights_info=src.weights_name, threads=1,
                                                 max_frames=args.max_frames, progress=False))
            stages = report.timer.summary()
            row.update({"frames": report.frames_processed,
                        "fps": report.frames_processed / report.wall_time_s if report.wall_time_s else 0.0,
                        "stages_ms": {k: {q: v[q] for q in ("p50", "p90", "p99")} for k, v in stages.items()}})
        rows.append(row)
    return rows


def format_e2e_table(rows: list[dict[str, Any]]) -> str:
    """backend | precision | frames | FPS | <stage> p50/p90 ms ... ; failures listed under the table."""
    stages = [s for s in STAGES if any(s in r.get("stages_ms", {}) for r in rows)]
    header = " | ".join(["backend".ljust(11), "prec", "frames", "FPS".ljust(6)] + [f"{s} p50/p90 ms".ljust(20)
                                                                                 for s in stages])
    lines, notes = [header, "-" * len(header)], []
    for r in rows:
        if "stages_ms" not in r:
            notes.append(f"{r['backend']}:{r['precision']}: {r['status']}")
            lines.append(" | ".join([r["backend"].ljust(11), r["precision"], "failed"]))
            continue
        cells = [r["backend"].ljust(11), r["precision"].ljust(4), str(r["frames"]).ljust(6), f"{r['fps']:.1f}".ljust(6)]
        for s in stages:
            q = r["stages_ms"].get(s)
            cells.append((f"{q['p50']:.2f}/{q['p90']:.2f}" if q else "-").ljust(20))
        lines.append(" | ".join(cells))
    return "\n".join(lines + [f"  {n}" for n in notes])
