"""Rewrite an MCAP file that a killed run left without its summary into a complete one.

    python -m perception.tools.recover_mcap FILE [--output OUT]

``perception.run --mcap-out FILE`` finishes FILE (summary, index) when the run ends, also after Ctrl-C or
SIGTERM. A run killed with SIGKILL (or by a power loss, or the out-of-memory killer) leaves FILE without them:
readers that seek to the index (``mcap.reader.make_reader`` on a file) cannot open it. This command copies every
message up to the cut (the last second or so of the run is lost) into OUT (default: ``NAME.recovered.mcap`` beside
FILE), with a full summary; FILE itself is left as it is. Exit codes: 0 written, 2 bad input (one line on stderr:
no such file, not an MCAP file, OUT exists).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from perception.cli import OneLineArgumentParser
from perception.errors import UserInputError, clean_message
from perception.sinks.mcap_recover import recover_mcap


def get_args_parser() -> argparse.ArgumentParser:
    p = OneLineArgumentParser(prog="python -m perception.tools.recover_mcap", description=__doc__.split("\n\n")[0])
    p.add_argument("file", metavar="FILE", help="the MCAP file a killed run left (perception.run --mcap-out)")
    p.add_argument("--output", metavar="OUT", default=None,
                   help="the new, complete file (default: FILE.recovered.mcap beside FILE); never overwritten")
    return p


def default_output(path: Path) -> Path:
    """``run.mcap`` -> ``run.recovered.mcap``."""
    return path.with_name(f"{path.stem}.recovered{path.suffix or '.mcap'}")


def main(args: argparse.Namespace) -> int:
    source = Path(args.file)
    output = Path(args.output) if args.output else default_output(source)
    try:
        report = recover_mcap(source, output)
    except UserInputError as e:
        print(f"error: {clean_message(str(e))}", file=sys.stderr)
        return 2
    except OSError as e:
        print(f"error: {clean_message(f'{e.strerror or e}: {e.filename or source}')}", file=sys.stderr)
        return 2
    topics = ", ".join(f"{n} on {topic}" for topic, n in sorted(report.messages_per_topic.items()))
    state = "it was complete" if report.complete else "it had no summary (the run was killed)"
    if report.bytes_lost:
        state += f"; its last {report.bytes_lost} bytes were cut short or damaged and are left out"
    print(f"wrote {report.messages} messages ({topics or 'none'}) from {source} into {output}; {state}",
          file=sys.stderr)
    return 0


def cli() -> None:
    raise SystemExit(main(get_args_parser().parse_args()))


if __name__ == "__main__":
    cli()
