"""Chessboard corner detection for intrinsic calibration (OpenCV), including partly visible boards.

A board is described by its inner-corner grid ``(cols, rows)``, e.g. ``(9, 6)`` for "9x6". When the full grid
is not found, a smaller sub-grid (one row or one column fewer, then both) is tried: a board cut off by the
image edge still shows a complete, regular sub-grid, and because every view gets its own board pose in the
calibration, the object points of that sub-grid are simply a smaller regular grid of the same square size.
Detections say which grid they used so reports can show it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import cv2
import numpy as np

from calibration.errors import CalibrationError

__all__ = ["BoardDetection", "parse_pattern", "board_object_points", "partial_patterns", "detect_board"]

# findChessboardCornersSB: normalise, search exhaustively, refine corners to high accuracy (OpenCV's advice
# for calibration images).
_SB_FLAGS = cv2.CALIB_CB_NORMALIZE_IMAGE | cv2.CALIB_CB_EXHAUSTIVE | cv2.CALIB_CB_ACCURACY
_CLASSIC_FLAGS = cv2.CALIB_CB_ADAPTIVE_THRESH | cv2.CALIB_CB_NORMALIZE_IMAGE
_SUBPIX_CRITERIA = (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 50, 1e-3)


@dataclass(frozen=True)
class BoardDetection:
    """Corners of one chessboard view."""

    pattern_cols_rows: tuple[int, int]  # inner-corner grid that was found (may be smaller than asked)
    corners_px: np.ndarray  # float32[cols * rows, 2], row-major along the grid, image pixels
    detector: str  # "SB" (findChessboardCornersSB) or "classic" (findChessboardCorners + cornerSubPix)
    partial: bool  # True when a sub-grid of the requested pattern was used

    @property
    def pattern_text(self) -> str:
        cols, rows = self.pattern_cols_rows
        return f"{cols}x{rows}"


def parse_pattern(text: str) -> tuple[int, int]:
    """``"9x6"`` -> ``(9, 6)`` inner corners (cols, rows); CalibrationError for anything else."""
    match = re.fullmatch(r"\s*(\d+)\s*[xX]\s*(\d+)\s*", text or "")
    if not match:
        raise CalibrationError(f"bad pattern {text!r}: expected inner corners as COLSxROWS, e.g. 9x6")
    cols, rows = int(match.group(1)), int(match.group(2))
    if cols < 3 or rows < 3 or cols > 100 or rows > 100:
        raise CalibrationError(f"bad pattern {text!r}: need 3..100 inner corners per side")
    return cols, rows


def board_object_points(pattern_cols_rows: tuple[int, int], square_size: float = 1.0) -> np.ndarray:
    """float32[cols * rows, 3]: the inner corners on the board plane z = 0, in the order OpenCV returns them."""
    cols, rows = pattern_cols_rows
    grid = np.mgrid[0:cols, 0:rows].T.reshape(-1, 2)  # (rows * cols, 2), x fastest
    points = np.zeros((cols * rows, 3), np.float32)
    points[:, :2] = grid * square_size
    return points


def partial_patterns(pattern_cols_rows: tuple[int, int]) -> list[tuple[int, int]]:
    """Sub-grids tried when the full board is not found: one row fewer, one column fewer, then both."""
    cols, rows = pattern_cols_rows
    candidates = [(cols, rows - 1), (cols - 1, rows), (cols - 1, rows - 1)]
    return [(c, r) for c, r in candidates if c >= 3 and r >= 3 and c * r >= 12]


def _find(gray: np.ndarray, pattern: tuple[int, int]) -> tuple[np.ndarray, str] | None:
    found, corners = cv2.findChessboardCornersSB(gray, pattern, flags=_SB_FLAGS)
    if found:
        return corners.reshape(-1, 2).astype(np.float32), "SB"
    found, corners = cv2.findChessboardCorners(gray, pattern, flags=_CLASSIC_FLAGS)
    if found:
        refined = cv2.cornerSubPix(gray, corners, (11, 11), (-1, -1), _SUBPIX_CRITERIA)
        return refined.reshape(-1, 2).astype(np.float32), "classic"
    return None


def detect_board(
    gray: np.ndarray, pattern_cols_rows: tuple[int, int], allow_partial: bool = True
) -> BoardDetection | None:
    """Find the board in a grayscale uint8 image (H, W); None when neither the board nor a sub-grid is found."""
    if gray.ndim != 2 or gray.dtype != np.uint8:
        raise ValueError(f"expected a grayscale uint8 image (H, W), got {gray.dtype} {gray.shape}")
    patterns = [pattern_cols_rows] + (partial_patterns(pattern_cols_rows) if allow_partial else [])
    for pattern in patterns:
        hit = _find(gray, pattern)
        if hit is not None:
            corners, detector = hit
            return BoardDetection(pattern, corners, detector, partial=pattern != tuple(pattern_cols_rows))
    return None
