"""INT8 calibration data, without TensorRT: real images -> network-ready uint8 batches, and the cache file.

The TensorRT calibrator (``deploy.tensorrt``) only copies what ``CalibrationBatches`` yields to the
GPU and hands TensorRT the pointer; everything that decides *what* the calibrator sees lives here
and is tested on real images without a GPU.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterator

import cv2
import numpy as np

from perception.errors import UserInputError
from perception.preprocess import Preprocessor
from perception.sources.images import IMAGE_EXTENSIONS


def list_calibration_images(folder: str | Path, max_images: int | None = None) -> list[Path]:
    """Image files under ``folder`` (recursive, sorted by path); evenly thinned to ``max_images``.

    Raises UserInputError when the folder is missing or holds no images.
    """
    root = Path(folder)
    if not root.is_dir():
        raise UserInputError(f"--calib-images folder not found: {root}")
    files = sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS)
    if not files:
        raise UserInputError(f"no images ({', '.join(IMAGE_EXTENSIONS)}) under --calib-images {root}")
    if max_images is not None and len(files) > max_images:
        keep = np.linspace(0, len(files) - 1, max_images).round().astype(int)  # spread over the whole set
        files = [files[i] for i in keep]
    return files


class CalibrationBatches:
    """Iterate real images as preprocessed batches: uint8 (B, 3, H, W) RGB, exactly what the engine eats.

    Every image goes through ``Preprocessor`` (letterbox to ``input_size_wh``, BGR -> RGB), the same
    path as inference. Only full batches are produced: the last ``len(paths) % batch_size`` images
    are left out (``images_used`` says how many are used). Iteration can be repeated.
    """

    def __init__(self, image_paths: list[Path], input_size_wh: tuple[int, int], batch_size: int):
        if batch_size < 1:
            raise UserInputError(f"calibration batch size must be >= 1, got {batch_size}")
        if len(image_paths) < batch_size:
            raise UserInputError(f"INT8 calibration needs at least one full batch: {len(image_paths)} image(s) "
                                 f"for batch size {batch_size}")
        self.image_paths = list(image_paths)
        self.batch_size = int(batch_size)
        self.input_size_wh = (int(input_size_wh[0]), int(input_size_wh[1]))
        self.preprocessor = Preprocessor(self.input_size_wh)

    def __len__(self) -> int:
        """Number of full batches."""
        return len(self.image_paths) // self.batch_size

    @property
    def images_used(self) -> int:
        return len(self) * self.batch_size

    @property
    def batch_shape(self) -> tuple[int, int, int, int]:
        """(B, 3, H, W) of every batch."""
        w, h = self.input_size_wh
        return (self.batch_size, 3, h, w)

    def __iter__(self) -> Iterator[np.ndarray]:
        for b in range(len(self)):
            paths = self.image_paths[b * self.batch_size:(b + 1) * self.batch_size]
            batch = np.empty(self.batch_shape, dtype=np.uint8)  # (B, 3, H, W)
            for i, path in enumerate(paths):
                bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
                if bgr is None:
                    raise UserInputError(f"calibration image cannot be decoded: {path}")
                rgb, _ = self.preprocessor(bgr)      # (H, W, 3) uint8
                batch[i] = rgb.transpose(2, 0, 1)    # (3, H, W)
            yield batch


class CalibrationCache:
    """TensorRT's INT8 calibration cache file plus a JSON key saying which model it was made for.

    ``read()`` returns the cache bytes only when the key matches (same weights and input size);
    a cache made for another model is an error, never silently reused. ``write`` is atomic.
    """

    def __init__(self, path: str | Path, key: dict[str, Any]):
        self.path = Path(path)
        self.key = dict(key)

    @property
    def key_path(self) -> Path:
        return self.path.with_name(self.path.name + ".json")

    def read(self) -> bytes | None:
        if not self.path.is_file():
            return None
        stored = json.loads(self.key_path.read_text()) if self.key_path.is_file() else None
        if stored != self.key:
            raise UserInputError(f"calibration cache {self.path} was made for another model or input size "
                                 f"({stored} != {self.key}); delete it or pass another --calib-cache")
        data = self.path.read_bytes()
        return data or None

    def write(self, data: bytes) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        for target, payload in ((self.path, bytes(data)), (self.key_path, (json.dumps(self.key) + "\n").encode())):
            tmp = target.with_name(target.name + ".tmp")
            tmp.write_bytes(payload)
            tmp.replace(target)
