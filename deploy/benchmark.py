"""Benchmark backends side by side: latency, throughput, parity with torch fp32, accuracy. One table + JSON.

    python -m deploy.benchmark [--weights FILE.pt | --allow-untrained]
                               [--backends torch,onnxruntime,onnxruntime:fp16,tensorrt:fp16,tensorrt:int8]
                               [--imgsz 384x640] [--batch 1,8] [--iters 50] [--device cpu|cuda]
                               [--output benchmarks/out/deploy.json] [--e2e [--max-frames 100]]

Each ``backend[:precision]`` is prepared (exported / built as needed) and timed on real frames of
the dashcam clip at every batch size: p50/p90/p99 ms per call, FPS = images per second. Parity is
the largest error of any raw output against torch fp32 on the CPU, on the same real frames
(``deploy.parity``). A backend that cannot run here gets a row saying ``failed: <why>``.
``--e2e`` instead times the whole main-job pipeline per stage (batch 1). Exit 2 on bad input.
"""

from __future__ import annotations

import argparse
import copy
import datetime as dt
import json
import os
import platform
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from deploy.accuracy import ACCURACY_COLUMNS, accuracy_cells, find_accuracy_fn
from deploy.export_wrapper import timed_export
from deploy.int8_calibration import CalibrationBatches, CalibrationCache, list_calibration_images
from deploy.model_source import UNTRAINED_BANNER, SourceModel, load_source_model
from deploy.parity import batch_of, output_errors, read_real_frames, worst
from deploy.tensorrt import build_engine
from perception.backends.onnx_export import export_onnx
from perception.backends.runner import BACKENDS, Runner, make_runner
from perception.backends.torch_runner import TorchRunner
from perception.cli import OneLineArgumentParser, parse_imgsz, parse_positive_ints, run_main
from perception.errors import UserInputError, first_line

REPO = Path(__file__).resolve().parents[1]
DEFAULT_CLIP = REPO.parent / "shared" / "data" / "udacity_lanelines_p1" / "solidWhiteRight.mp4"
DEFAULT_PRECISION = {"torch": "fp32", "onnxruntime": "fp32", "tensorrt": "fp16"}


@dataclass(frozen=True)
class Variant:
    backend: str      # one of BACKENDS
    precision: str    # fp32 / fp16 / int8

    @property
    def label(self) -> str:
        return f"{self.backend}:{self.precision}"


def parse_variants(text: str) -> list[Variant]:
    """``"torch,onnxruntime:fp16"`` -> variants; a backend alone gets its default precision."""
    out = []
    for item in (t.strip() for t in text.split(",") if t.strip()):
        backend, _, precision = item.partition(":")
        if backend not in BACKENDS:
            raise argparse.ArgumentTypeError(f"unknown backend {backend!r} (choose from {', '.join(BACKENDS)})")
        precision = precision or DEFAULT_PRECISION[backend]
        if precision not in ("fp32", "fp16", "int8"):
            raise argparse.ArgumentTypeError(f"unknown precision {precision!r} in {item!r} (fp32, fp16, int8)")
        out.append(Variant(backend, precision))
    if not out:
        raise argparse.ArgumentTypeError("--backends is empty")
    return out


