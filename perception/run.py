"""Main job: run the multi-task network over a video, images or a driving log.

    python -m perception.run --source PATH [--output DIR] [--weights FILE] [--camera FILE]
                             [--backend torch|onnxruntime|tensorrt] [--device cpu|cuda] [--max-frames N] [--no-video]
                             [--topic TOPIC] [--mcap-out FILE] [--resume]

PATH (``--video`` is the older name of ``--source``): a video, one image, an image folder (``--recursive``
for its sub-folders), a quoted glob of images, an MCAP file, a ROS 1 ``.bag`` or a ROS 2 bag folder.
Writes ``annotated.mp4`` (for stills: ``annotated/NAME.jpg``, each still on its own unless ``--sequence``),
``frames.jsonl``, ``summary.json`` and ``report.html`` into DIR (default ``runs/<input stem>``),
and with ``--mcap-out`` an MCAP file for Foxglove Studio; ``DIR/.lock`` keeps a second run out of DIR while this
one runs. ``--resume`` continues an interrupted run in DIR (same input, checked). Exit codes: 0 success (damaged
input included, with a warning), 2 bad input or DIR in use (one line on stderr), 130 interrupted (outputs still
valid).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import re
import shutil
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any, Iterator

from perception.cli import OneLineArgumentParser, exit_with, float_in_range, parse_imgsz, positive_int
from perception.errors import ConfigError, UserInputError, clean_message, os_error_text
from perception.lanes import DEFAULT_LANE_SOURCE
from perception.report import write_report
from perception.sinks.lock import OutputLock, OutputLocked
from perception.sinks.resume import (drop_cut_tail, identity_mismatch, input_identity, next_part_path, note_joined_video,
                                     read_resume_state)
from perception.sinks.video import join_leftover_segments, remove_leftover_segments

UNTRAINED_WARNING = ("warning: running with UNTRAINED weights (this installation ships no trained weights and none "
                     "were given with --weights): detections, masks and lanes are meaningless")
UNTRAINED_EXPORT_WARNING = ("warning: {path} holds UNTRAINED weights (exported with --allow-untrained): detections, "
                            "masks and lanes are meaningless")


def get_args_parser() -> argparse.ArgumentParser:
    p = OneLineArgumentParser(prog="python -m perception.run", description=__doc__.split("\n\n")[0],
                              formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--source", "--video", dest="video", required=True, metavar="PATH",
                   help="video file, image, folder of images, quoted glob of images ('drive/*.jpg'), driving "
                        "log (.mcap, .bag, ROS 2 bag folder), camera index (0) or stream URL (rtsp://, http://, "
                        "...: runs until the stream ends or Ctrl-C); --video is the older name")
    p.add_argument("--recursive", action="store_true", help="with a folder: also the images in its sub-folders")
    p.add_argument("--output", metavar="DIR", default=None,
                   help="output folder (default: runs/<input stem>, numbered when it exists)")
    p.add_argument("--weights", metavar="FILE", default=None,
                   help="checkpoint (.pt) from perception.train, or from deploy.export: .onnx (--backend "
                        "onnxruntime) or .engine with its .engine.json sidecar (--backend tensorrt)")
    p.add_argument("--weights-sha256", metavar="HEX", default=None, help="expected SHA-256 of --weights")
    p.add_argument("--trust-engine", action="store_true",
                   help="load a TensorRT engine (--weights FILE.engine) even when its bytes do not match the "
                        "SHA-256 its sidecar records, or the sidecar records none; an engine is native code: "
                        "only for an engine you know the origin of")
    p.add_argument("--model", metavar="SIZE", default=None,
                   help="lite or base: the published weights of this model size instead of the default (lite)")
    p.add_argument("--imgsz", type=parse_imgsz, default=None, metavar="HxW",
                   help="network input size, multiples of 32 (default: the weights' own, 384x640 for lite): larger "
                        "shows small objects larger and costs about (H*W)/(384*640) times the inference time")
    p.add_argument("--camera", metavar="FILE", default=None,
                   help="camera file (OpenCV YAML, ROS camera_info YAML): undistortion and distances")
    p.add_argument("--backend", choices=("auto", "torch", "onnxruntime", "tensorrt"), default="auto",
                   help="auto (default): onnxruntime when it is installed (a checkpoint is exported once into the "
                        "user cache), else torch; an exported --weights file picks its own backend")
    p.add_argument("--threads", type=positive_int, default=None, metavar="N",
                   help="CPU threads of the job (default: the cores this process may use). With 2 or more, "
                        "decoding, inference, post-processing, lanes and drawing overlap in threads; the network "
                        "and OpenCV get N threads. perception.replay gives each worker cores // workers")
    p.add_argument("--device", default="cpu",
                   help="cpu, cuda or cuda:N (torch); cpu or cuda (onnxruntime); tensorrt always runs on the GPU")
    p.add_argument("--half", action="store_true",
                   help="fp16 network on a GPU: torch in half precision, or an fp16 ONNX graph (cached beside the "
                        "fp32 one); an exported --weights file must have been built for fp16")
    # Every number is checked by its type (finite, in range) while parsing: before any output exists.
    p.add_argument("--max-frames", type=positive_int, default=None, metavar="N", help="stop after N input frames")
    p.add_argument("--no-video", action="store_true",
                   help="skip annotated.mp4, or for stills the annotated/ pictures (faster)")
    p.add_argument("--sequence", action="store_true",
                   help="stills are frames of one drive, in file-name order: track objects and lanes across them "
                        "and write annotated.mp4 (default: each still on its own, pictures in annotated/)")
    p.add_argument("--no-report", action="store_true",
                   help="skip report.html (plots over time, thumbnails, settings; python -m perception.report DIR "
                        "builds it later)")
    p.add_argument("--conf", type=float_in_range(0.0, 1.0), default=None,
                   help="detection score threshold (default: the shipped weights' validated threshold, else 0.3)")
    p.add_argument("--classes", metavar="NAMES", default=None,
                   help="keep only these detection classes, comma-separated (e.g. car,pedestrian)")
    p.add_argument("--stride", type=positive_int, default=1, metavar="N",
                   help="process every Nth frame (frame numbers stay those of the input)")
    p.add_argument("--start", type=float_in_range(0.0, 1e7), default=0.0, metavar="S",
                   help="skip the input's frames before S seconds (timestamp_s)")
    p.add_argument("--end", type=float_in_range(0.0, 1e7, low_open=True), default=None, metavar="S",
                   help="stop at S seconds (timestamp_s)")
    p.add_argument("--fps", type=float_in_range(0.0, 1000.0, low_open=True), default=10.0,
                   help="frame rate assumed for image folders, in (0, 1000]")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--lanes", choices=("classical", "network", "off"), default=DEFAULT_LANE_SOURCE,
                   help="lane source for tracking (ego lane, offset, curvature): the classical OpenCV finder "
                        "(default; more accurate than the lightly trained lane head), the network's lane head, "
                        "or off (the network's per-frame lines, untracked, no ego)")
    p.add_argument("--topic", default=None,
                   help="camera topic of a driving log (default: the log's only camera topic)")
    p.add_argument("--speed-topic", default=None,
                   help="ego-speed topic of a driving log for the planner (nav_msgs/Odometry, "
                        "geometry_msgs/TwistStamped or TwistWithCovarianceStamped, std_msgs/Float32/64 in m/s); "
                        "default: the log's first odometry or twist topic, else --ego-speed-mps")
    p.add_argument("--mcap-out", metavar="FILE", default=None,
                   help="also write an MCAP file (image, Foxglove annotations, per-frame results, plan)")
    p.add_argument("--rerun-out", metavar="FILE", default=None,
                   help="also write a Rerun recording (.rrd: image, segmentation, boxes, lanes, plots, plan; "
                        "open it with 'rerun FILE'); needs the 'rerun' extra")
    p.add_argument("--planner", choices=("on", "off"), default="on",
                   help="behaviour planner on tracked vehicles and lanes (plan in frames.jsonl and the HUD)")
    p.add_argument("--planner-policy", metavar="FILE", default=None,
                   help="policy.pt from perception.planning.sim.train, or the default policy's name (the default)")
    p.add_argument("--planner-policy-sha256", metavar="HEX", default=None,
                   help="expected SHA-256 of --planner-policy (a name like policy-1a2b3c4d.pt is checked anyway)")
    p.add_argument("--ego-speed-mps", type=float_in_range(0.0, 60.0), default=25.0,
                   help="ego speed the planner assumes where the input gives none (videos; logs without a speed "
                        "topic or without a speed message within 0.5 s of a frame) and the lane stage has no speed "
                        "from the motion of dashed markings, in [0, 60]")
    p.add_argument("--no-lane-flow-speed", action="store_true",
                   help="plan with --ego-speed-mps instead of the lane stage's speed from dashed-marking motion "
                        "where the input has no speed (that speed is only as right as the camera mounting)")
    p.add_argument("--no-veto", action="store_true",
                   help="let the policy act without the rule-based safety veto (the shipped policy relies on it: "
                        "alone it crashes far more often; see docs/models/planner_dqn.md)")
    p.add_argument("--no-plausibility", action="store_true",
                   help="keep detections that fail the plausibility checks (no segmentation support, bottom above "
                        "the horizon, impossible metric size; counted in summary.json under 'plausibility')")
    p.add_argument("--resume", action="store_true",
                   help="continue the run in --output after the last frame in its frames.jsonl (the input must "
                        "be the same, unchanged file); the video continues in annotated.partN.mp4 (and --mcap-out "
                        "in FILE.partN.mcap when FILE exists); track ids continue after the earlier ones")
    return p


def _input_stem(source: str) -> str:
    """A folder name for an input: its file stem, with glob characters and other odd ones replaced
    (``camera0`` for camera 0, the last part of a stream URL's path)."""
    if source.isdigit():
        return f"camera{source}"
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", Path(source.rstrip("/")).stem).strip("_.")
    return stem or "run"


def _default_output_dir(video: str) -> Path:
    stem = _input_stem(video)
    base = Path("runs") / stem
    candidate, n = base, 2
    while candidate.exists() and any(candidate.iterdir()):
        candidate, n = base.with_name(f"{stem}-{n}"), n + 1
    return candidate


def _class_ids(names: str | None, det_classes: tuple[str, ...]) -> tuple[int, ...] | None:
    """``--classes car,pedestrian`` as class ids of the network; an unknown name is a user error."""
    if names is None:
        return None
    wanted = [n.strip() for n in names.split(",") if n.strip()]
    unknown = [n for n in wanted if n not in det_classes]
    if unknown or not wanted:
        raise UserInputError(f"--classes: unknown class {', '.join(unknown) or repr(names)}; the network detects "
                             f"{', '.join(det_classes)}")
    return tuple(det_classes.index(n) for n in wanted)


def _resume_setup(args: argparse.Namespace, out_dir: Path,
                  identity: dict[str, Any]) -> tuple[Any, str, Path | None, list[Path]]:
    """(ResumeState or None, annotated video file name, --mcap-out path, stale files) for this run.

    ``identity``: the input's identity now (``input_identity``); --resume refuses an input that differs from the
    one the earlier run recorded (another file, or the same path changed since). Stale files: what an earlier run
    left that a fresh run replaces (``_remove_stale``, once the start-up has succeeded).
    """
    if args.mcap_out:
        from perception.sources.logs.errors import require

        require("mcap.writer", "--mcap-out")  # fail before any output is written when mcap is missing
    mcap, stale_mcap = _side_file(args.mcap_out, "--mcap-out", args.resume)
    if not args.resume:
        # a fresh run replaces frames.jsonl and summary.json: the video and MCAP parts an earlier, resumed run
        # left here would describe other results
        stale = list(out_dir.glob("annotated.part*.mp4"))
        pictures = out_dir / "annotated"
        if pictures.is_dir() and _summary_names(out_dir, pictures):  # an earlier run's annotated stills
            stale.append(pictures)
        return None, "annotated.mp4", mcap, stale + stale_mcap
    state = read_resume_state(out_dir)
    if state.previous_identity is not None:
        mismatch = identity_mismatch(state.previous_identity, identity)
        if mismatch is not None:
            raise UserInputError(f"--resume: {out_dir} holds results for {mismatch}")
    elif state.previous_input is not None and Path(state.previous_input).resolve() != Path(args.video).resolve():
        # a run from before input identities were recorded: compare the paths as given
        raise UserInputError(f"--resume: {out_dir} holds results for {state.previous_input}, not {args.video}")
    drop_cut_tail(out_dir, state)
    for video, frames in join_leftover_segments(out_dir).items():  # a killed part's video, from its segments
        if state.parts and Path(state.parts[-1].get("annotated_video") or "").name == video.name and frames:
            note_joined_video(state.parts[-1], frames)
    video_name = next_part_path(out_dir / "annotated.mp4", always_part=True).name
    return state, video_name, mcap, []


def _summary_names(out_dir: Path, pictures: Path) -> bool:
    """Whether ``out_dir``'s summary.json names ``pictures`` as the annotated stills of the run that wrote it."""
    try:
        outputs = json.loads((out_dir / "summary.json").read_text()).get("outputs") or {}
        return Path(outputs.get("annotated_images") or "").resolve() == pictures.resolve()
    except (OSError, ValueError, AttributeError):
        return False


def _side_file(value: str | None, flag: str, resumed: bool) -> tuple[Path | None, list[Path]]:
    """(where a file option such as --mcap-out or --rerun-out writes this run, the parts of it a fresh run
    replaces); checked before any output exists. A resumed run writes ``FILE.partN.EXT`` beside an existing FILE; a
    fresh run replaces the ``FILE.partN.EXT`` an earlier resumed run left."""
    if not value:
        return None, []
    path = Path(value)
    if path.is_dir() or not path.parent.is_dir():
        raise UserInputError(f"{flag} {path}: not a file in an existing folder")
    if resumed:
        return next_part_path(path), []
    return path, list(path.parent.glob(f"{path.stem}.part*{path.suffix}"))


def _rerun_path(args: argparse.Namespace, resumed: bool) -> tuple[Path | None, list[Path]]:
    """``_side_file`` of --rerun-out, once rerun-sdk is known to be installed."""
    if args.rerun_out:
        try:
            import rerun  # noqa: F401
        except ImportError:
            raise UserInputError("--rerun-out needs the 'rerun-sdk' package: pip install 'perception[rerun]' "
                                 "(or pip install rerun-sdk)") from None
    return _side_file(args.rerun_out, "--rerun-out", resumed)


def _remove_stale(out_dir: Path, stale: list[Path]) -> None:
    """Remove what an earlier run left that this fresh run replaces: only once everything is loaded, so that a
    start that fails leaves an existing folder as it was."""
    for path in stale:
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)
    remove_leftover_segments(out_dir)  # video segments a killed run left


