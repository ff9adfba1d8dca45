"""ByteTrack-style tracker: ids stay with their objects through motion, dropouts and weak detections."""

from __future__ import annotations

import numpy as np
import pytest

from perception.tracking import ByteTracker, TrackerConfig, iou_matrix


def test_iou_matrix_hand_values():
    a = np.array([[0, 0, 10, 10]], dtype=float)
    b = np.array([[0, 0, 10, 10], [5, 0, 15, 10], [20, 20, 30, 30]], dtype=float)
    # overlap 5x10 = 50, union 150 -> 1/3
    assert iou_matrix(a, b) == pytest.approx(np.array([[1.0, 1 / 3, 0.0]]))


def _boxes(t):
    """Two cars: one moving right 4 px/frame, one moving down-left, 60x40 px."""
    return np.array([[100 + 4 * t, 200, 160 + 4 * t, 240], [600 - 3 * t, 150 + 2 * t, 660 - 3 * t, 190 + 2 * t]],
                    dtype=float)


def test_ids_are_stable_for_moving_objects_and_survive_a_dropout():
    tracker = ByteTracker(TrackerConfig(max_lost_frames=10))
    ids_seen = []
    for t in range(40):
        boxes = _boxes(t)
        scores = np.array([0.9, 0.8])
        if 15 <= t < 20:  # the first car is missed for 5 frames
            boxes, scores = boxes[1:], scores[1:]
        tracks = tracker.update(boxes, scores, np.zeros(len(boxes), dtype=int))
        ids_seen.append({t_.detection_index if len(boxes) == 2 else t_.detection_index + 1: t_.track_id
                         for t_ in tracks})
    assert ids_seen[0] == {}  # tentative in the first frame
    assert ids_seen[1] == {0: 1, 1: 2}
    assert all(ids_seen[t].get(1) == 2 for t in range(1, 40))
    assert all(ids_seen[t].get(0) == 1 for t in list(range(1, 15)) + list(range(20, 40)))
    # predicted through the gap: the box it was matched with again is the true one
    assert tracker.tracks[0].box_xyxy == pytest.approx(_boxes(39)[0], abs=2.0)


def test_a_track_lost_too_long_gets_a_new_id():
    tracker = ByteTracker(TrackerConfig(max_lost_frames=3))
    box = np.array([[100, 100, 160, 140]], dtype=float)
    for _ in range(3):
        tracks = tracker.update(box, [0.9], [0])
    assert tracks[0].track_id == 1
    for _ in range(5):
        tracker.update(np.zeros((0, 4)), [], [])
    tracker.update(box, [0.9], [0])
    tracks = tracker.update(box, [0.9], [0])
    assert tracks[0].track_id == 2


def test_weak_detections_extend_tracks_but_never_start_them():
    tracker = ByteTracker(TrackerConfig(high_score=0.5, low_score=0.1))
    box = np.array([[100, 100, 160, 140]], dtype=float)
    for _ in range(5):  # only weak detections: no track
        assert tracker.update(box, [0.3], [0]) == []
    other = np.array([[400, 100, 460, 140]], dtype=float)
    for _ in range(3):
        tracker.update(other, [0.9], [0])
    tracks = tracker.update(other, [0.3], [0])  # the confirmed track continues through a weak frame
    assert [t.track_id for t in tracks] == [1]


def test_classes_are_never_confused():
    tracker = ByteTracker()
    box = np.array([[100, 100, 160, 140]], dtype=float)
    tracker.update(box, [0.9], [0])
    tracker.update(box, [0.9], [0])
    tracks = tracker.update(box, [0.9], [3])  # same place, other class: a new tentative track
    assert tracks == []
    assert sorted(t.class_id for t in tracker.tracks) == [0, 3]