def get_args_parser() -> argparse.ArgumentParser:
    p = OneLineArgumentParser(prog="python -m deploy.benchmark", description=__doc__.split("\n\n")[0],
                              formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--weights", metavar="FILE", default=None, help="checkpoint (.pt); default: shipped weights")
    p.add_argument("--allow-untrained", action="store_true", help="benchmark the seeded untrained model")
    p.add_argument("--backends", type=parse_variants, default=parse_variants("torch,onnxruntime,tensorrt"),
                   metavar="LIST", help="backend[:precision],... (torch, onnxruntime, tensorrt; fp32/fp16/int8)")
    p.add_argument("--imgsz", type=parse_imgsz, default=None, metavar="HxW", help="network input (default: model's)")
    p.add_argument("--batch", type=parse_positive_ints, default=[1], metavar="LIST", help="batch sizes, e.g. 1,8")
    p.add_argument("--iters", type=int, default=50, help="timed calls per row")
    p.add_argument("--warmup", type=int, default=5, help="untimed calls before timing")
    p.add_argument("--device", default="cpu", help="cpu or cuda (torch and onnxruntime; tensorrt is always cuda)")
    p.add_argument("--threads", type=int, default=None, help="intra-op threads for torch and onnxruntime")
    p.add_argument("--video", default=None, help=f"real frames for timing and parity (default: {DEFAULT_CLIP})")
    p.add_argument("--calib-images", default=None, metavar="DIR",
                   help="real images for the int8 variants (onnxruntime:int8, tensorrt:int8)")
    p.add_argument("--workdir", default=None, metavar="DIR", help="keep exported files here (default: temp dir)")
    p.add_argument("--output", default=str(REPO / "benchmarks" / "out" / "deploy.json"), help="JSON results")
    p.add_argument("--no-accuracy", action="store_true",
                   help="skip the CamVid/Apollo validation columns (they run the full val sets per backend)")
    p.add_argument("--e2e", action="store_true", help="time the whole pipeline per stage instead (batch 1)")
    p.add_argument("--max-frames", type=int, default=100, help="frames per backend in --e2e mode")
    p.add_argument("--no-video", action="store_true", help="--e2e: skip drawing/writing annotated video")
    return p


@dataclass
class Prepared:
    variant: Variant
    runner: Runner | None
    status: str               # "ok" or "failed: why"
    size_mb: float | None     # checkpoint / ONNX / engine file size


def file_size_mb(src: SourceModel) -> float:
    """Size of the torch checkpoint (or of its state dict serialised, for the untrained model)."""
    if src.path is not None:
        return src.path.stat().st_size / 1e6
    import io

    buf = io.BytesIO()
    torch.save(src.model.state_dict(), buf)
    return buf.tell() / 1e6


def prepare(variant: Variant, src: SourceModel, args: argparse.Namespace, size_wh: tuple[int, int],
            workdir: Path) -> Prepared:
    """Export/build what ``variant`` needs and make its runner; failures become a ``failed: why`` status."""
    try:
        if variant.backend == "torch":
            runner = make_runner("torch", model=copy.deepcopy(src.model), device=args.device,
                                 precision=variant.precision)
            return Prepared(variant, runner, "ok", file_size_mb(src))
        if variant.backend == "tensorrt":
            from perception.backends.tensorrt_runner import require_tensorrt

            require_tensorrt()
        onnx_precision = variant.precision if variant.backend == "onnxruntime" and variant.precision != "int8" \
            else "fp32"
        onnx_path = workdir / f"model_{size_wh[1]}x{size_wh[0]}_{onnx_precision}.onnx"
        if not onnx_path.is_file():
            timed_export(lambda: export_onnx(src.model, onnx_path, dynamic_batch=True, input_size_wh=size_wh,
                                             fp16=onnx_precision == "fp16", weights_sha256=src.weights_sha256,
                                             weights_name=src.weights_name),
                         fmt="onnx", precision=onnx_precision, log=sys.stderr)
        if variant.backend == "onnxruntime" and variant.precision == "int8":
            onnx_path = quantize_for_benchmark(onnx_path, args, size_wh)
        if variant.backend == "onnxruntime":
            runner = make_runner("onnxruntime", model_path=onnx_path, device=args.device, threads=args.threads)
            return Prepared(variant, runner, "ok", onnx_path.stat().st_size / 1e6)
        engine = build_benchmark_engine(variant, onnx_path, src, args, size_wh)
        runner = make_runner("tensorrt", model_path=engine, device="cuda")
        return Prepared(variant, runner, "ok", engine.stat().st_size / 1e6)
    except (UserInputError, RuntimeError, ImportError) as e:
        return Prepared(variant, None, f"failed: {first_line(e, 300)}", None)


def quantize_for_benchmark(fp32_onnx: Path, args: argparse.Namespace, size_wh: tuple[int, int]) -> Path:
    """onnxruntime's INT8 (QDQ) graph of ``fp32_onnx``, calibrated on ``--calib-images``."""
    from deploy.onnx_int8 import quantize_int8

    if not args.calib_images:
        raise UserInputError("onnxruntime:int8 needs --calib-images DIR")
    out = fp32_onnx.with_name(fp32_onnx.stem.replace("_fp32", "") + "_int8.onnx")
    batches = CalibrationBatches(list_calibration_images(args.calib_images, 512), size_wh, 1)
    timed_export(lambda: quantize_int8(fp32_onnx, out, batches, images_used=batches.images_used),
                 fmt="onnx", precision="int8", log=sys.stderr)
    return out


def build_benchmark_engine(variant: Variant, onnx_path: Path, src: SourceModel, args: argparse.Namespace,
                           size_wh: tuple[int, int]) -> Path:
    engine = onnx_path.with_name(f"{onnx_path.stem}_{variant.precision}.engine")
    calibration = cache = None
    if variant.precision == "int8":
        if not args.calib_images:
            raise UserInputError("tensorrt:int8 needs --calib-images DIR")
        calibration = CalibrationBatches(list_calibration_images(args.calib_images, 512), size_wh, 8)
        cache = CalibrationCache(engine.with_suffix(".calib"),
                                 {"weights_sha256": src.weights_sha256, "input_size_wh": list(size_wh)})
    timed_export(lambda: build_engine(onnx_path, engine, precision=variant.precision, calibration=calibration,
                                      calibration_cache=cache, max_batch=max(args.batch), opt_batch=max(args.batch)),
                 fmt="engine", precision=variant.precision, log=sys.stderr)
    return engine


def time_calls(runner: Runner, x: np.ndarray, warmup: int, iters: int) -> dict[str, float]:
    """p50/p90/p99 ms per call and images/s over ``iters`` timed calls on batch ``x`` (B, 3, H, W)."""
    for _ in range(warmup):
        runner(x)
    times_ms = []
    for _ in range(iters):
        t0 = time.perf_counter()
        runner(x)
        times_ms.append((time.perf_counter() - t0) * 1000.0)
    t = np.asarray(times_ms)
    return {"p50_ms": float(np.percentile(t, 50)), "p90_ms": float(np.percentile(t, 90)),
            "p99_ms": float(np.percentile(t, 99)), "fps": float(len(x) * iters / (t.sum() / 1000.0))}


def benchmark_rows(prepared: list[Prepared], frames: np.ndarray, ref_runner: Runner,
                   args: argparse.Namespace) -> list[dict[str, Any]]:
    """One row per (variant, batch size): status, size, latency, FPS, parity, accuracy."""
    acc_fn, acc_reason = (None, "skipped (--no-accuracy)") if args.no_accuracy else find_accuracy_fn()
    refs = {b: ref_runner(batch_of(frames, b)) for b in args.batch}  # torch fp32 CPU on real frames
    rows = []
    for prep in prepared:
        acc = accuracy_cells(acc_fn, acc_reason, prep.runner) if prep.runner is not None else \
            {k: "-" for k in ACCURACY_COLUMNS}
        for b in args.batch:
            row: dict[str, Any] = {"backend": prep.variant.backend, "precision": prep.variant.precision, "batch": b,
                                   "status": prep.status, "size_mb": prep.size_mb, **acc}
            if prep.runner is not None:
                x = batch_of(frames, b)
                try:
                    row.update(time_calls(prep.runner, x, args.warmup, args.iters))
                    errors = output_errors(refs[b], prep.runner(x))
                    row["parity_max_abs"], row["parity_max_rel"] = worst(errors)
                    row["parity_per_output"] = errors
                except (ValueError, RuntimeError) as e:
                    row["status"] = f"failed: {first_line(e, 300)}"
            rows.append(row)
            print(f"  {prep.variant.label} batch {b}: {row['status']}", file=sys.stderr, flush=True)
    return rows


def _cell(value: Any, fmt: str) -> str:
    return format(value, fmt) if isinstance(value, (int, float)) and not isinstance(value, bool) else str(value)


TABLE_COLUMNS = (("backend", "backend", "", 11), ("precision", "prec", "", 4), ("batch", "batch", "d", 5),
                 ("status", "status", "", 6), ("size_mb", "MB", ".2f", 5), ("p50_ms", "p50 ms", ".1f", 7),
                 ("p90_ms", "p90 ms", ".1f", 7), ("p99_ms", "p99 ms", ".1f", 7), ("fps", "FPS", ".1f", 6),
                 ("parity_max_abs", "max abs err", ".2e", 11), ("parity_max_rel", "max rel err", ".2e", 11),
                 ("camvid_val_miou", "CamVid mIoU", ".3f", 11), ("apollo_ap50", "Apollo AP50", ".3f", 11))


def format_table(rows: list[dict[str, Any]]) -> str:
    """Plain-text table; long failure reasons are listed under it instead of widening the column."""
    header = " | ".join(title.ljust(width) for _, title, _, width in TABLE_COLUMNS)
    lines, notes = [header, "-" * len(header)], []
    for row in rows:
        cells = []
        for key, _, fmt, width in TABLE_COLUMNS:
            value = row.get(key, "-")
            if value is None:
                value = "-"
            text = _cell(value, fmt)
            if key == "status" and text != "ok":
                notes.append(f"{row['backend']}:{row['precision']}: {text}")
                text = "failed"
            elif key in ACCURACY_COLUMNS and (text.startswith("n/a") or text.startswith("failed")):
                notes.append(f"{title_of(key)}: {text}")
                text = text.split(" ")[0].rstrip(":")
            cells.append(text.ljust(width))
        lines.append(" | ".join(cells))
    return "\n".join(lines + [f"  {n}" for n in dict.fromkeys(notes)])


def title_of(key: str) -> str:
    return next(title for k, title, _, _ in TABLE_COLUMNS if k == key)


def main(args: argparse.Namespace) -> int:
    video = Path(args.video) if args.video else DEFAULT_CLIP
    if not video.is_file():
        raise UserInputError(f"video for real frames not found: {video} (pass --video PATH)")
    if args.iters < 1 or args.warmup < 0 or args.max_frames < 1:
        raise UserInputError("--iters and --max-frames must be >= 1, --warmup >= 0")
    if args.threads:
        torch.set_num_threads(args.threads)
    src = load_source_model(args.weights, allow_untrained=args.allow_untrained)
    if src.untrained:
        print(UNTRAINED_BANNER, file=sys.stderr, flush=True)
    size_wh = args.imgsz or src.model.config.input_size_wh
    with tempfile.TemporaryDirectory(prefix="deploy-bench-") as tmp:
        workdir = Path(args.workdir) if args.workdir else Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        prepared = [prepare(v, src, args, size_wh, workdir) for v in args.backends]
        if args.e2e:
            from deploy.benchmark_e2e import e2e_rows, format_e2e_table

            rows = e2e_rows(prepared, src, video, size_wh, args, workdir)
            table = format_e2e_table(rows)
        else:
            frames = read_real_frames(video, max(args.batch), size_wh)
            ref = TorchRunner(copy.deepcopy(src.model), "cpu")
            rows = benchmark_rows(prepared, frames, ref, args)
            table = format_table(rows)
    print(table)
    result = {"date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"), "mode": "e2e" if args.e2e
              else "network", "machine": platform.machine(), "cpu_count": os.cpu_count(),
              "load_avg_1m_at_end": os.getloadavg()[0], "torch_threads": torch.get_num_threads(),
              "device": args.device, "input_size_wh": list(size_wh), "video": str(video),
              "weights": src.weights_name, "weights_sha256": src.weights_sha256, "untrained": src.untrained,
              "iters": args.iters, "parity_reference": "torch fp32 on cpu, same real frames",
              "parity_max_rel_definition": "max|got-ref| / max|ref| per output, worst output", "rows": rows}
    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {out}")
    return 0


def cli() -> None:
    raise SystemExit(run_main(main, get_args_parser().parse_args()))


if __name__ == "__main__":
    cli()