def _load_model(args: argparse.Namespace) -> tuple[Any, Any, str | None]:
    """Return (model, weights_info for summary.json, warning or None), the model at the ``--imgsz`` input size."""
    from perception.model import with_input_size

    cached = _graph_from_cache(args)
    if cached is not None:
        return cached
    model, info, warning = _load_weights(args)
    size_wh = args.imgsz
    if size_wh is None or tuple(size_wh) == tuple(model.config.input_size_wh):
        return model, info, warning
    from perception.backends.metadata import DeployArtifact

    if isinstance(model, DeployArtifact):
        w, h = model.config.input_size_wh
        raise UserInputError(f"--imgsz: {model.path} is an exported graph for {h}x{w} input; export it again "
                             f"with deploy.export --imgsz {size_wh[1]}x{size_wh[0]}")
    try:
        model.config = with_input_size(model.config, size_wh)
    except ValueError as e:
        raise UserInputError(f"--imgsz: {e}") from None
    return model, info, warning


def _graph_from_cache(args: argparse.Namespace) -> tuple[Any, dict[str, Any], None] | None:
    """The published weights' ONNX graph from the user cache (or the one shipped with the package), found from
    their hash without loading the checkpoint (so without torch: the usual start-up). Returns (graph as a
    DeployArtifact, weights_info, None) and sets ``args.onnx_graph``; None where the checkpoint must be loaded
    (another backend, --weights, a first run of other weights or sizes, a changed or broken cache entry, weights
    that fail their hash: the usual path then explains or repairs)."""
    if args.backend != "onnxruntime" or args.weights:
        return None
    from perception.backends.metadata import DeployArtifact
    from perception.backends.onnx_cache import find_cached_onnx, find_shipped_onnx
    from perception.model import default_weights, published_weights, sha256_of

    try:
        record = published_weights(args.model) if args.model is not None else default_weights()
    except ConfigError as e:
        raise UserInputError(f"--model: {e}") from None
    if record is None or not record.path.is_file() or sha256_of(record.path) != record.sha256:
        return None
    found = find_cached_onnx(record.sha256, args.imgsz, fp16=args.half) or \
        find_shipped_onnx(record.sha256, record.onnx_graph_sha256, args.imgsz, fp16=args.half)
    if found is None:
        return None
    graph = found.graph
    args.onnx_graph = {"path": str(graph.path), "sha256": graph.sha256, "how": graph.how}
    info = {"name": record.name, "size": record.size, "path": str(record.path), "sha256": record.sha256,
            "score_threshold": record.score_threshold, "metadata": found.checkpoint_metadata}
    return DeployArtifact(path=graph.path, kind="onnx", config=found.config, sha256=graph.sha256, metadata={}), info, None


