"""Steps applied to a stream of items, in order, either one after the other or each in its own thread.

``StepChain(source_items, steps, threaded=True)`` runs the source (decoding) in one thread and every step in
another, with queues of ``QUEUE_SIZE`` between them, so that while one frame is drawn the next is inferred and
the one after is decoded. Each step sees the items in source order (one thread per step, FIFO queues), so a
stateful step (a tracker) works as it would serially, and the items come out in order. OpenCV, NumPy and
onnxruntime release the GIL in their heavy calls, which is where the overlap comes from.

An exception in the source or a step comes out of the iteration in the caller's thread, in place of the item it
hit. ``close()`` (also on leaving a ``with`` block) stops the source and waits for the threads to finish, so
that the source can be closed safely afterwards; items still in the queues are dropped.
"""

from __future__ import annotations

import queue
import threading
import time
from typing import Any, Callable, Iterable, Iterator

QUEUE_SIZE = 2  # items waiting between two threads: enough to smooth jitter, small enough to bound memory
_END = object()  # the source is exhausted (or stopped)


class _Raised:
    def __init__(self, error: BaseException):
        self.error = error


class StepChain:
    """Iterate to get ``steps[-1](...steps[0](item))`` for each item of ``source_items``, in order."""

    def __init__(self, source_items: Iterable[Any], steps: list[Callable[[Any], Any]], *, threaded: bool):
        self._source = iter(source_items)
        self._steps = list(steps)
        self.threaded = threaded
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._queues: list[queue.Queue] = []
        if threaded:
            self._queues = [queue.Queue(QUEUE_SIZE) for _ in range(len(self._steps) + 1)]
            self._threads.append(threading.Thread(target=self._read, name="perception-decode", daemon=True))
            for i, step in enumerate(self._steps):
                self._threads.append(threading.Thread(target=self._run_step, args=(step, i), daemon=True,
                                                      name=f"perception-step-{getattr(step, '__name__', i)}"))
            for thread in self._threads:
                thread.start()

    # -- threads ---------------------------------------------------------------------------------------------
    def _put(self, q: queue.Queue, value: Any) -> bool:
        """Put unless stopped (then False)."""
        while not self._stop.is_set():
            try:
                q.put(value, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    def _read(self) -> None:
        out = self._queues[0]
        try:
            while not self._stop.is_set():
                item = next(self._source, _END)
                if item is _END:
                    break
                if not self._put(out, item):
                    return
        except BaseException as e:  # noqa: BLE001 - handed to the caller's thread
            self._put(out, _Raised(e))
        self._put(out, _END)

    def _run_step(self, step: Callable[[Any], Any], i: int) -> None:
        inbox, out = self._queues[i], self._queues[i + 1]
        while not self._stop.is_set():
            try:
                value = inbox.get(timeout=0.05)
            except queue.Empty:
                continue
            if value is not _END and not isinstance(value, _Raised):
                try:
                    value = step(value)
                except BaseException as e:  # noqa: BLE001 - handed to the caller's thread
                    value = _Raised(e)
            if not self._put(out, value) or value is _END or isinstance(value, _Raised):
                return

    # -- the caller's side ---------------------------------------------------------------------------------------
    def __iter__(self) -> Iterator[Any]:
        if not self.threaded:
            for item in self._source:
                for step in self._steps:
                    item = step(item)
                yield item
                if self._stop.is_set():
                    return
            return
        last = self._queues[-1]
        while True:
            try:  # a short wait, so that Ctrl-C reaches the caller's signal handler promptly
                value = last.get(timeout=0.05)
            except queue.Empty:
                if self._stop.is_set():
                    return
                continue
            if value is _END:
                return
            if isinstance(value, _Raised):
                raise value.error
            yield value

    def close(self, timeout_s: float = 10.0) -> bool:
        """Stop reading and wait for every thread (drained queues let a blocked one go). Returns False when a
        thread is still busy after ``timeout_s`` (a decoder stuck on a stalled stream): it is left behind (a daemon
        thread) and what it holds must not be closed under it."""
        self._stop.set()
        deadline = time.monotonic() + timeout_s
        while any(t.is_alive() for t in self._threads):
            if time.monotonic() > deadline:
                return False
            for q in self._queues:
                try:
                    while True:
                        q.get_nowait()
                except queue.Empty:
                    pass
            for t in self._threads:
                t.join(timeout=0.05)
        return True

    def __enter__(self) -> "StepChain":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
