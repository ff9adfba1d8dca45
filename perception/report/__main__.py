"""python -m perception.report DIR: (re)build DIR/report.html from a finished (or interrupted) run folder."""

from __future__ import annotations

import argparse
import sys
import time

from perception.cli import EXIT_BAD_INPUT, OneLineArgumentParser
from perception.errors import clean_message
from perception.report.build import ReportError, write_report


def get_args_parser() -> argparse.ArgumentParser:
    p = OneLineArgumentParser(prog="python -m perception.report", description=__doc__.split("\n\n")[0])
    p.add_argument("run_dir", metavar="DIR", help="output folder of perception.run (frames.jsonl, summary.json)")
    p.add_argument("--output", metavar="FILE", default=None, help="where to write the page (default: DIR/report.html)")
    return p


def main(args: argparse.Namespace) -> int:
    t0 = time.perf_counter()
    try:
        path = write_report(args.run_dir, args.output)
    except ReportError as e:
        print(f"error: {clean_message(str(e))}", file=sys.stderr)
        return EXIT_BAD_INPUT
    print(f"wrote {path} in {time.perf_counter() - t0:.2f} s", file=sys.stderr)
    return 0


def cli() -> None:
    raise SystemExit(main(get_args_parser().parse_args()))


if __name__ == "__main__":
    cli()