def _load_weights(args: argparse.Namespace) -> tuple[Any, Any, str | None]:
    """Return (model, weights_info for summary.json, warning or None)."""
    from perception.backends.metadata import UntrustedEngine, is_artifact_path, read_artifact, verify_engine
    from perception.model import default_weights, load_checkpoint, published_weights

    if args.model is not None and args.weights:
        raise UserInputError("give --weights or --model, not both")
    if args.weights and is_artifact_path(args.weights):
        # Exported file: its metadata carries classes and input size. Hash-checked before it is parsed.
        art = read_artifact(args.weights, expected_sha256=args.weights_sha256)
        if art.kind == "engine":
            try:
                verify_engine(art.path, art.metadata, art.sha256)  # before TensorRT is even imported
            except UntrustedEngine:
                if not args.trust_engine:
                    raise
                print(f"warning: --trust-engine: loading {art.path}, although its sidecar does not record this "
                      f"SHA-256 ({art.sha256[:12]}...)", file=sys.stderr)
        warning = UNTRAINED_EXPORT_WARNING.format(path=art.path) if art.untrained else None
        info = {"path": str(art.path), "sha256": art.sha256, "format": art.kind, "metadata": art.metadata}
        return art, info, warning
    if args.weights:
        loaded = load_checkpoint(args.weights, expected_sha256=args.weights_sha256)
        return loaded.model, {"path": loaded.path, "sha256": loaded.sha256, "metadata": loaded.metadata}, None
    try:
        record = published_weights(args.model) if args.model is not None else default_weights()
    except ConfigError as e:
        raise UserInputError(f"--model: {e}") from None
    if record is not None:
        loaded = load_checkpoint(record.path, expected_sha256=record.sha256)
        return loaded.model, {"name": record.name, "size": record.size, "path": loaded.path, "sha256": loaded.sha256,
                              "score_threshold": record.score_threshold,
                              "metadata": {k: v for k, v in loaded.metadata.items() if k != "metrics"}}, None
    from perception.model import build_multitask_lite

    return build_multitask_lite(seed=0), "untrained", UNTRAINED_WARNING


