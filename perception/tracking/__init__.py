"""Multi-object tracking: ByteTrack-style association on image boxes, ground position and velocity per track."""

from perception.tracking.bytetrack import ByteTracker, Track, TrackerConfig, iou_matrix
from perception.tracking.stage import TrackingStage

__all__ = ["ByteTracker", "Track", "TrackerConfig", "TrackingStage", "iou_matrix"]
