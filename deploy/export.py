"""Export the network to ONNX or a TensorRT engine.

    python -m deploy.export [--weights FILE.pt | --allow-untrained] --format onnx|engine
                            [--imgsz 384x640] [--batch N | --dynamic-batch [--max-batch 8]]
                            [--fp16 | --int8 --calib-images DIR] [--output PATH] [--simplify]

ONNX: opset 17+, uint8 ``images`` (B, 3, H, W) RGB in, named float32 outputs, metadata inside
(classes, input size, weights SHA-256, package version, precision). ``--fp16`` writes a real
half-precision graph; ``--int8`` a QDQ graph for onnxruntime, quantized from the fp32 graph on real images
(``deploy.onnx_int8``). Engine: our fp32 ONNX (kept next to it) built by TensorRT 10 with FP16, or INT8
calibrated on real images; a ``.engine.json`` sidecar carries the metadata.
Exit codes: 0 built, 2 bad input (one line on stderr).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from deploy.export_wrapper import timed_export
from deploy.int8_calibration import CalibrationBatches, CalibrationCache, list_calibration_images
from deploy.model_source import UNTRAINED_BANNER, load_source_model
from deploy.tensorrt import build_engine
from perception.backends.onnx_export import MIN_OPSET, export_onnx
from perception.cli import OneLineArgumentParser, parse_imgsz, run_main
from perception.errors import UserInputError

SUFFIX = {"onnx": ".onnx", "engine": ".engine"}


def get_args_parser() -> argparse.ArgumentParser:
    p = OneLineArgumentParser(prog="python -m deploy.export", description=__doc__.split("\n\n")[0],
                              formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--weights", metavar="FILE", default=None,
                   help="checkpoint (.pt); default: the shipped default weights")
    p.add_argument("--weights-sha256", metavar="HEX", default=None, help="expected SHA-256 of --weights")
    p.add_argument("--allow-untrained", action="store_true",
                   help="with no weights at all, export the seeded untrained model (marked untrained)")
    p.add_argument("--format", choices=tuple(SUFFIX), required=True)
    p.add_argument("--imgsz", type=parse_imgsz, default=None, metavar="HxW",
                   help="network input HEIGHTxWIDTH, multiples of 32 (default: the model's, 384x640)")
    batch = p.add_mutually_exclusive_group()
    batch.add_argument("--batch", type=int, default=1, metavar="N", help="fixed batch size")
    batch.add_argument("--dynamic-batch", action="store_true", help="symbolic batch axis")
    p.add_argument("--max-batch", type=int, default=8, metavar="N",
                   help="largest batch of a dynamic-batch engine (optimisation profile 1..N)")
    prec = p.add_mutually_exclusive_group()
    prec.add_argument("--fp16", action="store_true", help="half precision (real fp16 ONNX, or FP16 engine)")
    prec.add_argument("--int8", action="store_true",
                      help="INT8, calibrated on --calib-images: a QDQ ONNX graph for onnxruntime (the fp32 graph it "
                           "comes from is kept beside it as *_fp32.onnx), or an INT8 engine")
    p.add_argument("--calib-images", metavar="DIR", default=None, help="real images for INT8 calibration")
    p.add_argument("--calib-max-images", type=int, default=512, metavar="N", help="use at most N images")
    p.add_argument("--calib-batch", type=int, default=8, metavar="N",
                   help="calibration batch of a dynamic-batch engine (a fixed-batch engine calibrates at --batch)")
    p.add_argument("--calib-cache", metavar="FILE", default=None,
                   help="INT8 calibration cache, reused when present (default: <output>.calib)")
    p.add_argument("--output", metavar="PATH", default=None,
                   help="output file (default: exports/<weights stem>_<H>x<W>_<precision>.<onnx|engine>)")
    p.add_argument("--simplify", action="store_true", help="run onnxsim on the graph (needs onnxsim installed)")
    p.add_argument("--opset", type=int, default=17, help="ONNX opset (>= 17)")
    p.add_argument("--workspace-gib", type=float, default=2.0, help="TensorRT builder workspace")
    return p


def precision_of(args: argparse.Namespace) -> str:
    return "int8" if args.int8 else "fp16" if args.fp16 else "fp32"


def check_flags(args: argparse.Namespace) -> None:
    """Refuse contradictory or unusable flag combinations before any work is done."""
    if args.int8 and not args.calib_images:
        raise UserInputError("--int8 needs real calibration images: --calib-images DIR")
    if args.calib_images and not args.int8:
        raise UserInputError("--calib-images is only used with --int8")
    if args.batch < 1 or args.max_batch < 1 or args.calib_batch < 1 or args.calib_max_images < 1:
        raise UserInputError("--batch, --max-batch, --calib-batch and --calib-max-images must be >= 1")

    if args.opset < MIN_OPSET:
        raise UserInputError(f"--opset must be >= {MIN_OPSET}, got {args.opset}")
    if args.output and Path(args.output).suffix.lower() not in ("", SUFFIX[args.format]):
        raise UserInputError(f"--output {args.output} does not end in {SUFFIX[args.format]} (--format {args.format})")
    if args.simplify:
        from perception.backends.onnx_export import _onnxsim

        _onnxsim()
    if args.format == "engine":
        from perception.backends.tensorrt_runner import require_tensorrt

        require_tensorrt()


def default_output(stem: str, size_wh: tuple[int, int], precision: str, fmt: str) -> Path:
    w, h = size_wh
    return Path("exports") / f"{stem}_{h}x{w}_{precision}{SUFFIX[fmt]}"


def main(args: argparse.Namespace) -> int:
    check_flags(args)
    src = load_source_model(args.weights, allow_untrained=args.allow_untrained, weights_sha256=args.weights_sha256)
    if src.untrained:
        print(UNTRAINED_BANNER, file=sys.stderr, flush=True)
    size_wh = args.imgsz or src.model.config.input_size_wh
    precision = precision_of(args)
    out = Path(args.output) if args.output else default_output(src.stem, size_wh, precision, args.format)
    out = out if out.suffix else out.with_suffix(SUFFIX[args.format])
    # TensorRT picks its precision from the fp32 graph; onnxruntime's INT8 graph is quantized from it too
    onnx_precision = "fp16" if args.format == "onnx" and precision == "fp16" else "fp32"
    int8_onnx = args.format == "onnx" and precision == "int8"
    onnx_path = out.with_name(out.stem + "_fp32.onnx") if int8_onnx else \
        out if args.format == "onnx" else out.with_suffix(".onnx")
    timed_export(lambda: export_onnx(src.model, onnx_path, batch=args.batch, dynamic_batch=args.dynamic_batch,
                                     fp16=onnx_precision == "fp16", input_size_wh=size_wh, opset=args.opset,
                                     weights_sha256=src.weights_sha256, weights_name=src.weights_name,
                                     simplify=args.simplify),
                 fmt="onnx", precision=onnx_precision)
    if args.format == "engine":
        build_engine_from_args(args, onnx_path, out, precision, size_wh, src.weights_sha256)
    if int8_onnx:
        from deploy.onnx_int8 import quantize_int8

        images = list_calibration_images(args.calib_images, args.calib_max_images)
        batches = CalibrationBatches(images, size_wh, 1)
        timed_export(lambda: quantize_int8(onnx_path, out, batches, images_used=batches.images_used),
                     fmt="onnx", precision="int8")
    if src.untrained:
        print("note: the file above holds the UNTRAINED model (metadata untrained=true)", file=sys.stderr)
    return 0


def build_engine_from_args(args: argparse.Namespace, onnx_path: Path, out: Path, precision: str,
                           size_wh: tuple[int, int], weights_sha256: str) -> None:
    calibration = cache = None
    if precision == "int8":
        images = list_calibration_images(args.calib_images, args.calib_max_images)
        batch = args.calib_batch if args.dynamic_batch else args.batch
        calibration = CalibrationBatches(images, size_wh, batch)
        cache_path = Path(args.calib_cache) if args.calib_cache else out.with_name(out.name + ".calib")
        cache = CalibrationCache(cache_path, {"weights_sha256": weights_sha256, "input_size_wh": list(size_wh)})
        print(f"INT8 calibration: {calibration.images_used} images from {args.calib_images} in batches of "
              f"{batch}, cache {cache_path}", file=sys.stderr)
    timed_export(lambda: build_engine(onnx_path, out, precision=precision, calibration=calibration,
                                      calibration_cache=cache, max_batch=args.max_batch,
                                      workspace_gib=args.workspace_gib),
                 fmt="engine", precision=precision)


def cli() -> None:
    raise SystemExit(run_main(main, get_args_parser().parse_args()))


if __name__ == "__main__":
    cli()