def _onnx_graph(model: Any, weights_info: Any, native_size: bool = False, fp16: bool = False) -> Any:
    """The checkpoint's ONNX graph from the user cache (exported on first use; perception/backends/onnx_cache.py).

    Where the cache cannot be written (a read-only home), the graph goes to a temporary folder removed at exit.
    """
    import atexit
    import shutil
    import tempfile

    from perception.backends.metadata import UNTRAINED_SHA256
    from perception.backends.onnx_cache import cached_onnx

    sha = weights_info["sha256"] if isinstance(weights_info, dict) else UNTRAINED_SHA256
    name = weights_info.get("name", Path(str(weights_info.get("path", "weights"))).name) \
        if isinstance(weights_info, dict) else UNTRAINED_SHA256
    # what find_cached_onnx needs next time: the published checkpoint's own input size and metadata
    # (published weights at their own input size, i.e. without --imgsz)
    record = {}
    if native_size and isinstance(weights_info, dict) and "name" in weights_info:
        record = {"native_size_wh": tuple(model.config.input_size_wh),
                  "checkpoint_metadata": weights_info.get("metadata", {})}
    try:
        return cached_onnx(model, sha, name, fp16=fp16, **record)
    except OSError as e:
        folder = Path(tempfile.mkdtemp(prefix="perception-onnx-"))
        atexit.register(shutil.rmtree, folder, ignore_errors=True)
        print(f"warning: ONNX cache not writable ({e.strerror or e}): exporting into {folder} for this run",
              file=sys.stderr)
        return cached_onnx(model, sha, name, folder=folder, fp16=fp16)


