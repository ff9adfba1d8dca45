"""The main job as a plain function: ``run_pipeline(source, processor, sinks, config)``.

- ``config``: ``PipelineConfig`` (where the files go, threads, resume, limits) with ``PipelineOutputs``;
- ``processor``: ``FrameProcessor``, the per-frame steps (network, post-processing, lanes and tracking, drawing);
- ``sinks``: the outputs besides frames.jsonl and summary.json (``open_sinks``: annotated video, MCAP);
- ``loop``: the loop itself; ``threads``: the steps in order or in threads; ``report``: counts and summary.json.
"""

from perception.pipeline.config import PipelineConfig, PipelineOutputs, machine_threads
from perception.pipeline.loop import CHECKPOINT_S, Interrupted, run_pipeline
from perception.pipeline.processing import FrameProcessor
from perception.pipeline.report import RunReport, build_summary
from perception.pipeline.sinks import FrameOutput, Sink, open_sinks

__all__ = ["CHECKPOINT_S", "FrameOutput", "FrameProcessor", "Interrupted", "PipelineConfig", "PipelineOutputs",
           "RunReport", "Sink", "build_summary", "machine_threads", "open_sinks", "run_pipeline"]
