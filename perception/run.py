"""Main job: run the multi-task network over a video, an image folder or (later) a driving log.

    python -m perception.run --video drive.mp4 [--output DIR] [--weights FILE] [--camera FILE]
                             [--backend torch|onnxruntime] [--device cpu|cuda] [--max-frames N] [--no-video]

Writes ``annotated.mp4``, ``frames.jsonl`` and ``summary.json`` into DIR (default ``runs/<input stem>``).
Exit codes: 0 success, 2 bad input (one line on stderr), 130 interrupted (outputs still valid).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from perception.errors import UserInputError

UNTRAINED_WARNING = ("warning: running with UNTRAINED weights (no trained weights are shipped yet and none were "
                     "given with --weights): detections, masks and lanes are meaningless")


def get_args_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m perception.run", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--video", required=True, metavar="PATH", help="video file or folder of images")
    p.add_argument("--output", metavar="DIR", default=None,
                   help="output folder (default: runs/<input stem>, numbered when it exists)")
    p.add_argument("--weights", metavar="FILE", default=None, help="checkpoint (.pt) from perception.train")
    p.add_argument("--weights-sha256", metavar="HEX", default=None, help="expected SHA-256 of --weights")
    p.add_argument("--camera", metavar="FILE", default=None,
                   help="camera file (OpenCV YAML, ROS camera_info YAML): undistortion and distances")
    p.add_argument("--backend", choices=("torch", "onnxruntime", "tensorrt"), default="torch")
    p.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (torch backend)")
    p.add_argument("--max-frames", type=int, default=None, metavar="N", help="stop after N input frames")
    p.add_argument("--no-video", action="store_true", help="skip annotated.mp4 (faster)")
    p.add_argument("--conf", type=float, default=0.3, help="detection score threshold")
    p.add_argument("--fps", type=float, default=10.0, help="frame rate assumed for image folders")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p


def _default_output_dir(video: str) -> Path:
    stem = Path(video.rstrip("/")).stem or "run"
    base = Path("runs") / stem
    candidate, n = base, 2
    while candidate.exists() and any(candidate.iterdir()):
        candidate, n = base.with_name(f"{stem}-{n}"), n + 1
    return candidate


def _load_model(args: argparse.Namespace) -> tuple[Any, Any, str | None]:
    """Return (model, weights_info for summary.json, warning or None)."""
    from perception.model import build_multitask_lite, default_weights, load_checkpoint

    if args.weights:
        loaded = load_checkpoint(args.weights, expected_sha256=args.weights_sha256)
        return loaded.model, {"path": loaded.path, "sha256": loaded.sha256, "metadata": loaded.metadata}, None
    record = default_weights()
    if record is not None:
        loaded = load_checkpoint(record.path, expected_sha256=record.sha256)
        return loaded.model, {"name": record.name, "path": loaded.path, "sha256": loaded.sha256,
                              "metadata": loaded.metadata}, None
    return build_multitask_lite(seed=0), "untrained", UNTRAINED_WARNING


def _make_runner(args: argparse.Namespace, model: Any, out_dir: Path) -> Any:
    from deploy.runner import OnnxRuntimeRunner, TorchRunner

    if args.backend == "torch":
        return TorchRunner(model, device=args.device)
    if args.backend == "onnxruntime":
        from deploy.onnx_export import export_onnx

        onnx_path = export_onnx(model, out_dir / "model.onnx")
        return OnnxRuntimeRunner(onnx_path)
    raise UserInputError(f"backend {args.backend!r} is not available in this version (torch and onnxruntime are)")


def _load_camera(path: str | None) -> Any:
    if path is None:
        return None
    from calibration import CameraFileError, load_camera

    try:
        return load_camera(path)
    except CameraFileError as e:
        raise UserInputError(str(e)) from None


def main(args: argparse.Namespace) -> int:
    from perception.pipeline import PipelineOutputs, run_pipeline
    from perception.postprocess import DetectionDecodeConfig, Postprocessor
    from perception.preprocess import Preprocessor
    from perception.sources import open_source

    # FFmpeg prints its own decoder complaints on stderr; we report damaged frames ourselves.
    # Set FFMPEG log level only here, in the CLI, and only when the user has not chosen one.
    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")
    try:
        if args.max_frames is not None and args.max_frames <= 0:
            raise UserInputError(f"--max-frames must be positive, got {args.max_frames}")
        if not 0.0 <= args.conf <= 1.0:
            raise UserInputError(f"--conf must be in [0, 1], got {args.conf}")
        source = open_source(args.video, fps=args.fps)
        camera = _load_camera(args.camera)
        model, weights_info, warning = _load_model(args)
        out_dir = Path(args.output) if args.output else _default_output_dir(args.video)
        out_dir.mkdir(parents=True, exist_ok=True)
        runner = _make_runner(args, model, out_dir)
    except UserInputError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except OSError as e:
        print(f"error: {e.strerror or e}: {e.filename or ''}".rstrip(": "), file=sys.stderr)
        return 2
    if warning:
        print(warning, file=sys.stderr)
    cfg = model.config
    pre = Preprocessor(cfg.input_size_wh, camera=camera)
    post = Postprocessor(cfg, pre, det=DetectionDecodeConfig(conf_threshold=args.conf))
    from perception.geometry import calibration_summary, make_enricher

    extra = {"backend": {"name": runner.name, "device": runner.device, "precision": runner.precision},
             "model": {"input_size_wh": list(cfg.input_size_wh), "det_classes": list(cfg.det_classes),
                       "seg_classes": list(cfg.seg_classes)},
             "calibration": calibration_summary(camera, args.camera)}
    report = run_pipeline(source, runner, pre, post, PipelineOutputs(out_dir, write_video=not args.no_video),
                          max_frames=args.max_frames, weights_info=weights_info,
                          weights_warning="UNTRAINED WEIGHTS" if warning else None, extra_summary=extra,
                          enrich=make_enricher(camera, pre), progress=not args.no_progress)
    fps = report.frames_processed / report.wall_time_s if report.wall_time_s else 0.0
    status = "interrupted after" if report.interrupted else "processed"
    print(f"{status} {report.frames_processed}/{report.frames_read} frames ({report.frames_failed} failed) "
          f"in {report.wall_time_s:.1f} s, {fps:.1f} FPS | {report.timer.one_line()} | results in {out_dir}/",
          file=sys.stderr)
    if report.frames_failed:
        print(f"warning: {report.frames_failed} of {report.frames_read} frames could not be decoded and were "
              f"skipped (listed with status 'failed' in frames.jsonl)", file=sys.stderr)
    if report.interrupted:
        return 130
    return 0


def cli() -> None:
    raise SystemExit(main(get_args_parser().parse_args()))


if __name__ == "__main__":
    cli()
