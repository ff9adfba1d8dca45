"""Shared CLI plumbing for every command: one-line errors for bad flags and input, exit code 2."""

from __future__ import annotations

import argparse
import sys
from typing import Callable, NoReturn

from perception.errors import UserInputError, first_line

EXIT_BAD_INPUT = 2


class OneLineArgumentParser(argparse.ArgumentParser):
    """argparse that reports a bad flag as one line (``error: ...``) on stderr and exits with 2."""

    def error(self, message: str) -> NoReturn:
        print(f"error: {message} (see {self.prog} --help)", file=sys.stderr)
        raise SystemExit(EXIT_BAD_INPUT)


def parse_imgsz(text: str) -> tuple[int, int]:
    """``"384x640"`` (HEIGHTxWIDTH, multiples of 32) -> (W, H), the order ModelConfig uses."""
    parts = text.lower().split("x")
    if len(parts) != 2 or not all(p.isdigit() for p in parts):
        raise argparse.ArgumentTypeError(f"expected HEIGHTxWIDTH like 384x640, got {text!r}")
    h, w = int(parts[0]), int(parts[1])
    if h <= 0 or w <= 0 or h % 32 or w % 32:
        raise argparse.ArgumentTypeError(f"sides must be positive multiples of 32, got {text!r}")
    return (w, h)


def parse_positive_ints(text: str) -> list[int]:
    """``"1,8"`` -> [1, 8]; every value must be a positive integer."""
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated positive integers, got {text!r}") from None
    if not values or any(v <= 0 for v in values):
        raise argparse.ArgumentTypeError(f"expected comma-separated positive integers, got {text!r}")
    return values


def run_main(main: Callable[[argparse.Namespace], int], args: argparse.Namespace) -> int:
    """Call ``main(args)``; a UserInputError or OSError becomes one line on stderr and exit code 2."""
    try:
        return main(args)
    except UserInputError as e:
        print(f"error: {first_line(e, 400)}", file=sys.stderr)
    except OSError as e:
        print(f"error: {e.strerror or first_line(e)}: {e.filename or ''}".rstrip(": "), file=sys.stderr)
    return EXIT_BAD_INPUT
