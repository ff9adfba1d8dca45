"""Standard metrics: detection mAP (pycocotools), semantic IoU, TuSimple/CULane lane metrics."""
