"""Old name of ``python -m perception.planning.sim.train``, kept so existing commands keep working.

This shim only runs :func:`perception.planning.sim.train.main` (under the old program name, so messages name
the command that was typed); the code lives in ``perception/planning/sim/train.py``.
"""

import sys

from perception.cli import run_main
from perception.planning.sim.train import get_args_parser, main

if __name__ == "__main__":
    parser = get_args_parser()
    parser.prog = "python -m perception.planning.train"
    sys.exit(run_main(main, parser.parse_args()))
