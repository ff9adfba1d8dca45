"""The one wrapper every export goes through: time it, check the file, check the precision, say what was built."""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, TextIO

from perception.backends.metadata import read_onnx_metadata, read_sidecar
from perception.backends.onnx_fp16 import float_initializer_types


@dataclass(frozen=True)
class ExportResult:
    path: Path
    format: str          # "onnx" or "engine"
    precision: str       # what the file records, checked against what was asked for
    size_mb: float
    seconds: float

    def one_line(self) -> str:
        return (f"built {self.format} ({self.precision}): {self.size_mb:.2f} MB in {self.seconds:.1f} s "
                f"-> {self.path}")


def recorded_precision(path: Path, fmt: str) -> str:
    """The precision an exported file says it has (ONNX metadata or engine sidecar)."""
    meta = read_onnx_metadata(path) if fmt == "onnx" else read_sidecar(path)
    return str(meta.get("precision"))


def check_fp16_onnx(path: Path) -> None:
    """An fp16 ONNX must hold its weights in float16: refuse a graph that kept float32 weights."""
    import onnx

    counts = float_initializer_types(onnx.load(str(path)))
    if counts["float32"] or not counts["float16"]:
        raise RuntimeError(f"{path} was asked to be fp16 but holds {counts['float32']} float32 and "
                           f"{counts['float16']} float16 weight tensors")


def timed_export(build: Callable[[], Path], *, fmt: str, precision: str, log: TextIO | None = None) -> ExportResult:
    """Run ``build`` (returns the written file), then check and report it.

    Raises RuntimeError when the file is missing or empty, or records a precision other than
    ``precision`` (a requested precision is never silently dropped). Prints one line to ``log``
    (default stdout):
    format, precision, size in MB, seconds and path.
    """
    t0 = time.perf_counter()
    path = Path(build())
    seconds = time.perf_counter() - t0
    if not path.is_file() or path.stat().st_size == 0:
        raise RuntimeError(f"{fmt} export did not write a non-empty file at {path}")
    got = recorded_precision(path, fmt)
    if got != precision:
        raise RuntimeError(f"{fmt} export was asked for {precision} but {path} records {got}")
    if fmt == "onnx" and precision == "fp16":
        check_fp16_onnx(path)
    result = ExportResult(path, fmt, precision, path.stat().st_size / 1e6, seconds)
    print(result.one_line(), file=log or sys.stdout, flush=True)
    return result
