"""The main job's frame loop: frames in; frames.jsonl, summary.json and the sinks' files (annotated video,
MCAP for Foxglove) out.

Never losing work: frames.jsonl is flushed per frame; on Ctrl-C / SIGTERM every file is closed valid after the
frame being written (frames still between steps are dropped: they are not in frames.jsonl, so ``--resume`` does
them again); summary.json is written atomically before the first frame (with the input's identity, which
``--resume`` checks) and rewritten every ``CHECKPOINT_S`` seconds while running (``"state": "running"``), so
even a hard kill leaves a recent one; ``resume`` continues an earlier run after its last frame (see
``perception.sinks.resume``).
"""

from __future__ import annotations

import signal
import sys
import threading
import time
from typing import Any, Iterator

from perception.errors import os_error_text
from perception.pipeline.config import PipelineConfig
from perception.pipeline.processing import FrameProcessor, Work, failed_image, plan_text
from perception.pipeline.report import RunReport, build_summary
from perception.pipeline.sinks import FrameOutput, Sink
from perception.pipeline.threads import StepChain
from perception.sinks import JsonlSink, write_json_atomic
from perception.sources import FailedFrame, FrameSource

# summary.json is rewritten (atomically) at most this often while a run goes on (seconds).
CHECKPOINT_S = 10.0


class Interrupted(Exception):
    """Raised by a second Ctrl-C/SIGTERM: stop now (outputs are still closed and valid)."""


def _failed_record(item: FailedFrame) -> dict[str, Any]:
    rec = {"frame": item.index, "timestamp_s": round(item.timestamp_s, 6), "status": "failed",
           "error": item.reason, "detections": [], "lanes": [], "segmentation": {}, "ego": None, "plan": None}
    if item.log_time_ns is not None:
        rec["log_time_ns"] = int(item.log_time_ns)
    if item.name is not None:
        rec["image"] = item.name
    return rec


def _log_time_ns(item: Any) -> int:
    """MCAP log time of a frame: the log's own time for driving logs, else ``timestamp_s`` since 0 (ns)."""
    if item.log_time_ns is not None:
        return int(item.log_time_ns)
    return max(0, int(round(item.timestamp_s * 1e9)))


def _reads(frames: Iterator[Any], budget: int | None, config: PipelineConfig) -> Iterator[Work]:
    """The source's frames as Work items, each with its decode time; at most ``budget`` of them, only those that
    ``config`` selects (``stride``, ``start_s``, ``end_s``)."""
    count = 0
    while budget is None or count < budget:
        t0 = time.perf_counter()
        item = next(frames, None)
        if item is None:
            return
        t1 = time.perf_counter()
        if config.end_s is not None and item.timestamp_s >= config.end_s:
            return
        if item.index % config.stride or item.timestamp_s < config.start_s:
            continue
        count += 1
        yield Work(item=item, t_read=t1, latency_ms={"decode": (t1 - t0) * 1000.0})


