"""Write the cache entries that ship with the package: the default weights' ONNX graph and the default planner
policy's numpy copy, into ``perception/weights/cache/`` (the user cache's layout), and print their SHA-256s.

    python -m perception.tools.ship_cache

With them a first ``perception.run`` of the defaults needs neither torch nor an export (start-up under 1 s
instead of the 3-4 s measured when it must export). Each SHA-256 printed goes into the record in code
(``WeightsRecord.onnx_graph_sha256``, ``PolicyRecord.numpy_sha256``); an entry whose bytes differ from it is never
used. Run it again after changing the default weights, the default policy, the export or the opset;
``tests/test_shipped_cache.py`` fails until then.
"""

from __future__ import annotations

import argparse
import hashlib
import shutil

from perception.cli import OneLineArgumentParser, run_main
from perception.errors import UserInputError


def get_args_parser() -> argparse.ArgumentParser:
    return OneLineArgumentParser(prog="python -m perception.tools.ship_cache", description=__doc__.split("\n\n")[0])


def main(args: argparse.Namespace) -> int:
    from perception.backends.onnx_cache import cached_onnx
    from perception.cache import SHIPPED_CACHE_DIR
    from perception.model import default_weights, load_checkpoint
    from perception.planning.policy import DEFAULT_POLICY, _to_cache, load_policy

    record = default_weights()
    if record is None or DEFAULT_POLICY is None:
        raise UserInputError("no default weights or policy to ship a cache for")
    shutil.rmtree(SHIPPED_CACHE_DIR, ignore_errors=True)  # only the current defaults' entries ship
    loaded = load_checkpoint(record.path, expected_sha256=record.sha256)
    metadata = {k: v for k, v in loaded.metadata.items() if k != "metrics"}  # as perception.run records it
    graph = cached_onnx(loaded.model, record.sha256, record.name, folder=SHIPPED_CACHE_DIR,
                        native_size_wh=tuple(loaded.model.config.input_size_wh), checkpoint_metadata=metadata)
    policy = load_policy()
    _to_cache(policy, root=SHIPPED_CACHE_DIR)
    copies = sorted((SHIPPED_CACHE_DIR / "policies").glob("*.npz"))
    if len(copies) != 1:
        raise UserInputError(f"expected one policy copy in {SHIPPED_CACHE_DIR / 'policies'}, found {len(copies)}")
    print(f"graph  {graph.path.relative_to(SHIPPED_CACHE_DIR.parents[2])}\n"
          f"       onnx_graph_sha256 of {record.name}: {graph.sha256}")
    print(f"policy {copies[0].relative_to(SHIPPED_CACHE_DIR.parents[2])}\n"
          f"       numpy_sha256 of {DEFAULT_POLICY}: {hashlib.sha256(copies[0].read_bytes()).hexdigest()}")
    return 0


def cli(argv: list[str] | None = None) -> int:
    return run_main(main, get_args_parser().parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(cli())
