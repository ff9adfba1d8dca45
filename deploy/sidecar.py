"""Write the JSON sidecar for an engine built outside this package (e.g. with ``trtexec``).

    python -m deploy.sidecar --onnx model.onnx --engine model.engine --precision fp16

The sidecar copies the ONNX file's metadata (classes, input size, weights SHA-256) and records the
engine's precision, its own SHA-256 (``perception.run`` loads only an engine with these bytes, unless
``--trust-engine``), the source ONNX SHA-256 and the TensorRT version, so ``perception.run --backend
tensorrt --weights model.engine`` can set up pre/postprocessing. Exit 2 on bad input.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from perception.backends.metadata import (ENGINE_SHA256_KEY, config_from_metadata, read_onnx_metadata,
                                          write_sidecar)
from perception.backends.tensorrt_runner import tensorrt_version
from perception.cli import OneLineArgumentParser, run_main
from perception.errors import UserInputError
from perception.model.weights import sha256_of


def get_args_parser() -> argparse.ArgumentParser:
    p = OneLineArgumentParser(prog="python -m deploy.sidecar", description=__doc__.split("\n\n")[0])
    p.add_argument("--onnx", required=True, help="the ONNX file (from deploy.export) the engine was built from")
    p.add_argument("--engine", required=True, help="the engine file")
    p.add_argument("--precision", required=True, choices=("fp32", "fp16", "int8"),
                   help="what the engine was built with (e.g. trtexec --fp16 -> fp16)")
    p.add_argument("--builder", default="trtexec", help="what built the engine (recorded)")
    p.add_argument("--tensorrt-version", default=None,
                   help="TensorRT version that built it (default: the installed tensorrt module's)")
    return p


def main(args: argparse.Namespace) -> int:
    onnx_path, engine = Path(args.onnx), Path(args.engine)
    for path in (onnx_path, engine):
        if not path.is_file():
            raise UserInputError(f"file not found: {path}")
    meta = read_onnx_metadata(onnx_path)
    config_from_metadata(meta, where=str(onnx_path))  # must be one of ours
    version = args.tensorrt_version or tensorrt_version()
    if version is None:
        raise UserInputError("TensorRT is not installed here, so its version is unknown: pass --tensorrt-version")
    meta.update({"precision": args.precision, "builder": args.builder, "source_onnx": onnx_path.name,
                 "source_onnx_sha256": sha256_of(onnx_path), "tensorrt_version": version,
                 ENGINE_SHA256_KEY: sha256_of(engine)})
    print(f"wrote {write_sidecar(engine, meta)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(run_main(main, get_args_parser().parse_args()))
