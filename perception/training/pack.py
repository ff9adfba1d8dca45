"""Pack a training config's data into one portable folder (``packed`` dataset kind), e.g. for a GPU machine.

    python -m perception.training.pack --config perception/training/generalise_v3_cpu.yaml --output .device/pack
        [--jpeg-quality 75] [--every cityscapes=2] [--max-mib 52]

For every ``train_data`` source (train split) and ``val_data`` source (val split) it writes
``OUTPUT/<kind>/<split>/`` (``datasets/packed.py``): frames scaled to fit the config's network input (never
enlarged), boxes from mask components already added for the config's ``mask_boxes`` kinds, coarse masks kept.
Training on the pack gives the same letterboxed pixels as training on the originals, up to JPEG re-encoding.
``--every KIND=N`` keeps every N-th frame of a training source, to fit a size budget. Exit codes: 0 done,
2 bad input or over ``--max-mib``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import cv2
import numpy as np

from datasets import Sample, open_dataset
from datasets.mask_boxes import with_mask_boxes
from datasets.packed import PACK_FORMAT, PACK_VERSION
from datasets.transforms import letterbox
from perception.cli import OneLineArgumentParser
from perception.errors import ConfigError, UserInputError
from perception.preprocess.letterbox import LetterboxParams
from perception.training.config import load_train_config
from perception.training.data import parse_data_spec


def get_args_parser() -> argparse.ArgumentParser:
    p = OneLineArgumentParser(prog="python -m perception.training.pack", description=__doc__.split("\n\n")[0])
    p.add_argument("--config", required=True, help="training YAML whose train_data and val_data are packed")
    p.add_argument("--output", required=True, help="pack folder (created; must not hold a pack already)")
    p.add_argument("--jpeg-quality", type=int, default=75)
    p.add_argument("--every", action="append", default=[], metavar="KIND=N",
                   help="keep every N-th training frame of this source (repeatable)")
    p.add_argument("--max-mib", type=float, default=0.0, help="fail when the pack is larger (0 = no limit)")
    return p


def fit_to_network(sample: Sample, input_size_wh: tuple[int, int]) -> Sample:
    """``sample`` scaled down (aspect kept) to fit ``input_size_wh``; unchanged if it already fits.

    The scaled frame is the letterboxed one without its padding, so letterboxing it again gives the very
    pixels, boxes and lanes that letterboxing the original gives.
    """
    lb = LetterboxParams.fit((sample.width, sample.height), input_size_wh)
    if lb.sx >= 1.0 and lb.sy >= 1.0:
        return sample
    boxed = letterbox(sample, input_size_wh)[0]
    x0, y0, x1, y1 = lb.valid_region_net()
    shift = np.array([x0, y0, x0, y0], np.float32)
    meta = {k: v for k, v in boxed.meta.items() if k != "letterbox"}
    if sample.meta.get("coarse_mask") is not None:
        meta["coarse_mask"] = cv2.resize(sample.meta["coarse_mask"], lb.resized_wh, interpolation=cv2.INTER_NEAREST)
    return boxed.replace(
        image_bgr=np.ascontiguousarray(boxed.image_bgr[y0:y1, x0:x1]),
        seg_mask=None if boxed.seg_mask is None else np.ascontiguousarray(boxed.seg_mask[y0:y1, x0:x1]),
        boxes_xyxy=None if boxed.boxes_xyxy is None else boxed.boxes_xyxy - shift,
        ignore_boxes_xyxy=None if boxed.ignore_boxes_xyxy is None else boxed.ignore_boxes_xyxy - shift,
        lanes=None if boxed.lanes is None else [p - shift[:2] for p in boxed.lanes], meta=meta)


def mask_boxes_at_network_scale(source: Sample, stored: Sample, input_size_wh: tuple[int, int]) -> Sample:
    """``stored`` with the boxes ``with_mask_boxes`` finds at the network scale (its thresholds are in pixels),
    mapped into ``stored``'s pixels: the boxes training on the original data would see."""
    lb = LetterboxParams.fit((source.width, source.height), input_size_wh)
    boxed = with_mask_boxes(letterbox(source, input_size_wh)[0])
    kx, ky = stored.width / source.width, stored.height / source.height

    def back(b: np.ndarray | None) -> np.ndarray | None:
        if b is None:
            return None
        b = np.asarray(b, np.float32).copy()
        b[:, 0::2] = ((b[:, 0::2] - lb.pad_left_px) / lb.sx * kx).clip(0, stored.width)
        b[:, 1::2] = ((b[:, 1::2] - lb.pad_top_px) / lb.sy * ky).clip(0, stored.height)
        return b

    return stored.replace(boxes_xyxy=back(boxed.boxes_xyxy), labels=boxed.labels,
                          ignore_boxes_xyxy=back(boxed.ignore_boxes_xyxy))


