"""The frame loop's steps in threads: same results as one after the other, in order, errors in the caller."""

from __future__ import annotations

import json
import random
import threading
import time

import pytest

from conftest import CLIP, need, run_cli
from perception.pipeline.threads import StepChain


def _jittery(tag: str, seed: int):
    rng = random.Random(seed)

    def step(x):
        time.sleep(rng.random() * 0.003)
        return x + [tag]
    return step


@pytest.mark.parametrize("threaded", [False, True])
def test_steps_see_every_item_in_order(threaded):
    seen = []

    def stateful(x):  # a tracker: must get the items in source order
        seen.append(x[0])
        return x

    items = ([i] for i in range(200))
    with StepChain(items, [_jittery("a", 1), stateful, _jittery("b", 2)], threaded=threaded) as chain:
        out = list(chain)
    assert out == [[i, "a", "b"] for i in range(200)]
    assert seen == list(range(200))


def test_an_error_in_a_step_comes_out_in_place_of_its_item_and_threads_end():
    def breaks_at_5(x):
        if x == 5:
            raise ValueError("bad frame 5")
        return x

    got = []
    chain = StepChain(iter(range(100)), [breaks_at_5, lambda x: x], threaded=True)
    with pytest.raises(ValueError, match="bad frame 5"):
        for x in chain:
            got.append(x)
    chain.close()
    assert got == [0, 1, 2, 3, 4]
    assert not [t for t in threading.enumerate() if t.name.startswith("perception-")]


def test_closing_early_stops_the_source():
    pulled = []

    def source():
        for i in range(10_000):
            pulled.append(i)
            yield i

    chain = StepChain(source(), [lambda x: x], threaded=True)
    for x in chain:
        if x == 3:
            break
    chain.close()
    assert len(pulled) < 20  # bounded queues: the decoder was never far ahead
    assert not [t for t in threading.enumerate() if t.name.startswith("perception-")]


def test_threaded_run_writes_the_same_results_as_a_serial_one(tmp_path):
    clip = need(CLIP)
    records = {}
    for threads in (1, 2):
        out = tmp_path / f"t{threads}"
        proc = run_cli("perception.run", "--source", str(clip), "--output", str(out), "--max-frames", "40",
                       "--threads", str(threads), "--no-progress", "--no-report")
        assert proc.returncode == 0, proc.stderr
        lines = [json.loads(line) for line in (out / "frames.jsonl").read_text().splitlines()]
        for rec in lines:
            rec.pop("latency_ms")
        records[threads] = lines
        summary = json.loads((out / "summary.json").read_text())
        assert summary["frames_processed"] == 40
    assert [r["frame"] for r in records[2]] == list(range(40))
    assert records[2] == records[1]  # boxes, tracks, lanes and plans: frame for frame the same


def test_a_source_stuck_in_a_read_does_not_hang_the_stop():
    """A decoder stuck on a stalled stream: close() gives up after its timeout and says so (the caller then
    leaves the source open rather than closing it under the read)."""
    release = threading.Event()

    def stalled():
        yield 1
        release.wait()  # a read that never returns (until the test lets it go)
        yield 2

    chain = StepChain(stalled(), [lambda x: x], threaded=True)
    assert next(iter(chain)) == 1
    t0 = time.monotonic()
    assert chain.close(timeout_s=0.5) is False
    assert time.monotonic() - t0 < 3
    release.set()
    assert chain.close(timeout_s=5) is True
