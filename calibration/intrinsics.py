"""Chessboard intrinsic calibration: a folder of board images -> camera file (OpenCV YAML).

    python -m calibration.intrinsics --images DIR --pattern 9x6 [--square-mm S] --output camera.yaml
                                     [--preview preview.png]

Steps: read the images; settle the image size (below); find the board in each (``findChessboardCornersSB``,
falling back to ``findChessboardCorners`` + ``cornerSubPix``, then to a sub-grid for boards cut off by the
image edge, see :mod:`calibration.chessboard`); calibrate (``cv2.calibrateCameraExtended``, model
k1 k2 p1 p2 k3); drop outlier views one at a time and re-calibrate; print a per-image table and a summary;
write the camera file and an optional before/after undistortion preview.

Image size. Intrinsics belong to one pixel grid, so the majority size is the calibration size. An image at
most ``--max-crop-px`` (default 2) pixels larger in width and height is cropped to it, keeping its top-left
pixels (coordinates unchanged); anything else is rejected with the reason. Why crop rather than resize or
reject: in the Udacity set two images are 1281x721 among 1280x720. Resizing would rescale the pixel grid by
1280/1281, but the lens did not change; the files gained a column and a row. In all 20 images the first
column differs sharply from the second (an edge artefact of the capture), and most also have such a first
row; the two odd images have both, so their first row and column are aligned with everyone else's and the
extra pixels are on the right and bottom: cropping them keeps each remaining pixel where it was. (A
one-pixel shift would anyway be absorbed by the per-view board pose: measured, their reprojection errors
change by less than 0.01 px between the crop and a one-pixel shift.)

Outliers. A view is dropped when its RMS reprojection error exceeds ``max(--min-outlier-px, median + 3 *
1.4826 * MAD)`` of all views' errors (a robust 3-sigma rule), worst view first, re-calibrating after each.
The often used ``3 x median`` rule is looser than 3 sigma when all views sit near 1 px, as they do for
boards printed on paper that is not perfectly flat.

Exit status: 0 on success; 2 with a one-line message on stderr for bad input (missing folder, no images,
bad pattern, fewer than 3 usable boards, unwritable output).
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from calibration.camera import CameraModel
from calibration.chessboard import BoardDetection, board_object_points, detect_board, parse_pattern
from calibration.errors import CalibrationError
from calibration.io import save_camera_opencv
from calibration.undistort import undistort_image

__all__ = [
    "IMAGE_SUFFIXES",
    "MIN_BOARDS",
    "ImageReport",
    "IntrinsicsResult",
    "find_images",
    "calibrate_folder",
    "format_report",
    "write_preview",
    "get_args_parser",
    "main",
]

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff")
MIN_BOARDS = 3  # fewer views cannot constrain focal length, principal point and distortion


@dataclass(frozen=True)
class ImageReport:
    """What happened to one calibration image."""

    name: str  # file name
    size_wh: tuple[int, int] | None  # as read, before any crop; None if unreadable
    used: bool  # contributed to the final calibration
    reason: str  # why rejected, or notes on a used image ("partial board 9x5", "cropped ...")
    pattern: str = ""  # inner-corner grid found, e.g. "9x6"; "" when no board
    detector: str = ""  # "SB" or "classic"; "" when no board
    error_px: float | None = None  # RMS reprojection error of this view (final calibration, or when dropped)


@dataclass(frozen=True)
class IntrinsicsResult:
    camera: CameraModel  # the calibrated camera (no mounting)
    rms_px: float  # RMS reprojection error over all corners of the used views
    images: tuple[ImageReport, ...]  # one per input image, in input order
    std_intrinsics: tuple[float, ...] = ()  # 1-sigma of fx, fy, cx, cy, k1, k2, p1, p2, k3 (OpenCV's estimate)
    preview_image: str = ""  # used image with the largest board (curved edges show best): the preview's source

    @property
    def used_count(self) -> int:
        return sum(r.used for r in self.images)


@dataclass
class _View:
    index: int  # position in the image list
    detection: BoardDetection
    notes: list[str] = field(default_factory=list)


def _natural_key(path: Path) -> list:
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", path.name)]


def find_images(folder: Path) -> list[Path]:
    """Image files in ``folder`` (not recursive), in natural order (2 before 10)."""
    if not folder.is_dir():
        raise CalibrationError(f"--images: no such folder: {folder}")
    paths = [p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES]
    if not paths:
        raise CalibrationError(f"no images ({', '.join(IMAGE_SUFFIXES)}) in {folder}")
    return sorted(paths, key=_natural_key)


def _calibrate(views: list[_View], size_wh: tuple[int, int], square: float, flags: int):
    object_points = [board_object_points(v.detection.pattern_cols_rows, square) for v in views]
    image_points = [v.detection.corners_px.reshape(-1, 1, 2) for v in views]  # each (N, 1, 2)
    criteria = (cv2.TERM_CRITERIA_COUNT + cv2.TERM_CRITERIA_EPS, 100, 1e-12)
    try:
        rms, K, dist, _, _, std_intr, _, per_view = cv2.calibrateCameraExtended(  # noqa: N806
            object_points, image_points, size_wh, None, None, flags=flags, criteria=criteria
        )
    except cv2.error as exc:  # degenerate input, e.g. every view of the board from the same pose
        message = " ".join(str(exc).split())[-160:]
        raise CalibrationError(f"OpenCV could not calibrate from {len(views)} views: {message}") from None
    return float(rms), K, dist.reshape(-1), std_intr.reshape(-1), per_view.reshape(-1)


def _outlier_limit_px(errors: np.ndarray, min_limit_px: float) -> float:
    median = float(np.median(errors))
    mad = float(np.median(np.abs(errors - median)))
    return max(min_limit_px, median + 3.0 * 1.4826 * mad)


def calibrate_folder(
    folder: Path,
    pattern_cols_rows: tuple[int, int],
    square_mm: float = 1.0,
    *,
    max_crop_px: int = 2,
    allow_partial: bool = True,
    min_outlier_px: float = 1.0,
    rational_model: bool = False,
    jobs: int = 2,
) -> IntrinsicsResult:
    """Calibrate from the chessboard images in ``folder``; CalibrationError for unusable input."""
    paths = find_images(folder)
    grays: list[np.ndarray | None] = []
    for path in paths:
        image = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
        grays.append(image)
    sizes = [(g.shape[1], g.shape[0]) if g is not None else None for g in grays]
    readable = [s for s in sizes if s is not None]
    if not readable:
        raise CalibrationError(f"none of the {len(paths)} images in {folder} could be read")
    size_wh = Counter(readable).most_common(1)[0][0]

    reports: dict[int, ImageReport] = {}
    notes: dict[int, list[str]] = {}
    to_detect: list[int] = []
    for i, (path, gray, size) in enumerate(zip(paths, grays, sizes)):
        if gray is None:
            reports[i] = ImageReport(path.name, None, False, "unreadable image")
            continue
        notes[i] = []
        if size != size_wh:
            extra_w, extra_h = size[0] - size_wh[0], size[1] - size_wh[1]
            if 0 <= extra_w <= max_crop_px and 0 <= extra_h <= max_crop_px:
                grays[i] = np.ascontiguousarray(gray[: size_wh[1], : size_wh[0]])
                notes[i].append(f"cropped {size[0]}x{size[1]} to {size_wh[0]}x{size_wh[1]} (kept top-left)")
            else:
                reason = f"size {size[0]}x{size[1]} differs from the majority {size_wh[0]}x{size_wh[1]}"
                reports[i] = ImageReport(path.name, size, False, reason)
                continue
        to_detect.append(i)

    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:  # OpenCV releases the GIL
        detections = list(pool.map(lambda i: detect_board(grays[i], pattern_cols_rows, allow_partial), to_detect))

    views: list[_View] = []
    for i, detection in zip(to_detect, detections):
        if detection is None:
            reports[i] = ImageReport(paths[i].name, sizes[i], False, "no chessboard found")
            continue
        if detection.partial:
            notes[i].append(f"partial board: {detection.pattern_text} of {pattern_cols_rows[0]}x{pattern_cols_rows[1]}")
        views.append(_View(i, detection, notes[i]))
    if len(views) < MIN_BOARDS:
        raise CalibrationError(
            f"only {len(views)} of {len(paths)} images have a usable {pattern_cols_rows[0]}x{pattern_cols_rows[1]} "
            f"board; need at least {MIN_BOARDS}"
        )

    flags = cv2.CALIB_RATIONAL_MODEL if rational_model else 0
    max_drops = len(views) // 4  # never throw away most of the evidence
    n_dropped = 0
    while True:
        rms, K, dist, std_intr, errors = _calibrate(views, size_wh, square_mm, flags)  # noqa: N806
        limit = _outlier_limit_px(errors, min_outlier_px)
        worst = int(np.argmax(errors))
        if errors[worst] <= limit or len(views) <= MIN_BOARDS or n_dropped >= max_drops:
            break
        n_dropped += 1
        view = views.pop(worst)
        det = view.detection
        reports[view.index] = ImageReport(
            paths[view.index].name,
            sizes[view.index],
            False,
            f"outlier: error {errors[worst]:.2f} px > limit {limit:.2f} px",
            det.pattern_text,
            det.detector,
            float(errors[worst]),
        )
    for view, error in zip(views, errors):
        det = view.detection
        note_text = "; ".join(view.notes)
        reports[view.index] = ImageReport(
            paths[view.index].name, sizes[view.index], True, note_text, det.pattern_text, det.detector, float(error)
        )

    camera = CameraModel(
        width_px=size_wh[0],
        height_px=size_wh[1],
        fx=float(K[0, 0]),
        fy=float(K[1, 1]),
        cx=float(K[0, 2]),
        cy=float(K[1, 2]),
        dist_coeffs=tuple(float(c) for c in dist),
        name=f"chessboard calibration: {len(views)} of {len(paths)} images in {folder.name}, RMS {rms:.3f} px",
    )
    n_std = 4 + len(dist)
    board_area_px = [float(cv2.contourArea(cv2.convexHull(v.detection.corners_px))) for v in views]
    return IntrinsicsResult(
        camera,
        rms,
        tuple(reports[i] for i in range(len(paths))),
        tuple(float(s) for s in std_intr[:n_std]),
        preview_image=paths[views[int(np.argmax(board_area_px))].index].name,
    )


def format_report(result: IntrinsicsResult) -> str:
    """The per-image table and the summary lines, as printed by the CLI."""
    rows = [("image", "size", "status", "board", "detector", "error px", "reason / notes")]
    for r in result.images:
        size = f"{r.size_wh[0]}x{r.size_wh[1]}" if r.size_wh else "-"
        error = f"{r.error_px:.3f}" if r.error_px is not None else "-"
        status = "used" if r.used else "rejected"
        rows.append((r.name, size, status, r.pattern or "-", r.detector or "-", error, r.reason))
    widths = [max(len(row[k]) for row in rows) for k in range(len(rows[0]) - 1)]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row[:-1], widths)) + "  " + row[-1] for row in rows]
    cam = result.camera
    std = result.std_intrinsics
    lines.append(
        f"used {result.used_count} of {len(result.images)} images, RMS reprojection error {result.rms_px:.3f} px"
    )
    plus_minus = (lambda k: f" +- {std[k]:.1f}") if len(std) >= 4 else (lambda k: "")
    lines.append(
        f"fx {cam.fx:.1f}{plus_minus(0)}  fy {cam.fy:.1f}{plus_minus(1)}  cx {cam.cx:.1f}{plus_minus(2)}  "
        f"cy {cam.cy:.1f}{plus_minus(3)}  dist [{', '.join(f'{c:.4f}' for c in cam.dist_coeffs)}]"
    )
    return "\n".join(lines)


def write_preview(camera: CameraModel, image_path: Path, out_path: Path, max_width_px: int = 1600) -> None:
    """Side-by-side PNG: the image as taken (left) and undistorted with the same K (right)."""
    image = cv2.imread(str(image_path), cv2.IMREAD_COLOR)
    if image is None:
        raise CalibrationError(f"{image_path}: cannot read the image for the preview")
    image = np.ascontiguousarray(image[: camera.height_px, : camera.width_px])  # the calibration crop, if any
    if image.shape[:2] != (camera.height_px, camera.width_px):
        raise CalibrationError(f"{image_path}: image smaller than the calibrated size")
    panels = [image.copy(), undistort_image(camera, image)]
    for panel, label in zip(panels, ("original", "undistorted")):
        cv2.putText(panel, label, (20, 50), cv2.FONT_HERSHEY_SIMPLEX, 1.5, (0, 0, 255), 3, cv2.LINE_AA)
    preview = np.hstack(panels)  # (H, 2W, 3)
    if preview.shape[1] > max_width_px:
        scale = max_width_px / preview.shape[1]
        preview = cv2.resize(preview, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    if not out_path.parent.is_dir() or not cv2.imwrite(str(out_path), preview):
        raise CalibrationError(f"{out_path}: cannot write the preview image")


def get_args_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m calibration.intrinsics",
        description="Calibrate camera intrinsics and distortion from chessboard images; write an OpenCV YAML file.",
    )
    parser.add_argument("--images", required=True, type=Path, help="folder with chessboard images")
    parser.add_argument("--pattern", required=True, help="inner corners COLSxROWS, e.g. 9x6")
    parser.add_argument(
        "--square-mm", type=float, default=1.0, help="square size in mm (default 1; only scales board poses, not K)"
    )
    parser.add_argument("--output", required=True, type=Path, help="camera file to write (OpenCV YAML, .xml for XML)")
    parser.add_argument("--preview", type=Path, default=None, help="write a side-by-side undistortion preview PNG")
    parser.add_argument(
        "--max-crop-px",
        type=int,
        default=2,
        help="crop images at most this much larger than the majority size (default 2; 0: reject them)",
    )
    parser.add_argument("--no-partial", action="store_true", help="do not fall back to sub-grids of cut-off boards")
    parser.add_argument(
        "--min-outlier-px",
        type=float,
        default=1.0,
        help="never call a view with a smaller error an outlier (default 1.0)",
    )
    parser.add_argument("--rational", action="store_true", help="8-coefficient rational distortion model")
    parser.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1), help="detection threads")
    return parser


def main(args: argparse.Namespace) -> int:
    try:
        pattern = parse_pattern(args.pattern)
        if not (args.square_mm > 0 and np.isfinite(args.square_mm)):
            raise CalibrationError(f"--square-mm must be > 0, got {args.square_mm}")
        if not args.output.parent.is_dir():
            raise CalibrationError(f"--output: folder {args.output.parent} does not exist")
        result = calibrate_folder(
            args.images,
            pattern,
            args.square_mm,
            max_crop_px=max(0, args.max_crop_px),
            allow_partial=not args.no_partial,
            min_outlier_px=args.min_outlier_px,
            rational_model=args.rational,
            jobs=args.jobs,
        )
        print(format_report(result))
        save_camera_opencv(
            result.camera,
            args.output,
            extra={
                "avg_reprojection_error": result.rms_px,
                "images_used": result.used_count,
                "images_total": len(result.images),
                "board_pattern": args.pattern.strip(),
            },
        )
        print(f"wrote {args.output}")
        if args.preview is not None:
            write_preview(result.camera, args.images / result.preview_image, args.preview)
            print(f"wrote {args.preview}")
    except CalibrationError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


def cli() -> None:
    """Console-script entry point."""
    raise SystemExit(main(get_args_parser().parse_args()))


if __name__ == "__main__":
    cli()