def _make_runner(args: argparse.Namespace, model: Any, weights_info: Any) -> Any:
    from perception.backends.metadata import DeployArtifact
    from perception.backends.runner import make_runner

    if args.threads:
        import cv2

        cv2.setNumThreads(args.threads)
        if "torch" in sys.modules:  # torch's own threads, where it is loaded (an onnxruntime run may start without)
            sys.modules["torch"].set_num_threads(args.threads)
    precision = "fp16" if args.half else None
    if isinstance(model, DeployArtifact):  # --weights model.onnx / model.engine: the bytes loaded are checked
        return make_runner(args.backend, model_path=model.path, device=args.device, expected_sha256=model.sha256,
                           trust_engine=args.trust_engine, threads=args.threads, precision=precision)
    if args.backend == "torch":
        return make_runner("torch", model=model, device=args.device, precision=precision)
    if args.backend == "onnxruntime":
        graph = _onnx_graph(model, weights_info, native_size=args.imgsz is None, fp16=args.half)
        args.onnx_graph = {"path": str(graph.path), "sha256": graph.sha256, "how": graph.how}
        return make_runner("onnxruntime", model_path=graph.path, device=args.device, expected_sha256=graph.sha256,
                           threads=args.threads)
    raise UserInputError("--backend tensorrt runs a TensorRT engine: build one with python -m deploy.export "
                         "--format engine --fp16 (see docs/jetson.md), then pass --weights model.engine")


def _load_policy(args: argparse.Namespace) -> Any:
    if args.planner == "off":
        return None
    from perception.planning.policy import load_policy

    return load_policy(args.planner_policy, expected_sha256=args.planner_policy_sha256)


def _make_stages(args: argparse.Namespace, camera: Any, pre: Any, lanes: Any, policy: Any,
                 conf: float, seg_classes: tuple[str, ...], first_track_id: int = 1) -> tuple[Any, float]:
    """plausibility -> distances (with --camera) -> tracking -> planning as one per-frame callable, and the
    score the postprocessor must decode down to for the tracker.

    Ground positions for tracks, the plausibility filter's geometry and the planner use the --camera
    mounting, else the lane stage's default mounting (summary.json says which); ``distance_m`` stays tied to
    --camera. ``first_track_id``: where track ids start (a resumed run continues the earlier parts' numbering).
    """
    from perception.geometry import make_enricher
    from perception.postprocess.plausibility import PlausibilityFilter
    from perception.stages import FrameStages
    from perception.tracking import TrackingStage

    ground_camera, ground_source = None, "none"
    if camera is not None and camera.mounting_known:
        ground_camera, ground_source = camera, "camera_file"
    elif lanes is not None and hasattr(lanes, "lane_cam"):
        ground_camera, ground_source = lanes.lane_cam.camera, lanes.lane_cam.geometry
    tracking = TrackingStage(conf, ground_camera, ground_source=ground_source, first_track_id=first_track_id)
    plausibility = None if args.no_plausibility else PlausibilityFilter(seg_classes, ground_camera,
                                                                        geometry_source=ground_source)
    planning = None
    if policy is not None:
        from perception.planning.stage import PlanningStage

        planning = PlanningStage(policy, veto=None if args.no_veto else "policy", ego_speed_mps=args.ego_speed_mps,
                                 lane_flow_speed=not args.no_lane_flow_speed)
    stages = FrameStages([("plausibility", plausibility), ("distances", make_enricher(camera, pre)),
                          ("tracking", tracking), ("planning", planning)])
    return stages, tracking.decode_threshold


def _load_camera(path: str | None, size_wh: tuple[int, int]) -> tuple[Any, tuple[int, int] | None]:
    """(the --camera file's camera at the input's image size ``size_wh``, the file's own size when it differs).

    A camera file for another size of the same aspect ratio (within 1 %) is scaled to the input's size (the caller
    warns); another aspect ratio is a user error: its intrinsics do not describe these images."""
    if path is None:
        return None, None
    from calibration import CalibrationError, CameraFileError, load_camera

    try:
        camera = load_camera(path)
    except CameraFileError as e:
        raise UserInputError(str(e)) from None
    if camera.image_size_wh == tuple(size_wh):
        return camera, None
    try:
        return camera.scaled_to_image(*size_wh), camera.image_size_wh
    except CalibrationError as e:
        raise UserInputError(f"--camera {path}: {str(e).replace('the image', 'the input')}") from None


def _camera_size_note(path: str, file_wh: tuple[int, int], size_wh: tuple[int, int]) -> str:
    return (f"--camera {path} is for {file_wh[0]}x{file_wh[1]} images, the input's are {size_wh[0]}x{size_wh[1]} "
            f"(same aspect ratio): intrinsics scaled to {size_wh[0]}x{size_wh[1]}")


