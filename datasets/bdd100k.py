"""BDD100K reader: detection boxes, lane polylines and drivable-area maps.

Layout (official, 100k images)::

    ROOT/images/100k/<split>/<name>.jpg
    ROOT/labels/det_20/det_<split>.json              detection (Scalabel json: list of frames)
    ROOT/labels/lane/polygons/lane_<split>.json      lane polylines (Scalabel json)
    ROOT/labels/drivable/masks/<split>/<stem>.png    0 = direct, 1 = alternative, 2 = background

A frame is ``{"name": "<name>.jpg", "labels": [{"category": ..., "box2d": {"x1","y1","x2","y2"}} |
{"category": ..., "poly2d": [{"vertices": [[x, y], ...], "types": "LLC..", "closed": false}]}, ...]}``.
The 2018 all-in-one files (``bdd100k_labels_images_<split>.json``: category names ``person``, ``bike``,
``motor``, lanes as category ``lane``) have the same structure and can be given as ``det_json`` and
``lane_json`` at once.

Mapping decisions (see also the dicts below):

* Riders: BDD boxes the rider and the bicycle/motorcycle separately; our ``cyclist``/``motorcyclist`` is
  the person together with the vehicle (KITTI, Apollo). With ``merge_riders=True`` (default) each rider is
  merged with the bicycle/motorcycle box it overlaps most (union box, vehicle's class); riders without a
  vehicle, and bicycles/motorcycles without a rider (parked), become ignore regions.
* Drivable maps give "road or not" only: direct and alternative -> ``road``; background -> 255 (ignore),
  because background mixes every other class. Such a mask has no negatives of its own.
* Lanes: lane-marking categories only (no crosswalks, no road curbs, no markings with
  ``laneDirection: vertical``, i.e. across the road). BDD draws both edges of a marking as separate
  polylines. No sides are assigned (``lane_sides = None``): the dataset does not define them, and the
  paired edges defeat a position-based rule.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from ._common import check_index, decode_text, map_named_boxes, read_image_bgr, read_label_png, warn_missing
from .classes import IGNORE_REGION, check_det_class_map, seg_lut_from_map
from .errors import DatasetFormatError
from .lanes import inside_image, order_bottom_to_top
from .sample import Sample

# BDD100K category -> our class (both the 2020 det_20 names and the 2018 names). Unknown -> error if strict.
BDD100K_CLASS_MAP: dict[str, str | None] = {
    "car": "car",
    "truck": "truck",
    "bus": "bus",
    "pedestrian": "pedestrian",
    "person": "pedestrian",  # 2018 name
    "bicycle": "cyclist",  # see merge_riders
    "bike": "cyclist",  # 2018 name
    "motorcycle": "motorcyclist",  # see merge_riders
    "motor": "motorcyclist",  # 2018 name
    "rider": IGNORE_REGION,  # merged into its vehicle when merge_riders=True
    "other vehicle": IGNORE_REGION,  # vehicles of unclear type: neither positive nor background
    "other person": IGNORE_REGION,
    "train": None,  # dropped: no class
    "trailer": None,  # dropped: attached to a truck, boxed separately
    "traffic light": None,  # dropped: not a detection class of ours
    "traffic sign": None,
}
check_det_class_map(BDD100K_CLASS_MAP)
_RIDER = {"rider"}
_RIDEABLE = {"bicycle", "bike", "motorcycle", "motor"}
_MIN_RIDER_OVERLAP = 0.3  # intersection / rider-box area for a rider to belong to a vehicle

# Drivable-map value -> our segmentation class.
BDD100K_DRIVABLE_MAP: dict[int, str | None] = {0: "road", 1: "road", 2: None}

# Lane categories kept as lanes (2020 names + the 2018 "lane").
BDD100K_LANE_CATEGORIES: frozenset[str] = frozenset({
    "single white", "single yellow", "single other", "double white", "double yellow", "double other", "lane",
})

_BEZIER_STEPS = 10  # points sampled per cubic Bezier segment of a poly2d


def load_bdd_frames(path: str | Path) -> dict[str, list]:
    """Read a BDD100K/Scalabel label json into ``{image name: [label dicts]}``.

    DatasetFormatError for invalid JSON (with line), a non-list top level, or a frame without a name.
    """
    path = Path(path)
    text = decode_text(path.read_bytes(), path)
    try:
        d = json.loads(text)
    except json.JSONDecodeError as e:
        raise DatasetFormatError(f"invalid JSON: {e.msg} (column {e.colno})", path, e.lineno) from None
    if isinstance(d, dict) and isinstance(d.get("frames"), list):  # Scalabel "dataset" form
        d = d["frames"]
    if not isinstance(d, list):
        raise DatasetFormatError("expected a list of frames", path)
    frames: dict[str, list] = {}
    for k, fr in enumerate(d):
        if not isinstance(fr, dict) or not isinstance(fr.get("name"), str):
            raise DatasetFormatError(f"frame {k}: expected an object with a 'name' string", path)
        labels = fr.get("labels") or []
        if not isinstance(labels, list) or not all(isinstance(x, dict) for x in labels):
            raise DatasetFormatError(f"frame {fr['name']!r}: 'labels' must be a list of objects", path)
        frames.setdefault(fr["name"], []).extend(labels)
    return frames


def _num(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def poly2d_points(poly: dict, where: str, path: Path) -> np.ndarray:
    """``float64[N, 2]`` points of one poly2d: straight segments as is, cubic Bezier ('C' control points)
    sampled with _BEZIER_STEPS points per segment."""
    verts = poly.get("vertices") if isinstance(poly, dict) else None
    if not isinstance(verts, list) or not all(isinstance(v, list) and len(v) == 2 and _num(v[0]) and _num(v[1])
                                              for v in verts):
        raise DatasetFormatError(f"{where}: poly2d 'vertices' must be a list of [x, y]", path)
    types = poly.get("types") or "L" * len(verts)
    if not isinstance(types, str) or len(types) != len(verts) or set(types) - {"L", "C"}:
        raise DatasetFormatError(f"{where}: poly2d 'types' must be one 'L'/'C' per vertex", path)
    v = np.asarray(verts, np.float64).reshape(-1, 2)
    out = [v[0]] if len(v) else []
    i = 1
    while i < len(v):
        if types[i] == "C" and i + 2 < len(v) and types[i + 1] == "C":  # C C then the end vertex
            p0, c1, c2, p3 = v[i - 1], v[i], v[i + 1], v[i + 2]
            t = np.linspace(0, 1, _BEZIER_STEPS + 1)[1:, None]  # (S, 1)
            out.extend((1 - t) ** 3 * p0 + 3 * (1 - t) ** 2 * t * c1 + 3 * (1 - t) * t ** 2 * c2 + t ** 3 * p3)
            i += 3
        else:
            out.append(v[i])
            i += 1
    return np.asarray(out, np.float64).reshape(-1, 2)


def _merge_riders(names: list[str], boxes: np.ndarray) -> tuple[list[str], np.ndarray]:
    """Union each rider box with the bicycle/motorcycle box it overlaps most; see the module docstring."""
    names = list(names)
    boxes = boxes.copy()
    riders = [i for i, n in enumerate(names) if n.lower() in _RIDER]
    vehicles = [j for j, n in enumerate(names) if n.lower() in _RIDEABLE]
    pairs = []
    for i in riders:
        r = boxes[i]
        r_area = max((r[2] - r[0]) * (r[3] - r[1]), 1e-6)
        for j in vehicles:
            b = boxes[j]
            iw = min(r[2], b[2]) - max(r[0], b[0])
            ih = min(r[3], b[3]) - max(r[1], b[1])
            if iw > 0 and ih > 0 and iw * ih / r_area >= _MIN_RIDER_OVERLAP:
                pairs.append((iw * ih / r_area, i, j))
    used_r, used_v = set(), set()
    drop = set()
    for _, i, j in sorted(pairs, reverse=True):
        if i in used_r or j in used_v:
            continue
        used_r.add(i)
        used_v.add(j)
        boxes[j] = [min(boxes[i, 0], boxes[j, 0]), min(boxes[i, 1], boxes[j, 1]),
                    max(boxes[i, 2], boxes[j, 2]), max(boxes[i, 3], boxes[j, 3])]
        drop.add(i)
    for j in vehicles:
        if j not in used_v:
            names[j] = "__parked__"  # -> ignore region
    keep = [k for k in range(len(names)) if k not in drop]
    return [names[k] for k in keep], boxes[keep].reshape(-1, 4)


class BDD100KDataset:
    """BDD100K frames as Samples: boxes (det json), lanes (lane json), road mask (drivable maps).

    Args:
        image_dir: folder holding the ``<name>.jpg`` images.
        det_json / lane_json: label files (either may be None; may be the same 2018 file).
        drivable_dir: folder of drivable-map PNGs ``<stem>.png`` (single channel, values 0/1/2).
        class_map: BDD category -> our class / IGNORE_REGION / None (default ``BDD100K_CLASS_MAP``).
        strict: an unknown box category raises DatasetFormatError (True) or is dropped (False).
        merge_riders: merge riders with their bicycle/motorcycle (see module docstring).
        lane_categories: poly2d categories that are lanes.

    Frames = every name in the given label files (or, with only ``drivable_dir``, every PNG there). A label
    type is None for a frame the corresponding file does not list. Names without an image are skipped and
    kept in ``missing_ids`` (one warning).
    """

    def __init__(self, image_dir: str | Path, *, det_json: str | Path | None = None,
                 lane_json: str | Path | None = None, drivable_dir: str | Path | None = None,
                 class_map: dict[str, str | None] = BDD100K_CLASS_MAP, strict: bool = True,
                 merge_riders: bool = True, lane_categories: frozenset[str] = BDD100K_LANE_CATEGORIES):
        check_det_class_map(class_map)
        self.image_dir = Path(image_dir)
        self.det_json = None if det_json is None else Path(det_json)
        self.lane_json = None if lane_json is None else Path(lane_json)
        self.drivable_dir = None if drivable_dir is None else Path(drivable_dir)
        self.class_map = dict(class_map)
        self.strict = strict
        self.merge_riders = merge_riders
        self.lane_categories = frozenset(lane_categories)
        self._det = load_bdd_frames(self.det_json) if self.det_json else None
        if self.lane_json is not None and self.lane_json == self.det_json:
            self._lane = self._det
        else:
            self._lane = load_bdd_frames(self.lane_json) if self.lane_json else None
        self._drivable_lut, _ = seg_lut_from_map(BDD100K_DRIVABLE_MAP)
        names: set[str] = set()
        for frames in (self._det, self._lane):
            if frames is not None:
                names.update(frames)
        if self._det is None and self._lane is None:
            if self.drivable_dir is None:
                raise ValueError("give at least one of det_json, lane_json, drivable_dir")
            names = {p.stem + ".jpg" for p in self.drivable_dir.glob("*.png")}
        ordered = sorted(names)
        self.missing_ids = [n for n in ordered if not (self.image_dir / n).is_file()]
        warn_missing("images", self.image_dir, self.missing_ids)
        self.names = [n for n in ordered if (self.image_dir / n).is_file()]

    def __len__(self) -> int:
        return len(self.names)

    def _boxes(self, name: str, w: int, h: int):
        assert self._det is not None
        names, boxes, ids = [], [], []
        for k, lab in enumerate(self._det[name]):
            box = lab.get("box2d")
            if box is None:
                continue  # poly2d items of the 2018 files
            cat = lab.get("category")
            if not isinstance(cat, str) or not isinstance(box, dict) \
                    or not all(_num(box.get(c)) for c in ("x1", "y1", "x2", "y2")):
                raise DatasetFormatError(f"frame {name!r} label {k}: needs a 'category' string and a 'box2d' "
                                         f"with numeric x1, y1, x2, y2", self.det_json)
            if box["x2"] < box["x1"] or box["y2"] < box["y1"]:
                raise DatasetFormatError(f"frame {name!r} label {k}: box2d has x2 < x1 or y2 < y1", self.det_json)
            names.append(cat)
            boxes.append([box["x1"], box["y1"], box["x2"], box["y2"]])
        arr = np.asarray(boxes, np.float64).reshape(-1, 4)
        if self.merge_riders:
            names, arr = _merge_riders(names, arr)
        mapped = map_named_boxes(names, arr, {**self.class_map, "__parked__": IGNORE_REGION}, w, h,
                                 strict=self.strict, path=self.det_json)
        attrs = {"class_name": np.asarray(names, dtype=object)[mapped.kept] if len(mapped.kept)
                 else np.zeros(0, dtype=object)}
        return mapped, attrs

    def _lanes(self, name: str, w: int, h: int) -> list[np.ndarray]:
        assert self._lane is not None
        lanes = []
        for k, lab in enumerate(self._lane[name]):
            if lab.get("category") not in self.lane_categories or not lab.get("poly2d"):
                continue
            attrs = lab.get("attributes") or {}
            if isinstance(attrs, dict) and attrs.get("laneDirection") == "vertical":
                continue
            polys = lab["poly2d"]
            if not isinstance(polys, list):
                raise DatasetFormatError(f"frame {name!r} label {k}: 'poly2d' must be a list", self.lane_json)
            for poly in polys:
                pts = poly2d_points(poly, f"frame {name!r} label {k}", self.lane_json)
                pts = order_bottom_to_top(pts)
                pts = pts[inside_image(pts, w, h)]
                if len(pts) >= 2:
                    lanes.append(np.ascontiguousarray(pts, np.float32))
        return lanes

    def __getitem__(self, i: int) -> Sample:
        name = self.names[check_index(i, len(self))]
        img_path = self.image_dir / name
        img = read_image_bgr(img_path)
        h, w = img.shape[:2]
        meta: dict = {"dataset": "bdd100k", "frame_id": name}
        boxes = labels = ignore = lanes = mask = None
        if self._det is not None and name in self._det:
            mapped, attrs = self._boxes(name, w, h)
            boxes, labels, ignore = mapped.boxes_xyxy, mapped.labels, mapped.ignore_boxes_xyxy
            meta.update(box_attrs=attrs, num_dropped_class=mapped.num_dropped_class,
                        num_dropped_degenerate=mapped.num_dropped_degenerate, unknown_classes=mapped.unknown_names)
        if self._lane is not None and name in self._lane:
            lanes = self._lanes(name, w, h)
        if self.drivable_dir is not None:
            png = self.drivable_dir / (Path(name).stem + ".png")
            if png.is_file():
                raw = read_label_png(png, (h, w))
                if raw.max(initial=0) > 2:
                    raise DatasetFormatError(f"drivable map values must be 0, 1 or 2, got max {raw.max()}", png)
                mask = self._drivable_lut[raw]
                meta["drivable_file"] = str(png)
        return Sample(image_bgr=img, boxes_xyxy=boxes, labels=labels, ignore_boxes_xyxy=ignore, seg_mask=mask,
                      lanes=lanes, source=str(img_path), meta=meta).validate()


def open_bdd100k(path: str | Path, split: str, **kwargs) -> BDD100KDataset:
    """Official layout under ``path`` (see module docstring); label files that are absent are not used."""
    path = Path(path)
    image_dir = path / "images" / "100k" / split
    det = path / "labels" / "det_20" / f"det_{split}.json"
    lane = path / "labels" / "lane" / "polygons" / f"lane_{split}.json"
    drivable = path / "labels" / "drivable" / "masks" / split
    old = path / "labels" / f"bdd100k_labels_images_{split}.json"
    if not image_dir.is_dir():
        raise FileNotFoundError(f"BDD100K image folder not found: {image_dir}")
    if not det.is_file() and old.is_file():
        det = old
    if not lane.is_file() and old.is_file():
        lane = old
    return BDD100KDataset(image_dir, det_json=det if det.is_file() else None,
                          lane_json=lane if lane.is_file() else None,
                          drivable_dir=drivable if drivable.is_dir() else None, **kwargs)


__all__ = ["BDD100K_CLASS_MAP", "BDD100K_DRIVABLE_MAP", "BDD100K_LANE_CATEGORIES", "BDD100KDataset",
           "load_bdd_frames", "open_bdd100k", "poly2d_points"]
