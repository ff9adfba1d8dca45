"""Old name of ``python -m perception.planning.sim.evaluate``, kept so existing commands keep working.

This shim only runs :func:`perception.planning.sim.evaluate.main` (under the old program name, so messages name
the command that was typed); the code lives in ``perception/planning/sim/evaluate.py``.
"""

import sys

from perception.cli import run_main
from perception.planning.sim.evaluate import get_args_parser, main

if __name__ == "__main__":
    parser = get_args_parser()
    parser.prog = "python -m perception.planning.evaluate"
    sys.exit(run_main(main, parser.parse_args()))