def _make_lane_stage(args: argparse.Namespace, camera: Any, source: Any, first_track_id: int = 0) -> Any:
    """The lane tracker for ``--lanes`` (None for off); a camera it cannot use is a user error.
    ``first_track_id``: where lane track ids start (a resumed run continues the earlier parts' numbering)."""
    from calibration import CalibrationError
    from perception.geometry import LANE_CALIBRATION_FRAMES, first_frames, make_lane_enricher
    from perception.sources import open_source

    needs_pitch = args.lanes != "off" and (camera is None or not camera.mounting_known)
    try:
        frames = None
        if needs_pitch:  # a live source cannot be opened twice: it reads its first frames ahead instead
            frames = source.peek(LANE_CALIBRATION_FRAMES) if hasattr(source, "peek") else first_frames(
                open_source(args.video, fps=args.fps, topic=args.topic, recursive=args.recursive, ego_speed=False))
        return make_lane_enricher(camera, (source.info.width_px, source.info.height_px), args.lanes, frames,
                                  first_track_id=first_track_id)
    except CalibrationError as e:
        raise UserInputError(f"lane tracking cannot use this camera: {e}") from None


def _missing_dirs(path: Path) -> list[Path]:
    """``path`` and those of its parents that do not exist yet, deepest first."""
    missing = []
    while not path.exists() and path != path.parent:
        missing.append(path)
        path = path.parent
    return missing


def _lock_output_dir(args: argparse.Namespace) -> tuple[Path, OutputLock, list[Path]]:
    """Create the output folder and take its lock: (folder, lock, folders created here, deepest first).

    Without --output (and without --resume) a folder another run holds is passed over for the next numbered one;
    otherwise a held folder is an error (OutputLocked, one line naming the holder).
    """
    while True:
        if args.output:
            out_dir = Path(args.output)
        elif args.resume:  # the run to resume is in the unnumbered default folder
            out_dir = Path("runs") / _input_stem(args.video)
        else:
            out_dir = _default_output_dir(args.video)
        created = _missing_dirs(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        try:
            return out_dir, OutputLock(out_dir).acquire(), created
        except OutputLocked:
            _remove_empty(created)
            if args.output or args.resume:
                raise
            # Default folder: a run started at the same time took it; _default_output_dir now skips it.


def _remove_empty(folders: list[Path]) -> None:
    """Remove the folders a failed start created (deepest first), when they are still empty."""
    for folder in folders:
        try:
            folder.rmdir()
        except OSError:
            return


# What a run writes into its output folder, by name prefix (hidden ones: temporary files and video segments).
RUN_OUTPUT_PREFIXES = ("model.onnx", "frames.jsonl", "summary.json", "annotated", ".summary.json", ".annotated")


class _FailedStartUndo:
    """Takes back what a run that fails before its first frame made: the entries it added to the output folder
    (``model.onnx``, an empty frames.jsonl, a video with no frames, ...; in a folder that existed before, only
    entries named like a run's outputs) and the files it added elsewhere (``--mcap-out``); ``main`` then removes
    the folders it created, when empty. What was there before the run is never touched."""

    def __init__(self, out_dir: Path, created: list[Path]):
        self.out_dir = out_dir
        self.ours = out_dir in created  # a folder this run created holds nothing but the run's files
        self.before = {p.name for p in out_dir.iterdir()}
        self.elsewhere: list[Path] = []  # files outside out_dir this run may write, absent before it
        self.report: Any = None  # the pipeline's RunReport once it starts: did a frame get written?

    def watch(self, path: Path | None) -> None:
        """``path`` (outside the output folder) is this run's if it does not exist yet."""
        if path is not None and not path.exists() and path.parent.resolve() != self.out_dir.resolve():
            self.elsewhere.append(path)

    def undo(self) -> None:
        if self.report is not None and self.report.frames_read > 0:
            return  # results up to the last frame written are valid: kept
        added = [p for p in self.out_dir.iterdir() if p.name not in self.before
                 and (self.ours or p.name.startswith(RUN_OUTPUT_PREFIXES))]
        for path in added + self.elsewhere:
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)


def _raise_keyboard_interrupt(signum: int, frame: Any) -> None:  # noqa: ARG001
    raise KeyboardInterrupt


