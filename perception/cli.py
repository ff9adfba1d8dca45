"""Shared CLI plumbing for every command: one-line errors for bad flags and input, exit code 2."""

from __future__ import annotations

import argparse
import math
import os
import sys
from typing import Callable, NoReturn

from perception.errors import UserInputError, clean_message, first_line

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


def positive_int(text: str) -> int:
    """argparse ``type=``: a whole number > 0 (``"12"``; not ``"1.5"``, ``"0"`` or ``"-3"``)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive whole number, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive whole number, got {text!r}")
    return value


def float_in_range(low: float, high: float, *, low_open: bool = False) -> Callable[[str], float]:
    """argparse ``type=`` for a finite float in ``[low, high]`` (``(low, high]`` with ``low_open``).

    ``nan``, ``inf`` and values outside the range are a one-line argparse error naming the flag.
    """
    interval = f"{'(' if low_open else '['}{low:g}, {high:g}]"

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number in {interval}, got {text!r}") from None
        too_low = value <= low if low_open else value < low
        if not math.isfinite(value) or too_low or value > high:
            raise argparse.ArgumentTypeError(f"expected a finite number in {interval}, got {text!r}")
        return value

    parse.__name__ = f"float in {interval}"  # argparse names the type in some messages
    return parse


def run_main(main: Callable[[argparse.Namespace], int], args: argparse.Namespace) -> int:
    """Call ``main(args)``; a UserInputError or OSError becomes one line on stderr and exit code 2."""
    try:
        return main(args)
    except UserInputError as e:
        print(f"error: {first_line(e, 400)}", file=sys.stderr)
    except OSError as e:
        where = f": {e.filename}" if e.filename else ""
        print(f"error: {clean_message(f'{e.strerror or first_line(e)}{where}')}", file=sys.stderr)
    return EXIT_BAD_INPUT


def exit_with(code: int) -> NoReturn:
    """End a command-line program with ``code`` (what its ``main`` returned).

    After a Ctrl-C that ``main`` handled (130), the process ends with ``os._exit`` once the normal exit handlers
    have run: CPython kills itself with SIGINT at exit when a KeyboardInterrupt once passed through code it ran for
    an extension module (``PyRun_*`` during an import), even one that was handled, so the program would end by a
    signal instead of its exit code."""
    if code == 130:
        import atexit

        atexit._run_exitfuncs()  # what a normal exit runs (e.g. removing a temporary folder)
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(130)
    raise SystemExit(code)
