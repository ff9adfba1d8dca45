"""ByteTrack-style multi-object tracking on image boxes.

Each frame: predict every track with its Kalman filter; match confident detections (score >= ``high_score``)
to all live tracks by IoU (Hungarian assignment, ``scipy.optimize.linear_sum_assignment``); match the
remaining low-score detections (``low_score`` <= score < ``high_score``) to the still unmatched tracks that
were seen last frame; start tentative tracks from unmatched confident detections; confirm a track after
``confirm_frames`` consecutive hits; keep an unmatched track ``max_lost_frames`` frames before dropping it.
Matching never pairs different classes. Track ids start at ``first_id`` (1; a resumed run passes the next id of
the run it continues) and are never reused within a run.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
# scipy.optimize takes ~0.5 s to import: here, so that start-up pays it rather than the first frame
from scipy.optimize import linear_sum_assignment

from perception.tracking.kalman import BoxKalman, xyah_from_xyxy


@dataclass(frozen=True)
class TrackerConfig:
    """Thresholds of the association; defaults suit 10-30 FPS driving video."""

    high_score: float = 0.45      # detections at or above start and extend tracks (first association)
    low_score: float = 0.15       # detections from here to high_score only extend existing tracks (second)
    match_iou: float = 0.2        # minimum IoU for a first-association match
    low_match_iou: float = 0.4    # minimum IoU for a second-association match
    confirm_frames: int = 2       # consecutive hits before a track is reported
    max_lost_frames: int = 15     # frames an unmatched track is kept (predicted) before it is dropped


@dataclass
class Track:
    """A tracked object. ``box_xyxy``: last filtered box in original pixels."""

    track_id: int
    class_id: int
    kalman: BoxKalman
    score: float
    hits: int = 1                 # frames with a matched detection
    age_frames: int = 1           # frames since the track started
    lost_frames: int = 0          # consecutive frames without a match
    confirmed: bool = False
    detection_index: int | None = None   # index into this frame's detections, None when not matched
    history: list = field(default_factory=list)  # per-track user data (ground positions)

    @property
    def box_xyxy(self) -> np.ndarray:
        return self.kalman.box_xyxy


def iou_matrix(a_xyxy: np.ndarray, b_xyxy: np.ndarray) -> np.ndarray:
    """IoU float[N, M] between boxes a (N, 4) and b (M, 4), xyxy."""
    if len(a_xyxy) == 0 or len(b_xyxy) == 0:
        return np.zeros((len(a_xyxy), len(b_xyxy)))
    a, b = a_xyxy[:, None, :], b_xyxy[None, :, :]
    iw = np.clip(np.minimum(a[..., 2], b[..., 2]) - np.maximum(a[..., 0], b[..., 0]), 0, None)
    ih = np.clip(np.minimum(a[..., 3], b[..., 3]) - np.maximum(a[..., 1], b[..., 1]), 0, None)
    inter = iw * ih
    area_a = (a[..., 2] - a[..., 0]) * (a[..., 3] - a[..., 1])
    area_b = (b[..., 2] - b[..., 0]) * (b[..., 3] - b[..., 1])
    return inter / np.maximum(area_a + area_b - inter, 1e-9)


def _match(tracks: list[Track], boxes: np.ndarray, classes: np.ndarray, min_iou: float) -> list[tuple[int, int]]:
    """Hungarian matching on IoU; pairs (track index, detection index) with IoU >= min_iou and equal class."""
    if not tracks or len(boxes) == 0:
        return []
    iou = iou_matrix(np.array([t.box_xyxy for t in tracks]), boxes)
    same = np.array([t.class_id for t in tracks])[:, None] == classes[None, :]  # (tracks, detections)
    iou = np.where(same, iou, 0.0)
    rows, cols = linear_sum_assignment(-iou)
    return [(r, c) for r, c in zip(rows, cols) if iou[r, c] >= min_iou]


class ByteTracker:
    """``update(boxes, scores, classes)`` once per frame; returns the confirmed tracks seen this frame.

    ``first_id``: the id of the first track (> 1 when a resumed run continues the numbering of earlier parts).
    """

    def __init__(self, config: TrackerConfig = TrackerConfig(), first_id: int = 1) -> None:
        if first_id < 1:
            raise ValueError(f"first_id must be >= 1, got {first_id}")
        self.config = config
        self.tracks: list[Track] = []
        self._next_id = first_id

    @property
    def next_id(self) -> int:
        """The id the next new track will get (ids below it may have been shown already)."""
        return self._next_id

    def update(self, boxes_xyxy: np.ndarray, scores: np.ndarray, class_ids: np.ndarray) -> list[Track]:
        """Args: boxes float[N, 4] xyxy original pixels, scores float[N], class_ids int[N] (one frame).

        Returns the confirmed tracks matched this frame, each with ``detection_index`` into the inputs.
        """
        cfg = self.config
        boxes = np.asarray(boxes_xyxy, dtype=np.float64).reshape(-1, 4)
        scores = np.asarray(scores, dtype=np.float64).reshape(-1)
        classes = np.asarray(class_ids).reshape(-1)
        for t in self.tracks:
            t.kalman.predict()
            t.detection_index = None
        high = np.flatnonzero(scores >= cfg.high_score)
        low = np.flatnonzero((scores >= cfg.low_score) & (scores < cfg.high_score))

        # First association: confident detections against every live track.
        pairs = _match(self.tracks, boxes[high], classes[high], cfg.match_iou)
        for ti, di in pairs:
            self._hit(self.tracks[ti], int(high[di]), boxes, scores)
        matched_high = {int(high[di]) for _, di in pairs}
        # Second association: weak detections against tracks seen last frame and still unmatched.
        rest = [t for t in self.tracks if t.detection_index is None and t.lost_frames == 0]
        pairs = _match(rest, boxes[low], classes[low], cfg.low_match_iou)
        for ti, di in pairs:
            self._hit(rest[ti], int(low[di]), boxes, scores)
        # Unmatched tracks age; tentative ones die at once, confirmed ones after max_lost_frames.
        kept = []
        for t in self.tracks:
            t.age_frames += 1
            if t.detection_index is None:
                t.lost_frames += 1
                if not t.confirmed or t.lost_frames > cfg.max_lost_frames:
                    continue
            kept.append(t)
        self.tracks = kept
        # New tentative tracks from unmatched confident detections.
        for di in high:
            if int(di) in matched_high:
                continue
            t = Track(self._next_id, int(classes[di]), BoxKalman(xyah_from_xyxy(boxes[di])), float(scores[di]),
                      detection_index=int(di), confirmed=cfg.confirm_frames <= 1)
            self._next_id += 1
            self.tracks.append(t)
        return [t for t in self.tracks if t.confirmed and t.detection_index is not None]

    def _hit(self, track: Track, index: int, boxes: np.ndarray, scores: np.ndarray) -> None:
        track.kalman.update(xyah_from_xyxy(boxes[index]))
        track.detection_index = index
        track.score = float(scores[index])
        track.hits += 1
        track.lost_frames = 0
        if track.hits >= self.config.confirm_frames:
            track.confirmed = True