def run_pipeline(source: FrameSource, processor: FrameProcessor, sinks: list[Sink],
                 config: PipelineConfig, *, report: RunReport | None = None) -> RunReport:
    """Process every frame of ``source`` and write the outputs; ``sinks`` are closed before it returns.

    Ctrl-C and SIGTERM stop the loop after the frame being written; all files are closed and summary.json says
    ``"interrupted": true``. The time until the first frame is in hand is ``startup_s``; FPS is counted over the
    rest (``processing_s``). ``report``: a RunReport to fill in (so that a caller can tell how far a run that
    raised got); a new one by default. Returns the RunReport (counts of this part; totals via ``total_*``).
    """
    from tqdm import tqdm

    outputs, resume = config.outputs, config.resume
    outputs.out_dir.mkdir(parents=True, exist_ok=True)
    first_frame = resume.next_frame if resume is not None else 0
    report = report if report is not None else RunReport()
    report.first_frame, report.previous = first_frame, resume
    timer = report.timer
    info = source.info
    size_wh = (info.width_px, info.height_px)
    budget = None if config.max_frames is None else max(0, config.max_frames - (resume.frames_read if resume else 0))
    try:
        jsonl = JsonlSink(outputs.frames, append=resume is not None)
    except BaseException:
        for sink in sinks:
            sink.close()
        raise
    draw = any(sink.wants_annotated for sink in sinks)
    remaining = None if info.frame_count is None else max(0, info.frame_count - first_frame)
    if remaining is not None and config.stride > 1:
        remaining = -(-remaining // config.stride)
    total = remaining if budget is None else min(budget, remaining if remaining is not None else budget)
    bar = tqdm(total=total, unit="frame", disable=not config.progress, file=sys.stderr, dynamic_ncols=True)

    # Ctrl-C / SIGTERM ask the loop to stop at the next frame boundary, so a frame is never half
    # written; a second signal stops at once (files are still closed by the finally block).
    stop = {"requested": False}

    def on_signal(signum, frame):  # noqa: ARG001
        if stop["requested"]:
            raise Interrupted()
        stop["requested"] = True

    previous = {}
    if threading.current_thread() is threading.main_thread():  # signal handlers live in the main thread
        previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    t_start = time.perf_counter()
    t_job = config.started_at if config.started_at is not None else t_start
    t_first: float | None = None  # when the first frame (decoded or failed) was in hand
    t_checkpoint = t_start
    state = "failed"  # stays so only when an unexpected error stops the run

    def clock(now: float) -> None:
        """Start-up and processing time as of ``now`` (perf_counter seconds)."""
        report.wall_time_s = now - t_job
        report.startup_s = (t_first if t_first is not None else now) - t_job
        report.processing_s = now - t_first if t_first is not None else 0.0

    errors: list[str] = []  # write failures (a full disk) recorded in summary.json as "error"
    extra = dict(config.extra_summary)

    def summary_now(now: str) -> dict[str, Any]:
        summary = build_summary(report, source, outputs, config.weights_info, extra, state=now,
                                input_identity=config.input_identity)
        if errors:
            summary["error"] = "; ".join(errors)
        return summary

    chain = None
    t_written = None
    try:
        write_json_atomic(outputs.summary, summary_now("running"))  # the input's identity, before any frame
        steps = [step for _, step in processor.steps(draw)]
        chain = StepChain(_reads(source.iter_frames(first_frame), budget, config), steps, threaded=config.threads >= 2)
        for work in chain:
            item = work.item
            if t_first is None:  # opening the input, seeking (a resumed run skips the frames done) is start-up
                t_first = work.t_read
            with timer.stage("write"):
                out = _frame_output(work, size_wh, draw, processor.weights_warning)
                out.fps = processor.fps
                jsonl.write(out.record)
                # Counted once its record is in frames.jsonl (the run's ledger, which --resume reads): a frame cut
                # short by Ctrl-C before that is neither read nor processed; one whose video or MCAP write then
                # fails (a full disk) is.
                report.frames_read += 1
                if work.failed:
                    report.frames_failed += 1
                else:
                    report.frames_processed += 1
                for sink in sinks:
                    sink.write(out)
            for name, ms in work.latency_ms.items():
                timer.add(name, ms)
            now = time.perf_counter()
            if t_written is not None and not work.failed:
                dt = max(now - t_written, 1e-6)
                processor.fps = 1.0 / dt if processor.fps == 0 else 0.9 * processor.fps + 0.1 / dt
            t_written = now
            bar.update(1)
            if now - t_checkpoint > CHECKPOINT_S:
                t_checkpoint = now
                clock(now)
                write_json_atomic(outputs.summary, summary_now("running"))
            if stop["requested"]:
                report.interrupted = True
                break
        else:
            if stop["requested"]:  # the signal came while the last frames were on their way
                report.interrupted = True
        state = "finished"
    except (KeyboardInterrupt, Interrupted):
        report.interrupted = True
    except OSError as e:  # a full disk, a vanished folder: recorded, then raised for the one-line error
        errors.append(os_error_text(e))
        raise
    finally:
        threads_done = True
        if chain is not None:
            try:  # every thread done before the source is closed
                threads_done = chain.close()
            except (KeyboardInterrupt, Interrupted):  # another Ctrl-C: the files are still closed below
                threads_done = False
                report.interrupted = True
        clock(time.perf_counter())
        if report.interrupted:
            state = "interrupted"
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        bar.close()
        for sink in [jsonl, *sinks]:
            try:  # each sink is closed even when another cannot be (no room for its index)
                sink.close()
                if sink is not jsonl and resume is not None and sink.frames_written == 0 and sink.path.is_file():
                    sink.path.unlink()  # a resumed run with nothing left to do adds no empty part
            except OSError as e:
                errors.append(os_error_text(e))
        if threads_done:
            source.close()
        else:  # a decoder still inside a read: closing the source under it could crash the process
            print("warning: the input did not answer within 10 s of stopping; left open", file=sys.stderr)
        extra.update(processor.summary())
        try:
            write_json_atomic(outputs.summary, summary_now(state))
        except OSError as e:
            if not errors:  # the run itself went well: not being able to say so is the error
                raise
            print(f"warning: summary.json not updated: {os_error_text(e)}", file=sys.stderr)
    if errors:
        raise OSError(errors[0])  # a sink that failed only while closing: the run must not exit 0
    return report


def _frame_output(work: Work, size_wh: tuple[int, int], draw: bool, weights_warning: str | None) -> FrameOutput:
    """The frame's record (with its step times) and pictures, as frames.jsonl and the sinks get them."""
    item = work.item
    if work.failed:
        placeholder = failed_image(size_wh, item.index)
        return FrameOutput(index=item.index, record=_failed_record(item), image_bgr=placeholder, result=None,
                           annotated_bgr=placeholder if draw else None, log_time_ns=_log_time_ns(item),
                           hud=f"frame {item.index}: could not be decoded")
    result = work.result
    record = result.to_json()
    # this frame's step times (its own write is not done yet): the report's latency over time
    record["latency_ms"] = {name: round(ms, 2) for name, ms in work.latency_ms.items()}
    if item.warning:  # decoded, but the decoder reported damage in or before it
        record["status"] = "damaged"
        record["warning"] = item.warning
    if item.log_time_ns is not None:
        record["log_time_ns"] = int(item.log_time_ns)
    if item.name is not None:
        record["image"] = item.name
    hud = f"frame {item.index}  plan: {plan_text(result)}"
    if weights_warning:
        hud += f"  [{weights_warning}]"
    return FrameOutput(index=item.index, record=record, image_bgr=item.image_bgr, result=result,
                       annotated_bgr=work.annotated_bgr, log_time_ns=_log_time_ns(item), hud=hud)