def _list(a: np.ndarray | None) -> list | None:
    return None if a is None else np.round(np.asarray(a, np.float64), 2).tolist()


def write_split(samples: list[Sample], folder: Path, kind: str, jpeg_quality: int) -> int:
    """Write one split; returns its size in bytes."""
    for sub in ("images", "masks", "coarse"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    frames, total = [], 0
    for i, s in enumerate(samples):
        rec: dict = {"kind": kind, "source": s.source, "image": f"images/{i:06d}.jpg"}
        ok, buf = cv2.imencode(".jpg", s.image_bgr, [cv2.IMWRITE_JPEG_QUALITY, jpeg_quality])
        (folder / rec["image"]).write_bytes(buf.tobytes())
        total += len(buf)
        for key, mask in (("mask", s.seg_mask), ("coarse", s.meta.get("coarse_mask"))):
            if mask is not None:
                rec[key] = f"{'masks' if key == 'mask' else 'coarse'}/{i:06d}.png"
                ok, buf = cv2.imencode(".png", mask, [cv2.IMWRITE_PNG_COMPRESSION, 9])
                (folder / rec[key]).write_bytes(buf.tobytes())
                total += len(buf)
        if s.boxes_xyxy is not None:
            rec.update(boxes_xyxy=_list(s.boxes_xyxy), labels=np.asarray(s.labels).tolist())
        if s.ignore_boxes_xyxy is not None:
            rec["ignore_boxes_xyxy"] = _list(s.ignore_boxes_xyxy)
        if s.lanes is not None:
            rec.update(lanes=[_list(p) for p in s.lanes], lane_sides=s.lane_sides)
        frames.append(rec)
    index = json.dumps({"format": PACK_FORMAT, "version": PACK_VERSION, "frames": frames}, separators=(",", ":"))
    (folder / "index.json").write_text(index)
    return total + len(index)


def _every(specs: list[str]) -> dict[str, int]:
    out = {}
    for spec in specs:
        kind, sep, n = spec.partition("=")
        if not sep or not n.isdigit() or int(n) < 1:
            raise UserInputError(f"--every needs KIND=N with N >= 1, got {spec!r}")
        out[kind] = int(n)
    return out


def main(args: argparse.Namespace) -> int:
    try:
        cfg = load_train_config(args.config)
        every = _every(args.every)
        if not 1 <= args.jpeg_quality <= 100:
            raise UserInputError(f"--jpeg-quality must be in 1..100, got {args.jpeg_quality}")
        out = Path(args.output)
        if any(out.glob("*/*/index.json")):
            raise UserInputError(f"{out} already holds a pack; choose a new --output")
        input_size_wh = cfg.model.input_size_wh
        jobs = [(spec, cfg.train_split, True) for spec in cfg.train_data]
        jobs += [(spec, cfg.val_split, False) for spec in cfg.val_data]
        total = 0
        for spec, split, is_train in jobs:
            kind, path = parse_data_spec(spec)
            try:
                reader = open_dataset(kind, path, split)
            except (ValueError, FileNotFoundError, OSError) as e:
                raise UserInputError(f"cannot open {spec} split {split!r}: {e}") from None
            step = every.get(kind, 1) if is_train else 1
            samples = []
            for i in range(0, len(reader), step):
                src = reader[i]
                stored = fit_to_network(src, input_size_wh)
                if is_train and kind in cfg.mask_boxes:
                    stored = mask_boxes_at_network_scale(src, stored, input_size_wh)
                samples.append(stored)
            size = write_split(samples, out / kind / split, kind, args.jpeg_quality)
            total += size
            print(f"  {spec} [{split}]: {len(samples)} frames, {size / 2**20:.1f} MiB", file=sys.stderr)
    except (UserInputError, ConfigError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"pack {out}: {total / 2**20:.1f} MiB", file=sys.stderr)
    if args.max_mib and total > args.max_mib * 2**20:
        print(f"error: the pack is {total / 2**20:.1f} MiB, over --max-mib {args.max_mib:g}; lower --jpeg-quality "
              "or add --every KIND=N", file=sys.stderr)
        return 2
    return 0


def cli() -> None:
    raise SystemExit(main(get_args_parser().parse_args()))


if __name__ == "__main__":
    cli()