@contextlib.contextmanager
def _start_up_signals() -> Iterator[None]:
    """While the job starts (before the frame loop takes over the signals), SIGTERM stops it like Ctrl-C does: as
    a KeyboardInterrupt that ``main`` turns into exit code 130, releasing the lock. Only in the main thread."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextlib.contextmanager
def _signals_deferred() -> Iterator[None]:
    """Hold Ctrl-C / SIGTERM back until the block ends (then raise KeyboardInterrupt): taking the lock and handing
    it to ``main`` must not be cut in half, or a lock file would stay behind with nobody to remove it."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    pending: list[int] = []
    previous = {sig: signal.signal(sig, lambda signum, frame: pending.append(signum))
                for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if pending:
        raise KeyboardInterrupt


class ModelCache:
    """Loaded weights and their runner, kept between runs in one process (a ``perception.replay`` worker): a run
    whose model flags (weights, model size, backend, device, threads) equal the previous run's reuses them instead
    of loading again. One entry of each kind: a run with other model flags replaces it."""

    def __init__(self) -> None:
        self.entries: dict[str, tuple[tuple, Any]] = {}  # kind -> (key, value)
        self.hits = 0

    def get(self, kind: str, key: tuple, load: Any) -> Any:
        if kind in self.entries and self.entries[kind][0] == key:
            self.hits += 1
            return self.entries[kind][1]
        value = load()
        self.entries[kind] = (key, value)
        return value


def _cached(models: ModelCache | None, kind: str, key: tuple, load: Any) -> Any:
    return load() if models is None else models.get(kind, key, load)


def main(args: argparse.Namespace, models: ModelCache | None = None) -> int:
    """Run the job; the output folder is locked (``DIR/.lock``) from before anything is written until the end.

    Returns the exit code: 0, 2 (a user mistake: one line on stderr, nothing created) or 130 (interrupted; before
    the first frame nothing is created, after it the outputs are valid up to the last frame). A run that fails
    before its first frame is written removes what it made (``_FailedStartUndo``) and the folders it created.
    ``models``: keep the loaded model and runner there for the next run in this process (``perception.replay``).
    """
    # FFmpeg's decoder errors stay at OpenCV's default level: the video source catches them on fd 2, keeps them off
    # the user's terminal and flags those frames "damaged" (silencing FFmpeg here once hid every such frame).
    started_at = time.perf_counter()
    created: list[Path] = []
    lock = None
    undo = None
    finished = False
    code = 2
    try:
        if args.end is not None and args.end <= args.start:
            raise UserInputError(f"--end {args.end:g} must be after --start {args.start:g}")
        with _start_up_signals():
            from perception.backends.choice import choose_backend  # imported here: Ctrl-C may come while they load
            from perception.backends.runner import check_device
            from perception.sources import open_source

            args.backend, args.backend_reason = choose_backend(args.backend, args.device, args.weights)
            if args.half and args.device == "cpu" and args.backend != "tensorrt":  # (tensorrt: always a GPU)
                raise UserInputError("--half runs the network in fp16 on a GPU: add --device cuda (on the CPU "
                                     "fp16 is slower than fp32)")
            check_device(args.backend, args.device)
            source = open_source(args.video, fps=args.fps, topic=args.topic, recursive=args.recursive,
                                 speed_topic=args.speed_topic,  # a log's speed is read only for the planner
                                 ego_speed=args.planner == "on" or args.speed_topic is not None)
            if args.resume and source.info.extra.get("live"):
                source.close()
                raise UserInputError("--resume does not apply to a live source (camera or stream): it cannot seek")
            size_wh = (source.info.width_px, source.info.height_px)
            camera, camera_file_wh = _load_camera(args.camera, size_wh)
            with _signals_deferred():
                out_dir, lock, created = _lock_output_dir(args)
                undo = _FailedStartUndo(out_dir, created)
            if lock.took_over:
                print(f"warning: took over the lock of {out_dir} left by {lock.took_over} (that run is gone)",
                      file=sys.stderr)
            code = _run(args, source, camera, out_dir, undo=undo, started_at=started_at, models=models,
                        camera_file_wh=camera_file_wh)
            finished = True
    except UserInputError as e:
        print(f"error: {clean_message(str(e))}", file=sys.stderr)
    except OSError as e:
        print(f"error: {clean_message(os_error_text(e))}", file=sys.stderr)
    except KeyboardInterrupt:  # the frame loop handles its own signals: this is before the first frame
        code = 130
        print("interrupted before the first frame: nothing was processed", file=sys.stderr)
    finally:
        if undo is not None and not finished:
            undo.undo()  # a run that failed before its first frame takes back the files it made
        if lock is not None:
            lock.release()
        if code in (2, 130):
            _remove_empty(created)  # a start that failed leaves no folder behind (a folder with results stays)
    return code


def _run(args: argparse.Namespace, source: Any, camera: Any, out_dir: Path, *, undo: _FailedStartUndo,
         started_at: float, camera_file_wh: tuple[int, int] | None = None, models: ModelCache | None = None) -> int:
    """Everything after the output folder is locked: load, set up, run the pipeline, report. Returns the exit code.

    Whatever can fail is checked before anything is written into ``out_dir`` (the exported ``model.onnx`` last);
    ``undo`` learns what the run may write elsewhere and how far the pipeline got. ``started_at``: the job's start
    (``time.perf_counter()``). ``camera_file_wh``: the --camera file's own image size when it was scaled."""
    from perception.pipeline import (FrameProcessor, PipelineConfig, PipelineOutputs, RunReport, machine_threads,
                                     open_sinks, run_pipeline)
    from perception.pipeline.sinks import VideoOutput
    from perception.postprocess import DetectionDecodeConfig, Postprocessor
    from perception.preprocess import Preprocessor

    live = bool(source.info.extra.get("live"))
    # recorded before the first frame, checked by --resume (which a live source does not have)
    identity = {"path": source.info.path, "live": True} if live else input_identity(args.video, exclude=out_dir)
    resume, video_name, mcap_out, stale = _resume_setup(args, out_dir, identity)
    rerun_out, stale_rerun = _rerun_path(args, resume is not None)
    stale += stale_rerun
    undo.watch(mcap_out)
    undo.watch(rerun_out)
    model_key = (args.weights, args.weights_sha256, args.model, args.trust_engine, args.imgsz, args.half)
    model, weights_info, warning = _cached(models, "model", model_key, lambda: _load_model(args))
    policy = _load_policy(args)
    lanes = _make_lane_stage(args, camera, source, first_track_id=resume.next_lane_id if resume is not None else 0)
    runner, args.onnx_graph = _cached(
        models, "runner", (*model_key, args.backend, args.device, args.threads),
        lambda: (_make_runner(args, model, weights_info), getattr(args, "onnx_graph", None)))
    _remove_stale(out_dir, stale)
    size_wh = (source.info.width_px, source.info.height_px)
    camera_note = _camera_size_note(args.camera, camera_file_wh, size_wh) if camera_file_wh else None
    for line in (warning, f"warning: {camera_note}" if camera_note else None):
        if line:
            print(line, file=sys.stderr)
    cfg = model.config
    pre = Preprocessor(cfg.input_size_wh, camera=camera)
    conf = args.conf
    if conf is None:
        conf = weights_info.get("score_threshold", 0.3) if isinstance(weights_info, dict) else 0.3
    # The classical lane finder replaces the lane head's lines: skip decoding them.
    stages, decode_threshold = _make_stages(args, camera, pre, lanes, policy, conf, cfg.seg_classes,
                                            first_track_id=resume.next_track_id if resume is not None else 1)
    # The tracker reads boxes down to its low threshold (ByteTrack); it keeps weaker boxes only inside tracks.
    post = Postprocessor(cfg, pre, det=DetectionDecodeConfig(conf_threshold=decode_threshold,
                                                             classes=_class_ids(args.classes, cfg.det_classes)),
                         decode_lane_head=args.lanes != "classical")
    from perception.geometry import calibration_summary

    extra = {"backend": {"name": runner.name, "device": runner.device, "precision": runner.precision,
                         "reason": getattr(args, "backend_reason", f"--backend {args.backend}"),
                         **({"onnx_graph": args.onnx_graph} if getattr(args, "onnx_graph", None) else {})},
             "model": {"input_size_wh": list(cfg.input_size_wh), "det_classes": list(cfg.det_classes),
                       "seg_classes": list(cfg.seg_classes)},
             "calibration": calibration_summary(camera, args.camera)}
    if camera is not None:
        extra["calibration"].update(camera_file_size_wh=list(camera_file_wh or camera.image_size_wh),
                                    image_size_wh=list(camera.image_size_wh), intrinsics_scaled=camera_note is not None)
        if camera_note:
            extra["calibration"]["note"] = "; ".join(filter(None, [extra["calibration"].get("note"), camera_note]))
    stills = source.info.kind == "images" and not args.sequence  # unrelated stills: each frame on its own
    extra["input_frames"] = "independent stills" if stills else "sequence"
    outputs = PipelineOutputs(out_dir, write_video=not args.no_video and not stills, video_name=video_name,
                              mcap=mcap_out, annotated_images=stills and not args.no_video, rerun=rerun_out)
    config = PipelineConfig(outputs, weights_info=weights_info, extra_summary=extra, threads=args.threads or machine_threads(),
                            max_frames=args.max_frames, progress=not args.no_progress, resume=resume,
                            input_identity=identity, started_at=started_at, stride=args.stride,
                            start_s=args.start, end_s=args.end)
    processor = FrameProcessor(runner, pre, post, lanes=lanes, enrich=stages,
                               weights_warning="UNTRAINED WEIGHTS" if warning else None, independent_frames=stills)
    sinks = open_sinks(outputs, source.info.fps / args.stride, size_wh,
                       mcap_metadata={"input": source.info.path, "output_dir": str(out_dir)},
                       classes=(cfg.seg_classes, cfg.det_classes))
    for sink in sinks:
        if isinstance(sink, VideoOutput):
            extra["annotated_video_codec"] = sink.codec
            if sink.note:
                extra["annotated_video_note"] = sink.note
                print(f"warning: {sink.note}", file=sys.stderr)
    undo.report = report = RunReport()
    run_pipeline(source, processor, sinks, config, report=report)
    status = "interrupted after" if report.interrupted else "processed"
    if resume is not None:
        status = f"resumed at frame {report.first_frame}: {status}"
    whole = (f" (whole run: {report.total_processed}/{report.total_read} frames, {report.total_failed} failed)"
             if resume is not None else "")
    print(f"{status} {report.frames_processed}/{report.frames_read} frames ({report.frames_failed} failed){whole} "
          f"in {report.processing_s:.1f} s (start-up {report.startup_s:.1f} s), {report.fps:.1f} FPS | "
          f"{report.timer.one_line()} | results in {out_dir}/", file=sys.stderr)
    if report.frames_failed:
        print(f"warning: {report.frames_failed} of {report.frames_read} frames could not be decoded and were "
              f"skipped (listed with status 'failed' in frames.jsonl)", file=sys.stderr)
    damage = getattr(source, "damage", None)
    if damage:
        more = f" (+{len(damage) - 1} more notes in summary.json)" if len(damage) > 1 else ""
        print(f"warning: input damaged: {damage[0]}{more}", file=sys.stderr)
    skipped = getattr(lanes, "frames_skipped", 0)
    if skipped:
        print(f"warning: lanes skipped on {skipped} of {report.frames_processed} frames: their image size differs "
              f"from the first frame's {size_wh[0]}x{size_wh[1]}, which the lane camera is set up for "
              f"(summary.json lanes.frames_skipped_other_size)", file=sys.stderr)
    if not args.no_report:
        try:  # the run's other outputs are complete: a report that cannot be built is only a warning
            write_report(out_dir)
        except (Exception, KeyboardInterrupt) as e:  # noqa: BLE001
            print(f"warning: report.html not written: {clean_message(str(e) or type(e).__name__)}", file=sys.stderr)
    if report.interrupted:
        return 130
    return 0


def cli() -> None:
    exit_with(main(get_args_parser().parse_args()))


if __name__ == "__main__":
    cli()
